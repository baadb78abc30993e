"""Per-article metrics go through cached labelled children: they must still count like ``labels()``."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.service.metrics import STAGE_BUCKETS, Metrics, StageHistogram

pytestmark = pytest.mark.unit


def test_observe_outcome_counts_every_outcome_and_stage() -> None:
    m = Metrics.create()
    m.observe_outcome("classified", {"dedup": 1e-4, "regions": 5e-5})
    m.observe_outcome("classified", {"dedup": 3e-4, "regions": 5e-5})
    m.observe_outcome("duplicate", {"dedup": 2e-4})
    value = m.registry.get_sample_value
    assert value("wirewatch_articles_processed_total", {"outcome": "classified"}) == 2
    assert value("wirewatch_articles_processed_total", {"outcome": "duplicate"}) == 1
    assert value("wirewatch_stage_seconds_count", {"stage": "dedup"}) == 3
    assert value("wirewatch_stage_seconds_sum", {"stage": "dedup"}) == pytest.approx(6e-4)
    assert value("wirewatch_stage_seconds_count", {"stage": "regions"}) == 2


def test_rebalances_are_read_from_the_framework_at_scrape_time() -> None:
    m = Metrics.create()
    state = {"count": 0, "active": False}
    m.watch_rebalances(lambda: int(state["count"]), lambda: bool(state["active"]))
    value = m.registry.get_sample_value
    assert value("wirewatch_rebalances_total") == 0 and value("wirewatch_rebalancing") == 0
    state.update(count=3, active=True)
    assert value("wirewatch_rebalances_total") == 3 and value("wirewatch_rebalancing") == 1


def test_stage_histogram_exposes_what_a_prometheus_histogram_would() -> None:
    """Binned in bulk, the stage times read as prometheus-client's own ``Histogram`` of the same
    values (values on a bucket's bound included, ``le`` meaning <=), whether binned once or after
    every few observations; only the ``_created`` series is left out."""
    values = [*STAGE_BUCKETS, 0.0, 3e-6, 7e-5, 4e-3, 0.2, 1.5, *(b * 1.0001 for b in STAGE_BUCKETS)]
    theirs = CollectorRegistry()
    reference = Histogram("wirewatch_stage_seconds", "doc", ["stage"], buckets=STAGE_BUCKETS, registry=theirs)
    ours = CollectorRegistry()
    bulk = StageHistogram.register(ours, "wirewatch_stage_seconds", "doc", STAGE_BUCKETS)
    for i, v in enumerate(values):
        for stage in ("dedup", "threats") if i % 2 else ("dedup",):
            reference.labels(stage).observe(v)
            bulk.observe({stage: v})
        if i % 7 == 0:
            bulk.flush()

    def lines(registry: CollectorRegistry) -> list[str]:
        return sorted(
            line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
        )

    assert lines(ours) == lines(theirs)
    assert ours.get_sample_value("wirewatch_stage_seconds_count", {"stage": "threats"}) == len(values) // 2
