"""Instructions the in-process pipeline executes per article, counted by callgrind: deterministic.

Timing on this VM drifts by ±25% between runs minutes apart, which hides the 1-3% a typical change
is worth; an instruction count does not drift, and callgrind says where the instructions go. Only
``process_batch`` is counted: instrumentation is switched on after the imports, the classifiers'
construction and a 300-article warm-up (under valgrind those take ~1 min; counting them would take
far longer).

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python scripts/count_instructions.py 1000
    callgrind_annotate --inclusive=yes /tmp/cg.out | grep CPyDef_ | head -40

The total is the ``I refs`` line valgrind prints at exit; divide by the article count. Instructions
are not time (cache misses are not in them), so confirm a real gain with concurrent timing pairs
(docs/benchmarks.md) once the count says where to look.
"""

from __future__ import annotations

import os
import subprocess
import sys

from streams import native
from streams.bench.inprocess import warmed


def instrument(on: bool) -> None:
    """Switch callgrind's instrumentation of this process (a no-op outside valgrind)."""
    if "vgpreload" not in os.environ.get("LD_PRELOAD", ""):  # valgrind preloads its own library
        return
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    pipeline, batches = warmed(n)  # the in-process bench's set-up: warm-up, frozen heap, batches of BATCH
    print(f"{n} articles; domain core: {native.describe()}", flush=True)
    instrument(True)
    for batch in batches:
        pipeline.process_batch(batch)
    instrument(False)


if __name__ == "__main__":
    main()
