"""Experiment (not CI): time Python's cyclic collector in every process that imports this.

On a target's ``PYTHONPATH`` (``drain_cpu.py ... PYTHONPATH=scripts/gc_time``; the worker's classifier
child inherits it) each process appends, every half second, its CPU seconds so far, the seconds spent
in each generation's collections and their count to ``$GC_TIME_DIR/gc.<pid>`` (default ``/tmp``).
The drain is the window where a worker's CPU climbs; subtract the line before it from the last one.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

_spent = [0.0, 0.0, 0.0]
_runs = [0, 0, 0]
_started = [0.0]


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    generation = info["generation"]
    _spent[generation] += time.perf_counter() - _started[0]
    _runs[generation] += 1


def _report(path: str) -> None:
    with open(path, "w") as out:
        while True:
            time.sleep(0.5)
            spent = " ".join(f"{s:.3f}" for s in _spent)
            out.write(f"cpu {time.process_time():.2f} s; collector {spent} s; runs {_runs}\n")
            out.flush()


gc.callbacks.append(_timed)
_where = os.path.join(os.environ.get("GC_TIME_DIR", "/tmp"), f"gc.{os.getpid()}")
threading.Thread(target=_report, args=(_where,), daemon=True).start()
