"""Per-article metrics go through cached labelled children: they must still count like ``labels()``."""

from __future__ import annotations

import pytest

from streams.service.metrics import Metrics

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
