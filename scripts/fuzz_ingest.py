"""Fuzz the ingest path at scale, outside CI: no crash, one outcome per record, a reason per dead letter,
memory flat.

Two engines over ``Pipeline.process_batch`` (what the service calls):

* ``atheris`` (coverage-guided, libFuzzer; ``pip install atheris``): arbitrary bytes, mutated toward
  new code paths in ``streams.domain``, seeded with the repo's sample records.
* ``hypothesis``: the structured generators of ``tests/unit/test_fuzz_ingest.py`` (random bytes,
  truncated JSON, deep nesting, huge strings, wrong types, control characters, mixed encodings),
  as many records as asked.

Prints the record count and RSS before and after (after a warm-up, so lazy imports do not count).

    .venv/bin/python scripts/fuzz_ingest.py --engine hypothesis --records 100000
    .venv/bin/python scripts/fuzz_ingest.py --engine atheris --runs 200000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

#: The one valid input known to make a stage raise (dedup refuses ids with a newline).
KNOWN_POISON = "dedup failed: ValueError: article ids must not contain newlines"
REASONS = {"too_large", "not_utf8", "invalid_json", "not_object", "schema_violation"}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def is_article(raw: bytes) -> bool:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and all(isinstance(doc.get(k), str) for k in ("id", "title", "body"))


class Checker:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.records = 0
        self.kinds: dict[str, int] = {}

    def check(self, batch: list[bytes]) -> None:
        records = [
            (raw, {"topic": "fuzz", "partition": 0, "offset": self.records + i})
            for i, raw in enumerate(batch)
        ]
        outcomes = self.pipeline.process_batch(records)
        if len(outcomes) != len(batch):
            raise AssertionError(f"{len(batch)} records, {len(outcomes)} outcomes")
        for raw, outcome in zip(batch, outcomes, strict=True):
            orjson.dumps(outcome.data)  # the service must be able to write every outcome
            self.kinds[outcome.kind] = self.kinds.get(outcome.kind, 0) + 1
            if outcome.kind == "deadletter":
                if outcome.reason == "processing_error" and outcome.data["message"] == KNOWN_POISON:
                    continue
                if outcome.reason not in REASONS or not outcome.data["message"]:
                    raise AssertionError(
                        f"dead letter without a known reason: {outcome.data} for {raw[:200]!r}"
                    )
            elif not is_article(raw):
                raise AssertionError(f"{outcome.kind} for a record that is no article: {raw[:200]!r}")
        self.records += len(batch)


def make_pipeline() -> Any:
    """Low limits (cheap size cases) and a 2-minute dedup window on a clock that advances one second
    per article: the valid articles the fuzzer makes expire as in a long-running worker, so RSS
    shows leaks rather than the dedup window filling up."""
    import itertools

    from streams.domain.dedup import DedupConfig
    from streams.domain.ingest import IngestLimits
    from streams.domain.pipeline import Pipeline
    from streams.domain.subscriptions import load_subscriptions

    ticks = itertools.count(1_700_000_000.0, 1.0)
    return Pipeline(
        subscriptions=load_subscriptions(),
        dedup=DedupConfig(
            window_seconds=120.0, bucket_seconds=60.0, word_window_seconds=120.0, max_gap_seconds=120.0
        ),
        max_record_bytes=20_000,
        limits=IngestLimits(max_title_chars=300, max_body_chars=8_000, max_depth=16),
        clock=lambda: next(ticks),
    )


def report(checker: Checker, rss_before: float, started: float) -> None:
    took = time.perf_counter() - started
    print(
        f"{checker.records} records in {took:.0f} s ({checker.records / max(took, 1e-9):.0f}/s), "
        f"outcomes {checker.kinds}; RSS {rss_before:.1f} MB before, {rss_mb():.1f} MB after",
        flush=True,
    )


def run_hypothesis(records: int, pool: int = 10_000) -> None:
    """Generate ``pool`` distinct malformed records with hypothesis, then push ``records`` through the
    pipeline cycling over them: hypothesis' own bookkeeping grows with every drawn character (~1 GB per
    100k records here), so RSS is measured around the pipeline alone."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_fuzz_ingest import malformed

    checker = Checker(make_pipeline())
    generated: list[bytes] = []
    batch = 100

    @settings(
        max_examples=pool // batch, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(st.lists(malformed, min_size=batch, max_size=batch))
    def generate(records: list[bytes]) -> None:
        checker.check(records)  # checked as generated, too
        generated.extend(records)

    generate()
    print(
        f"generated {len(generated)} records ({len(set(generated))} distinct), RSS {rss_mb():.1f} MB",
        flush=True,
    )
    checker.check(generated[:batch])  # warm-up
    rss_before, started = rss_mb(), time.perf_counter()
    done = 0
    while done < records:
        start = done % len(generated)
        checker.check(generated[start : start + batch])
        done += batch
    report(checker, rss_before, started)


def run_atheris(runs: int) -> None:
    import atheris

    with atheris.instrument_imports(include=["streams"]):
        checker = Checker(make_pipeline())
    corpus = ROOT / ".cache" / "fuzz-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, line in enumerate((ROOT / "tests" / "data" / "replay_sample.jsonl").read_bytes().splitlines()):
        (corpus / f"seed-{i}").write_bytes(line)
    checker.check([b"{}", b'{"id": "w", "title": "t", "body": "b"}'])
    rss_before, started = rss_mb(), time.perf_counter()
    every = max(1, runs // 10)

    def one(data: bytes) -> None:
        checker.check([data])
        # libFuzzer ends the process itself (no atexit): report as we go, and at the last run.
        if checker.records % every == 0 or checker.records - 2 >= runs:
            report(checker, rss_before, started)

    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=4096", str(corpus)], one)
    atheris.Fuzz()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    p.add_argument("--records", type=int, default=100_000, help="hypothesis: records to generate")
    p.add_argument("--runs", type=int, default=200_000, help="atheris: inputs to run")
    args = p.parse_args()
    if args.engine == "atheris":
        run_atheris(args.runs)
    else:
        run_hypothesis(args.records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
