"""Experiment (not CI): publish-to-output latency of each target at one offered load, side by side.

Each target first drains a 2,000-record backlog (warm), then gets ``--seconds`` of fresh stories at
``--rate``, measured as ``wirewatch bench`` measures it (``streams/bench/e2e.py::latency``). What put
Wirewatch's p99 at 500/s beside the Faust passthrough's and raw aiokafka's in the same minute.

    .venv/bin/wirewatch kafka start
    .venv/bin/python scripts/latency_at.py --rate 500 --seconds 10
    .venv/bin/python scripts/latency_at.py --targets wirewatch WIREWATCH_SWITCH_INTERVAL_US=500
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from streams.bench import e2e
    from streams.bench.corpus import articles

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--targets", default="raw_aiokafka,faust_passthrough,wirewatch")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("env", nargs="*", type=e2e.env_assignment, help="KEY=VALUE for every target's environment")
    args = p.parse_args()
    n = int(args.rate * args.seconds)
    records = list(articles(2000 + n))
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    wanted = args.targets.split(",")
    for target in e2e.targets(args.bootstrap):
        if target.name not in wanted:
            continue
        target.env.update(args.env)
        values = e2e._preload(args.bootstrap, target, records[:2000])
        with e2e.running(target, logs):
            e2e._drain_rate(args.bootstrap, target, len(values), logs)
            lat = e2e.latency(args.bootstrap, target, records[2000:], args.rate, logs)
        print(
            f"{target.name:18} p50 {lat['p50_ms']:5.0f}  p95 {lat['p95_ms']:5.0f}  p99 {lat['p99_ms']:5.0f} ms"
        )


if __name__ == "__main__":
    main()
