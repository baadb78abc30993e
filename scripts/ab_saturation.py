"""Experiment (not CI): variants of the bench's targets drained alternately on one private broker.

Each variant is a bench target (``wirewatch``, ``faust_passthrough``, ``raw_aiokafka``), optionally
with environment variables for its process. Every round drains each variant once, through the bench's
own ``e2e.saturation`` (same records, broker and measure), the order reversed every other round; the
figures compared are per round, within the same minute or two. On this VM one target's drains spread
by 2x within two minutes, so sequential runs of two versions say nothing about a 10% change.

    .venv/bin/python scripts/ab_saturation.py --rounds 6 \\
        faust_passthrough wirewatch:WIREWATCH_MALLOC_KEEP_BYTES=0 wirewatch

prints each drain, then per variant the median and the per-round ratio to the first variant.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """``target[:KEY=VALUE[,KEY=VALUE...]]``."""
    from streams.bench.e2e import env_assignment

    name, _, assignments = spec.partition(":")
    return name, dict(env_assignment(item) for item in assignments.split(",") if item)


def main() -> None:
    from streams.bench import e2e
    from streams.bench.corpus import CORPORA, articles, corpus_name

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--records", type=int, default=12_000)
    p.add_argument("--corpus", choices=CORPORA, default="news", help="news: the bench's (default)")
    p.add_argument("variants", nargs="+", help="target[:KEY=VALUE,...]; the first is the reference")
    args = p.parse_args()
    try:
        variants = [parse_variant(spec) for spec in args.variants]
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    records = list(articles(args.records, corpus=args.corpus))
    print(f"corpus: {corpus_name(corpus=args.corpus)}, {len(records):,} records", flush=True)
    rates: list[list[float]] = [[] for _ in variants]
    with e2e.local_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="wirewatch-ab-") as logs:
        for r in range(args.rounds):
            order = list(range(len(variants)))
            if r % 2:
                order.reverse()
            for i in order:
                name, env = variants[i]
                target = {t.name: t for t in e2e.targets(bootstrap)}[name]  # new topics and group
                target.env.update(env)
                rate = e2e.saturation(bootstrap, target, records, Path(logs))
                rates[i].append(rate)
                print(f"round {r + 1} {args.variants[i]}: {rate:,.0f} records/s", flush=True)
    for spec, got in zip(args.variants, rates, strict=True):
        ratios = [a / b for a, b in zip(got, rates[0], strict=True)]
        print(
            f"{spec}: median {statistics.median(got):,.0f}/s; per round to {args.variants[0]}: "
            + ", ".join(f"{x:.2f}" for x in ratios)
            + f" (median {statistics.median(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
