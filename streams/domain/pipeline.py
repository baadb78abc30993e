"""One article's whole path: validate, deduplicate, classify, route.

The Faust agents, ``wirewatch replay`` and the benchmarks all drive this same object, so what is
tested and measured in-process is what runs in the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from streams.domain.alerts import Alert, Rendered, route
from streams.domain.dedup import DedupConfig, Fingerprint, StoryIndex, fingerprint, fingerprint_many
from streams.domain.ingest import DEFAULT_LIMITS, IngestLimits, Rejection, RejectReason, b64, parse_article
from streams.domain.model import Article, DedupVerdict, RegionResult, ThreatResult
from streams.domain.regions import RegionClassifier
from streams.domain.subscriptions import SubscriptionBook
from streams.domain.threats import ThreatClassifier

OutcomeKind = Literal["classified", "duplicate", "deadletter"]


def utc_iso(epoch: float) -> str:
    """RFC 3339 with milliseconds and Z, the one timestamp format Wirewatch emits."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Outcome:
    """Exactly one per input record, plus the alerts it raised."""

    kind: OutcomeKind
    data: dict[str, Any]
    key: str | None
    alerts: list[Alert] = field(default_factory=list)
    reason: RejectReason | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Classification:
    """Classification without dedup state: what ``wirewatch classify`` prints."""

    regions: RegionResult
    threats: ThreatResult


class Pipeline:
    """Stateful only through the story index's store, which the caller owns (a dict by default; the
    service's journaled, changelogged store)."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionBook,
        dedup: DedupConfig | None = None,
        store: MutableMapping[str, bytes] | None = None,
        regions: RegionClassifier | None = None,
        threats: ThreatClassifier | None = None,
        max_record_bytes: int = 1_000_000,
        limits: IngestLimits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.subscriptions = subscriptions
        self.dedup_config = dedup or DedupConfig()
        self.index = StoryIndex(self.dedup_config, store=store)
        self.regions = regions or RegionClassifier.default()
        self.threats = threats or ThreatClassifier.default()
        self.max_record_bytes = max_record_bytes
        self.limits = limits
        self.clock = clock

    def classify(self, article: Article) -> Classification:
        return Classification(self.regions.classify(article), self.threats.classify(article))

    def process(self, raw: bytes, origin: Mapping[str, Any]) -> Outcome:
        """One record's outcome: a batch of one, so both entry points share one path."""
        return self.process_batch([(raw, origin)])[0]

    def process_batch(self, records: Sequence[tuple[bytes, Mapping[str, Any]]]) -> list[Outcome]:
        """One outcome per ``(raw, origin)``, exactly as :meth:`process` would give, in order; dedup
        fingerprints are computed for the whole batch in one vectorised pass (~2x cheaper)."""
        t0 = time.perf_counter()
        parsed = [parse_article(raw, self.max_record_bytes, self.limits) for raw, _ in records]
        parse_each = (time.perf_counter() - t0) / max(len(records), 1)
        articles = [p for p in parsed if isinstance(p, Article)]
        fps: list[Fingerprint] | None = None
        fp_each = 0.0
        if articles:
            t1 = time.perf_counter()
            try:
                fps = fingerprint_many(articles, self.dedup_config)
            except Exception:  # fall back to one by one, so the culprit alone is dead-lettered
                fps = None
            fp_each = (time.perf_counter() - t1) / len(articles)
        outcomes: list[Outcome] = []
        j = 0
        for (raw, origin), item in zip(records, parsed, strict=True):
            if isinstance(item, Rejection):
                outcome = self.dead_letter(raw, origin, item)
            else:
                fp = fps[j] if fps is not None else None
                j += 1
                outcome = self.process_article(item, raw, origin, fp=fp, fp_seconds=fp_each)
            outcome.stage_seconds["parse"] = parse_each
            outcomes.append(outcome)
        return outcomes

    def process_article(
        self,
        article: Article,
        raw: bytes,
        origin: Mapping[str, Any],
        *,
        fp: Fingerprint | None = None,
        fp_seconds: float = 0.0,
    ) -> Outcome:
        """Dedup, classify and route one valid article; a stage that raises dead-letters it."""
        now = self.clock()
        stage = "dedup"
        timings: dict[str, float] = {}
        try:
            t0 = time.perf_counter()
            if fp is None:
                fp = fingerprint(article, self.dedup_config)
            verdict = self.index.offer(article, fp, now=now, delivery=delivery_token(origin))
            t1 = time.perf_counter()
            timings["dedup"] = t1 - t0 + fp_seconds
            if verdict.is_duplicate:
                doc = self._duplicate_doc(article, verdict, now)
                doc["origin"] = dict(origin)
                return Outcome("duplicate", doc, article.id, stage_seconds=timings)
            stage = "regions"
            regions = self.regions.classify(article)
            t2 = time.perf_counter()
            timings["regions"] = t2 - t1
            stage = "threats"
            threats = self.threats.classify(article)
            t3 = time.perf_counter()
            timings["threats"] = t3 - t2
            stage = "route"
            created = utc_iso(now)
            rendered = Rendered.of(regions, threats)
            alerts = route(self.subscriptions, article, verdict.story_id, regions, threats, created, rendered)
            timings["route"] = time.perf_counter() - t3
        except Exception as exc:  # poison input must not stop the stream: dead-letter it with the cause
            return self.dead_letter(
                raw,
                origin,
                Rejection("processing_error", f"{stage} failed: {type(exc).__name__}: {exc}", article.id),
            )
        doc = classified_doc(article, verdict.story_id, regions, threats, created, timings, rendered)
        doc["origin"] = dict(origin)
        return Outcome("classified", doc, article.id, alerts, stage_seconds=timings)

    def dead_letter(self, raw: bytes, origin: Mapping[str, Any], rejection: Rejection) -> Outcome:
        doc = {
            "reason": rejection.reason,
            "message": rejection.message,
            "payload_b64": b64(raw),
            "payload_size": len(raw),
            "article_id": rejection.article_id,
            "origin": dict(origin),
            "received_at": utc_iso(self.clock()),
        }
        return Outcome("deadletter", doc, rejection.article_id, reason=rejection.reason)

    @staticmethod
    def _duplicate_doc(article: Article, verdict: DedupVerdict, now: float) -> dict[str, Any]:
        return {
            "id": article.id,
            "duplicate_of": verdict.duplicate_of,
            "story_id": verdict.story_id,
            "similarity": round(verdict.similarity, 4),
            "method": verdict.method,
            "title": article.title,
            "source": article.source,
            "published_at": article.published_at,
            "detected_at": utc_iso(now),
        }


def delivery_token(origin: Mapping[str, Any]) -> str | None:
    """Identifies one copy of a record: a redelivery of it repeats its verdict, a re-send does not."""
    if "offset" in origin:
        return f"{origin.get('topic')}/{origin.get('partition')}/{origin['offset']}"
    if "line" in origin:
        return f"{origin.get('file')}:{origin['line']}"
    return None


def classified_doc(
    article: Article,
    story_id: str,
    regions: RegionResult,
    threats: ThreatResult,
    classified_at: str,
    timings: Mapping[str, float],
    rendered: Rendered | None = None,
) -> dict[str, Any]:
    r = rendered or Rendered.of(regions, threats)
    doc = article.to_dict()
    doc.update(
        story_id=story_id,
        countries=r.countries,
        primary_country=regions.primary_country,
        regions=list(regions.regions),
        threats=r.threats,
        severity=r.severity,
        taxonomy_version=threats.taxonomy_version,
        classified_at=classified_at,
        timings_ms={k: round(v * 1000, 4) for k, v in timings.items()},
    )
    return doc
