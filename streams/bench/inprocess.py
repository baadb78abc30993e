"""In-process pipeline benchmarks: throughput on one core and peak memory over long runs."""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.bench.corpus import articles
from streams.domain.pipeline import Pipeline
from streams.domain.subscriptions import load_subscriptions
from streams.service.worker import collect_less, freeze_startup_heap
from streams.settings import Settings

#: Event time advances this much per article in the memory run (about 1,000 articles an hour, a busy
#: wire), so the default 48 h dedup window holds ~50k articles and state must stop growing after that.
SECONDS_PER_ARTICLE = 3.5
#: Articles per ``process_batch`` call, as the service batches a busy stream.
BATCH = 256


@dataclass
class Throughput:
    articles: int
    seconds: float
    outcomes: Counter[str]
    stage_us: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.articles / self.seconds if self.seconds else 0.0


Records = list[tuple[bytes, dict[str, Any]]]


def as_the_worker() -> None:
    """The worker's collector set-up: the startup heap frozen, collections as rare as it has them."""
    freeze_startup_heap()
    collect_less(Settings.from_env().gc_threshold)


def warmed(n: int, warmup: int = 300) -> tuple[Pipeline, list[Records]]:
    """A pipeline that has processed ``warmup`` corpus records, with the worker's collector set-up,
    and the next ``n`` records in batches of ``BATCH``."""
    records = list(articles(n + warmup))
    pipeline = Pipeline(subscriptions=load_subscriptions())
    as_the_worker()
    pipeline.process_batch(
        [(raw, {"topic": "warmup", "partition": 0, "offset": i}) for i, raw in enumerate(records[:warmup])]
    )
    batches = [
        [(raw, {"topic": "bench", "partition": 0, "offset": start + i}) for i, raw in enumerate(chunk)]
        for start in range(warmup, len(records), BATCH)
        for chunk in [records[start : start + BATCH]]
    ]
    return pipeline, batches


def throughput(n: int, warmup: int = 300) -> Throughput:
    """CPU time of ``Pipeline.process_batch`` over ``n`` corpus articles (classifiers warm first),
    with the worker's collector set-up.

    Keep ``n`` within one pass over the real-news source (~4,500 records): past it the corpus makes
    new stories by rewriting words, which is right for memory runs but not for timing classifiers.
    """
    pipeline, batches = warmed(n, warmup)
    outcomes: Counter[str] = Counter()
    stages: defaultdict[str, float] = defaultdict(float)
    elapsed = 0.0
    for batch in batches:
        t0 = time.process_time()
        done = pipeline.process_batch(batch)
        elapsed += time.process_time() - t0
        # The harness's tally stays off the clock; freeing the outcomes stays on it (the service
        # frees them too, once produced).
        for outcome in done:
            outcomes[outcome.kind] += 1
            for stage, seconds in outcome.stage_seconds.items():
                stages[stage] += seconds
        t0 = time.process_time()
        del done
        elapsed += time.process_time() - t0
    return Throughput(n, elapsed, outcomes, {k: v / n * 1e6 for k, v in stages.items()})


def peak_rss_after(n: int) -> dict[str, float]:
    """Run ``n`` articles with an advancing event-time clock; report peak RSS and live dedup state."""
    now = [1_700_000_000.0]

    def clock() -> float:  # called once per article: event time advances with the stream
        now[0] += SECONDS_PER_ARTICLE
        return now[0]

    pipeline = Pipeline(subscriptions=load_subscriptions(), clock=clock)
    as_the_worker()
    batch: list[tuple[bytes, dict[str, Any]]] = []
    peak = 0.0
    for i, raw in enumerate(articles(n)):
        batch.append((raw, {"topic": "bench", "partition": 0, "offset": i}))
        if len(batch) == BATCH:
            pipeline.process_batch(batch)
            batch = []
        if i % 2_000 == 0:
            peak = max(peak, current_rss_mb())
    pipeline.process_batch(batch)
    final = current_rss_mb()
    return {
        "articles": n,
        "rss_mb": final,
        "peak_rss_mb": max(peak, final),
        "dedup_entries": pipeline.index.size,
        "store_keys": len(pipeline.index.store),
    }


def current_rss_mb() -> float:
    """Resident set size now, sampled: ``ru_maxrss`` is inherited across fork+exec on Linux, so a
    child of a large parent reports the parent's peak (measured: 1,095 MB for a 251 MB process)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


if __name__ == "__main__":  # `python -m streams.bench.inprocess N`: one memory run in a fresh process
    sys.stdout.write(orjson.dumps(peak_rss_after(int(sys.argv[1]))).decode() + "\n")
