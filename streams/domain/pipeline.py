"""One article's whole path: validate, deduplicate, classify, route.

The Faust agents, ``wirewatch replay`` and the benchmarks all drive this same object, so what is
tested and measured in-process is what runs in the service.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from streams.domain.alerts import Alert, route
from streams.domain.dedup import DedupConfig, Fingerprint, StoryIndex, fingerprint, fingerprint_many
from streams.domain.ingest import DEFAULT_LIMITS, IngestLimits, Rejection, RejectReason, b64, parse_article
from streams.domain.labels import Labeler, Labelled, Labels, RegionsClassifier, ThreatsClassifier
from streams.domain.model import Article, DedupVerdict, RegionResult, ThreatResult, round4
from streams.domain.regions import RegionClassifier
from streams.domain.subscriptions import SubscriptionBook
from streams.domain.threats import ThreatClassifier

OutcomeKind = Literal["classified", "duplicate", "deadletter"]


def utc_iso(epoch: float) -> str:
    """RFC 3339 with milliseconds and Z, the one timestamp format Wirewatch emits.

    Exactly ``datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")`` (microseconds
    rounded half to even, then cut to milliseconds), with the date and time of day formatted once a
    second: every article and duplicate carries one, and the datetime form took ~5 us of ~330.
    """
    if epoch < 0:  # modf and floor differ before 1970; nothing emits such times, keep it exact anyway
        return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    second = int(epoch)
    micros = round((epoch - second) * 1e6)
    if micros == 1_000_000:
        second, micros = second + 1, 0
    return f"{_utc_second(second)}.{_MILLIS[micros // 1000]}Z"


#: "000" to "999": a format spec (``:03d``) is parsed on every call, ~4k instructions a timestamp.
_MILLIS: Final = tuple(f"{ms:03d}" for ms in range(1000))


@functools.lru_cache(maxsize=64)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


@dataclass(slots=True, init=False)
class Outcome:
    """Exactly one per input record, plus the alerts it raised. ``data`` is the document to emit; a
    classified one holds its labels as ``orjson.Fragment``s, so it is serialized with orjson."""

    kind: OutcomeKind
    data: dict[str, Any]
    key: str | None
    alerts: list[Alert] = field(default_factory=list)
    reason: RejectReason | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        kind: OutcomeKind,
        data: dict[str, Any],
        key: str | None,
        alerts: list[Alert] | None = None,
        reason: RejectReason | None = None,
        stage_seconds: dict[str, float] | None = None,
    ) -> None:
        self.kind = kind
        self.data = data
        self.key = key
        self.alerts = [] if alerts is None else alerts
        self.reason = reason
        self.stage_seconds = {} if stage_seconds is None else stage_seconds


@dataclass(slots=True, init=False)
class Classification:
    """Classification without dedup state: what ``wirewatch classify`` prints."""

    regions: RegionResult
    threats: ThreatResult

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, regions: RegionResult, threats: ThreatResult) -> None:
        self.regions = regions
        self.threats = threats


@dataclass(slots=True, init=False)
class _Pending:
    """An article between the stages of a batch, with what the stages so far found."""

    index: int  # position in the batch
    article: Article
    raw: bytes
    origin: Mapping[str, Any]
    now: float
    timings: dict[str, float]
    verdict: DedupVerdict | None = None
    labels: Labels | None = None
    created: str = ""
    alerts: list[Alert] = field(default_factory=list)

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        index: int,
        article: Article,
        raw: bytes,
        origin: Mapping[str, Any],
        now: float,
        timings: dict[str, float],
        verdict: DedupVerdict | None = None,
        labels: Labels | None = None,
        created: str = "",
        alerts: list[Alert] | None = None,
    ) -> None:
        self.index = index
        self.article = article
        self.raw = raw
        self.origin = origin
        self.now = now
        self.timings = timings
        self.verdict = verdict
        self.labels = labels
        self.created = created
        self.alerts = [] if alerts is None else alerts


@dataclass(slots=True, init=False)
class Batch:
    """A batch between :meth:`Pipeline.begin` and :meth:`Pipeline.finish`: the outcomes decided so
    far (dead letters, duplicates) and the new articles still to be labelled, in input order."""

    outcomes: list[Outcome | None]
    pending: list[_Pending]
    parse_seconds: float  # per record

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, outcomes: list[Outcome | None], pending: list[_Pending], parse_seconds: float) -> None:
        self.outcomes = outcomes
        self.pending = pending
        self.parse_seconds = parse_seconds

    @property
    def to_label(self) -> list[Article]:
        return [p.article for p in self.pending]


class Pipeline:
    """Stateful only through the story index's store, which the caller owns (a dict by default; the
    service's journaled, changelogged store)."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionBook,
        dedup: DedupConfig | None = None,
        store: MutableMapping[str, bytes] | None = None,
        regions: RegionsClassifier | None = None,
        threats: ThreatsClassifier | None = None,
        max_record_bytes: int = 1_000_000,
        limits: IngestLimits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
        max_payload_bytes: int | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.dedup_config = dedup or DedupConfig()
        self.index = StoryIndex(self.dedup_config, store=store)
        self.labeler = Labeler(regions or RegionClassifier.default(), threats or ThreatClassifier.default())
        self.max_record_bytes = max_record_bytes
        #: A dead letter keeps at most this many bytes of its record (None: all); the service sets
        #: it so that the dead letter fits in one Kafka record. ``origin`` says where the rest is.
        self.max_payload_bytes = max_payload_bytes
        self.limits = limits
        self.clock = clock

    def classify(self, article: Article) -> Classification:
        return Classification(self.labeler.regions.classify(article), self.labeler.threats.classify(article))

    def process(self, raw: bytes, origin: Mapping[str, Any]) -> Outcome:
        """One record's outcome: a batch of one, so both entry points share one path."""
        return self.process_batch([(raw, origin)])[0]

    def process_batch(self, records: Sequence[tuple[bytes, Mapping[str, Any]]]) -> list[Outcome]:
        """One outcome per ``(raw, origin)``, exactly as :meth:`process` would give, in order."""
        batch = self.begin(records)
        return self.finish(batch, self.labeler.label_many(batch.to_label))

    def begin(self, records: Sequence[tuple[bytes, Mapping[str, Any]]]) -> Batch:
        """Parse and deduplicate a batch; its new articles are then labelled, here by
        :attr:`labeler` or by the caller elsewhere (the service's classifier process), and
        :meth:`finish` routes them.

        Stage by stage over the batch rather than article by article: fingerprints in one compiled
        pass, then every dedup offer in input order, so verdicts do not depend on batching. A stage
        that raises dead-letters that article alone.
        """
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
        outcomes: list[Outcome | None] = [None] * len(records)
        pending: list[_Pending] = []
        j = 0
        for i, ((raw, origin), item) in enumerate(zip(records, parsed, strict=True)):
            if isinstance(item, Rejection):
                outcomes[i] = self.dead_letter(raw, origin, item)
                continue
            p = _Pending(i, item, raw, origin, self.clock(), {"dedup": fp_each})
            outcomes[i] = self._dedup(p, fps[j] if fps is not None else None)
            j += 1
            if outcomes[i] is None:
                pending.append(p)
        return Batch(outcomes, pending, parse_each)

    def finish(self, batch: Batch, labelled: Sequence[Labelled]) -> list[Outcome]:
        """Route the batch's labelled articles; returns every outcome of the batch, in input order.
        ``labelled[i]`` is the labelling of ``batch.to_label[i]``."""
        outcomes = batch.outcomes
        for p, done in zip(batch.pending, labelled, strict=True):
            p.timings.update(done.seconds)
            if done.labels is None:
                rejection = Rejection("processing_error", done.failed or "labelling failed", p.article.id)
                outcomes[p.index] = self.dead_letter(p.raw, p.origin, rejection)
                continue
            p.labels = done.labels
            t0 = time.perf_counter()
            try:
                self._route(p)
            except Exception as exc:  # poison input must not stop the stream: dead-letter it with the cause
                outcomes[p.index] = self._failed(p, "route", exc)
                continue
            p.timings["route"] = time.perf_counter() - t0
            outcomes[p.index] = self._classified(p)
        done_outcomes: list[Outcome] = []
        for outcome in outcomes:
            assert outcome is not None  # every stage leaves an outcome or passes the article on
            outcome.stage_seconds["parse"] = batch.parse_seconds
            done_outcomes.append(outcome)
        return done_outcomes

    def _dedup(self, p: _Pending, fp: Fingerprint | None) -> Outcome | None:
        """The article's outcome when it is a duplicate or its dedup fails; None when it is new."""
        t0 = time.perf_counter()
        try:
            if fp is None:
                fp = fingerprint(p.article, self.dedup_config)
            p.verdict = self.index.offer(p.article, fp, now=p.now, delivery=delivery_token(p.origin))
        except Exception as exc:
            return self._failed(p, "dedup", exc)
        p.timings["dedup"] += time.perf_counter() - t0
        if not p.verdict.is_duplicate:
            return None
        doc = self._duplicate_doc(p.article, p.verdict, p.now)
        doc["origin"] = dict(p.origin)
        return Outcome("duplicate", doc, p.article.id, stage_seconds=p.timings)

    def _route(self, p: _Pending) -> None:
        assert p.verdict is not None and p.labels is not None
        p.created = utc_iso(p.now)
        p.alerts = route(self.subscriptions, p.article, p.verdict.story_id, p.labels, p.created)

    @staticmethod
    def _classified(p: _Pending) -> Outcome:
        assert p.verdict is not None and p.labels is not None
        doc = classified_doc(p.article, p.verdict.story_id, p.labels, p.created, p.timings)
        doc["origin"] = dict(p.origin)
        return Outcome("classified", doc, p.article.id, p.alerts, stage_seconds=p.timings)

    def _failed(self, p: _Pending, stage: str, exc: Exception) -> Outcome:
        message = f"{stage} failed: {type(exc).__name__}: {exc}"
        return self.dead_letter(p.raw, p.origin, Rejection("processing_error", message, p.article.id))

    def dead_letter(self, raw: bytes, origin: Mapping[str, Any], rejection: Rejection) -> Outcome:
        limit = self.max_payload_bytes
        kept = raw if limit is None or len(raw) <= limit else raw[: max(0, limit)]
        doc: dict[str, Any] = {
            "reason": rejection.reason,
            "message": rejection.message,
            "payload_b64": b64(kept),
            "payload_size": len(raw),
            "article_id": rejection.article_id,
            "origin": dict(origin),
            "received_at": utc_iso(self.clock()),
        }
        if len(kept) < len(raw):
            doc["payload_truncated"] = True
        return Outcome("deadletter", doc, rejection.article_id, reason=rejection.reason)

    @staticmethod
    def _duplicate_doc(article: Article, verdict: DedupVerdict, now: float) -> dict[str, Any]:
        return {
            "id": article.id,
            "duplicate_of": verdict.duplicate_of,
            "story_id": verdict.story_id,
            "similarity": round4(verdict.similarity),
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
    labels: Labels,
    classified_at: str,
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The classified document; its labels are ``orjson.Fragment``s (serialize it with orjson)."""
    doc = article.to_dict()
    doc["story_id"] = story_id
    doc["countries"] = orjson.Fragment(labels.countries)
    doc["primary_country"] = labels.primary_country
    doc["regions"] = labels.regions
    doc["threats"] = orjson.Fragment(labels.threats)
    doc["severity"] = orjson.Fragment(labels.severity)
    doc["taxonomy_version"] = labels.taxonomy_version
    doc["classified_at"] = classified_at
    doc["timings_ms"] = {k: round4(v * 1000) for k, v in timings.items()}
    return doc
