"""What exactly once costs: end-to-end saturation throughput at_least_once vs exactly_once.

Same harness as ``wirewatch bench`` e2e (streams/bench/e2e.py): a private full-JIT broker, the same
pre-loaded records, throughput from the output records' broker timestamps. Exactly-once outputs are
read ``read_committed`` (what a consumer of the guarantee would do), so they count once committed.

    .venv/bin/python scripts/bench_guarantees.py --records 4000 --rounds 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.bench import e2e  # noqa: E402
from streams.bench.corpus import articles  # noqa: E402


def worker(bootstrap: str, guarantee: str) -> e2e.Target:
    """The bench's Wirewatch target under ``guarantee``, its outputs read ``read_committed`` for both
    guarantees (identical for at-least-once outputs)."""
    target = e2e.targets(bootstrap)[-1]
    env = {**target.env, "WIREWATCH_PROCESSING_GUARANTEE": guarantee}
    return replace(target, env=env, read_committed=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=2, help="alternating runs per guarantee")
    p.add_argument("--latency-rate", type=float, default=50.0, help="offered load of the latency runs")
    p.add_argument("--latency-seconds", type=float, default=20.0)
    args = p.parse_args()
    records = list(articles(args.records))
    results: dict[str, list[float]] = {"at_least_once": [], "exactly_once": []}
    with e2e.local_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="wirewatch-guarantees-") as logs:
        for _ in range(args.rounds):
            for guarantee in results:
                target = worker(bootstrap, guarantee)
                rate = e2e.saturation(bootstrap, target, records, Path(logs))
                results[guarantee].append(round(rate, 1))
                print(f"{guarantee}: {rate:.1f} articles/s", flush=True)
        # Latency runs time records when a read_committed consumer receives them: exactly-once outputs
        # become visible only when their transaction commits, which broker timestamps do not show.
        for guarantee in results:
            target = replace(worker(bootstrap, guarantee), reader_time=True)
            # As the bench does: a warm worker (it drains a short backlog first), then other stories.
            warm, fresh = records[:500], records[500:]
            runs: list[dict[str, float]] = []
            e2e._drain_then_latency(
                bootstrap, target, warm, [args.latency_rate], args.latency_seconds, fresh, Path(logs), runs
            )
            print(f"{guarantee}: visible latency at {args.latency_rate:.0f}/s: {runs[0]}", flush=True)
    alo, eos = max(results["at_least_once"]), max(results["exactly_once"])
    print(
        f"best of {args.rounds}: at_least_once {alo}/s, exactly_once {eos}/s, cost {100 * (1 - eos / alo):.0f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
