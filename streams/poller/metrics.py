"""Poller metrics (``wirewatch_poller_`` prefix) on an injectable registry, like the worker's."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class PollerMetrics:
    registry: CollectorRegistry
    fetches: Counter
    items_published: Counter
    items_skipped: Counter
    errors: Counter
    last_success: Gauge
    fetch_seconds: Histogram
    seen_entries: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> PollerMetrics:
        reg = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=reg,
            fetches=Counter(
                "wirewatch_poller_fetches",
                "Feed fetches by HTTP status (200, 304, 500…) or timeout/error.",
                ["feed", "status"],
                registry=reg,
            ),
            items_published=Counter(
                "wirewatch_poller_items_published",
                "New feed items published to the articles topic.",
                ["feed"],
                registry=reg,
            ),
            items_skipped=Counter(
                "wirewatch_poller_items_skipped",
                "New feed items not published, by reason (too_large: over WIREWATCH_MAX_MESSAGE_BYTES "
                "as a record).",
                ["feed", "reason"],
                registry=reg,
            ),
            errors=Counter(
                "wirewatch_poller_errors",
                "Failed polls by reason (timeout, unreachable, http_error, too_large, malformed, "
                "not_a_feed, publish_failed).",
                ["feed", "reason"],
                registry=reg,
            ),
            last_success=Gauge(
                "wirewatch_poller_last_success_timestamp_seconds",
                "When the feed last answered with a usable document or a 304.",
                ["feed"],
                registry=reg,
            ),
            fetch_seconds=Histogram(
                "wirewatch_poller_fetch_seconds",
                "Time of one feed fetch, response body included.",
                ["feed"],
                buckets=FETCH_BUCKETS,
                registry=reg,
            ),
            seen_entries=Gauge(
                "wirewatch_poller_seen_entries", "Items remembered in the poller's seen-state.", registry=reg
            ),
        )
