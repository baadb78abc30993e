"""The Faust service: thin wiring from the ``articles`` topic through the domain pipeline to outputs.

Read top to bottom: app and topics, the dedup table, the processing agent (one batch at a time),
the subscription feed, then the web views. All decisions are made by :class:`Pipeline`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import mode
import orjson
from faust.events import Event
from faust.streams import _current_event as current_event
from faust.types import TP, Message
from prometheus_client import CollectorRegistry, generate_latest

from streams import native
from streams.domain.dedup import DedupConfig
from streams.domain.ingest import IngestLimits, Rejection, parse_timestamp
from streams.domain.labels import Labelled
from streams.domain.pipeline import Batch, Outcome, Pipeline
from streams.domain.subscriptions import Subscription, SubscriptionError, load_subscriptions
from streams.domain.threats import ThreatClassifier
from streams.service.connection import RECORD_OVERHEAD, faust_credentials, record_fits, subscriptions_consumer
from streams.service.inbox import Inbox
from streams.service.labelling import Labelling
from streams.service.metrics import Metrics
from streams.service.outputs import OutputWriter, Record
from streams.service.state import JournaledStore
from streams.service.transport import app_class
from streams.settings import Settings

log = logging.getLogger("wirewatch")
#: Articles per chunk: one dedup journal entry (~3-6 KB of state an article, split where it would pass
#: the record limit), one classifier trip, one producer batch per output partition. Backlog drains,
#: alternated (docs/benchmarks.md): 128 against 64 +17% (medians of 12), 256 against 128 +9% (of 8),
#: mostly fewer trips and produce requests. 256 is ``WIREWATCH_BATCH_SIZE``'s default too: a full
#: batch is one chunk.
JOURNAL_CHUNK = 256
#: Room a dead letter needs beside its payload (reason, message, origin, times).
DEADLETTER_ROOM = 16 * 1024
#: Fetched records the consumer may queue ahead of the agent before its fetch loop waits.
INBOX_RECORDS = 4096
#: aiohttp wants the charset apart from the content type; Prometheus text format 0.0.4 is UTF-8.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"


@dataclass
class SubscriptionFeed:
    """Applies the compacted subscriptions topic over the file-loaded subscriptions.

    Read by a group-less consumer from the beginning so every worker sees every change, tombstones
    included (a Faust table would hide a tombstone for a subscription that came from the file).
    """

    base: dict[str, Subscription]
    overlay: dict[str, Subscription | None] = field(default_factory=dict)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    errors: int = 0

    def apply(self, key: bytes | None, value: bytes | None, topic_prefix: str) -> str:
        if key is None:
            self.errors += 1
            return "ignored a subscription record without a key"
        sub_id = key.decode("utf-8", "replace")
        if value is None:
            self.overlay[sub_id] = None
            return f"subscription {sub_id} removed"
        try:
            doc = orjson.loads(value)
            sub = Subscription.from_dict(doc, topic_prefix=topic_prefix)
        except (orjson.JSONDecodeError, SubscriptionError) as exc:
            self.errors += 1
            return f"ignored invalid subscription {sub_id!r}: {exc}"
        if sub.id != sub_id:
            self.errors += 1
            return f"ignored subscription whose key {sub_id!r} differs from its id {sub.id!r}"
        self.overlay[sub_id] = sub
        return f"subscription {sub_id} set (topic {sub.topic})"

    def effective(self) -> dict[str, Subscription]:
        subs = dict(self.base)
        for sub_id, sub in self.overlay.items():
            if sub is None:
                subs.pop(sub_id, None)
            else:
                subs[sub_id] = sub
        return subs


@dataclass
class _Chunk:
    """A chunk of one partition's records between :meth:`WirewatchService.begin_chunk` and
    :meth:`WirewatchService.finish_chunk`."""

    messages: list[Message]
    records: list[tuple[bytes, dict[str, Any]]]
    batch: Batch
    labelled: asyncio.Future[list[Labelled]]


class WirewatchService:
    """Owns the Faust app, the pipeline and the metrics of one worker."""

    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics.create(registry)
        # One directory per app id: Faust names a table's RocksDB file by the table alone, so two apps
        # sharing WIREWATCH_DATA_DIR read each other's changelog offsets and the second one crashed at
        # start (ConsistencyError). Faust's own default, "{name}-data", separates them too; it creates
        # only the last directory of the path.
        datadir = Path(settings.data_dir).absolute() / settings.app_id
        datadir.parent.mkdir(parents=True, exist_ok=True)
        self.app = app_class(settings.fetch_max_wait_ms, settings.consumer_thread)(
            settings.app_id,
            broker=[f"kafka://{s}" for s in settings.bootstrap_servers],
            broker_credentials=faust_credentials(settings),
            store=settings.store,
            datadir=str(datadir),
            processing_guarantee=settings.processing_guarantee,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication,
            topic_allow_declare=True,
            web_bind=settings.web_host,
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_in_thread=False,
            autodiscover=False,
            # Keys and values stay bytes end to end: orjson (de)serialises once, in the pipeline, and a
            # malformed key can never make Faust's decoder crash the agent.
            key_serializer="raw",
            value_serializer="raw",
            producer_linger_ms=1,
            # A batch is what the broker checks against a topic's max.message.bytes, so no bigger.
            producer_max_batch_size=min(settings.producer_batch_bytes, settings.max_message_bytes),
            producer_max_request_size=settings.max_message_bytes,
            producer_compression_type=settings.compression_type,
            stream_wait_empty=False,
        )
        self.articles = self.app.topic(settings.topic_articles, partitions=settings.partitions)
        #: Outcome kind -> topic (created with the others before the app starts: ``topics.py``).
        self.output_names = {
            "classified": settings.topic_classified,
            "duplicate": settings.topic_duplicates,
            "deadletter": settings.topic_deadletter,
            "alerts": settings.topic_alerts,
        }
        self.alert_topics: set[str] = set()
        self.writer = OutputWriter(self.app, settings.processing_guarantee == "exactly_once")
        # bytes key and value types select the raw codec: orjson/struct encoding is the domain's business.
        self.dedup_table = self.app.Table(
            "dedup", partitions=settings.partitions, key_type=bytes, value_type=bytes
        )
        book = load_subscriptions(
            settings.subscriptions_file or None, topic_prefix=settings.alert_topic_prefix
        )
        self.feed = SubscriptionFeed(base={s.id: s for s in book})
        dedup = DedupConfig(window_seconds=settings.dedup_window_seconds, threshold=settings.dedup_threshold)
        # Journal entries outlive the window by two state buckets, so replay never misses a live key.
        self.dedup_state = JournaledStore(
            self.dedup_table,
            retention_seconds=dedup.window_seconds + 2 * dedup.bucket_seconds + 60,
            max_entry_bytes=settings.max_message_bytes - RECORD_OVERHEAD - 1024,  # 1 KB: the entry's key
        )
        #: Consumer generation the in-memory index was rebuilt for (None: not yet).
        self.index_generation: int | None = None
        self.pipeline = Pipeline(
            subscriptions=book,
            dedup=dedup,
            store=self.dedup_state,
            threats=threat_classifier(settings),
            max_record_bytes=settings.max_record_bytes,
            limits=IngestLimits(settings.max_title_chars, settings.max_body_chars, settings.max_json_depth),
            max_payload_bytes=(settings.max_message_bytes - RECORD_OVERHEAD - DEADLETTER_ROOM) * 3 // 4,
        )
        self.metrics.subscriptions.set(len(book))
        self.labelling = Labelling(
            self.pipeline.labeler,
            settings.classifier_processes,
            settings.taxonomy_file,
            keep_freed_bytes=settings.malloc_keep_bytes,
            nice=settings.classifier_nice,
            gc_threshold=settings.gc_threshold,
        )
        self.labelling_started = asyncio.Event()
        #: The chunk being labelled while the agent begins the next (see :meth:`process`).
        self.in_flight: _Chunk | None = None
        #: What the consumer fetched, waiting for the agent; the fetch loop waits once it is full.
        self.inbox = Inbox(INBOX_RECORDS)
        self.app.batch_sinks[settings.topic_articles] = self.deliver
        # A crashed agent must stop the worker: Faust would otherwise keep acking input nobody reads.
        self.app.agent(
            self.articles,
            name="wirewatch-process",
            concurrency=1,
            supervisor_strategy=mode.CrashingSupervisor,
        )(self.process)
        self.app.task(self.follow_subscriptions)
        self.app.on_before_shutdown.connect(cast(Any, self.stop_labelling))
        self.app.timer(5.0)(self.update_gauges)
        app = self.app
        self.metrics.watch_rebalances(lambda: app.rebalancing_count, lambda: bool(app.rebalancing))
        # Faust types page handlers as unbound View methods; bound methods work the same at run time.
        self.app.page("/metrics")(cast(Any, self.metrics_view))
        self.app.page("/health")(cast(Any, self.health_view))
        self.app.page("/ready")(cast(Any, self.ready_view))

    # --- processing -------------------------------------------------------------------------------
    async def deliver(self, tp: TP, messages: list[Message]) -> None:
        """The consumer's batch sink for ``articles`` (see ``streams/service/transport.py``).

        The bounded inbox is the back-pressure: while the agent is behind, the fetch loop waits here."""
        await self.inbox.put(messages)

    async def process(self, stream: Any) -> None:
        """The agent: owns the ``articles`` subscription (assignment, table co-partitioning, acks), and
        processes what the consumer delivered, one fetched partition batch at a time.

        Faust's stream of the topic stays empty: the consumer hands its records to :meth:`deliver`
        instead of to one Event each. A batch is what was fetched, so an idle stream adds no wait and
        a backlog arrives in batches of hundreds. concurrency=1 on purpose: faust-streaming #606,
        commits can skip in-flight messages with more.

        Two chunks are in flight: while the classifier process labels one, this thread deduplicates
        the next and then sends the first one's outputs. When nothing more is queued the last chunk
        is finished at once, so an idle stream holds nothing back."""
        # The classifier processes first (seconds: each loads the gazetteer and the taxonomy); a
        # child that cannot start crashes the agent, and so the worker.
        await self.labelling.start()
        self.labelling_started.set()
        log.info(
            "classifiers ready (%d processes); domain core %s",
            self.settings.classifier_processes,
            native.describe(),
        )
        self.in_flight = None
        try:
            while True:
                if self.in_flight is not None and self.inbox.empty():
                    await self.finish_in_flight()
                    continue
                messages = await self.inbox.get()
                for start in range(0, len(messages), self.settings.batch_size):
                    await self.process_batch(messages[start : start + self.settings.batch_size])
        finally:
            if self.in_flight is not None:
                self.in_flight.labelled.cancel()

    def _current(self, message: Message) -> bool:
        """False for a record fetched before a rebalance: it is neither sent nor acked, and its
        partition is read again by this worker or the next owner. Not through Faust's seek to the
        committed offsets (aiokafka's leaves a partition with nothing committed where it is), but
        because every new assignment starts each partition afresh, at its committed offset or at the
        start: ``test_a_rebalance_reads_again_what_was_fetched_and_not_committed`` pins that. A record
        fetched in the new generation while the flow is still stopped never reaches the agent (the
        fetch loop in ``transport.py`` reads it again itself)."""
        return self.app.flow_control.is_active() and message.generation_id == self.app.consumer_generation_id

    async def finish_in_flight(self) -> None:
        begun, self.in_flight = self.in_flight, None
        if begun is None:
            return
        if self._current(begun.messages[0]):
            await self.finish_chunk(begun)
        else:  # begun before a rebalance: its journal entry only repeats its verdicts on redelivery
            begun.labelled.cancel()

    async def process_batch(self, messages: list[Message]) -> None:
        if not self._current(messages[0]):
            return
        generation = self.app.consumer_generation_id
        if self.index_generation != generation:
            # A rebalance may have brought a partition whose journal is in the table (recovered:
            # a current batch comes only once recovery is over) but not in the index. Keyed on the
            # batch's generation, not on Faust's assignment signal, which can come after recovery
            # has already let the first batch of the new generation through.
            replayed = 0
            for _ in self.dedup_state.replay():
                replayed += 1
                await asyncio.sleep(0)  # one journal entry at a time: heartbeats and scrapes go on
            log.info("dedup state rebuilt from %d journal entries (%d keys)", replayed, len(self.dedup_state))
            self.index_generation = generation
        self.metrics.batch_size.observe(len(messages))
        self.metrics.articles_received.inc(len(messages))
        for start in range(0, len(messages), JOURNAL_CHUNK):
            chunk = messages[start : start + JOURNAL_CHUNK]
            if not self._current(chunk[0]):
                return
            begun = self.begin_chunk(chunk)
            await self.finish_in_flight()
            self.in_flight = begun
            await asyncio.sleep(0)  # CPU-bound work: let heartbeats and fetches run
        tp = messages[-1].tp
        highwater = self.app.consumer.highwater(tp) or 0
        self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
            max(0, highwater - messages[-1].offset - 1)
        )

    def begin_chunk(self, chunk: list[Message]) -> _Chunk:
        """Parse and deduplicate a chunk, journal its dedup state, and start labelling its new articles."""
        records = [(self._value(m), self._origin(m)) for m in chunk]
        batch = self.pipeline.begin(records)
        # The table writes the journal entry to the changelog partition of the current event, and a
        # batch holds one partition's records.
        last = chunk[-1]
        event = Event(self.app, last.key, last.value, last.headers, last)
        current_event.set(weakref.ref(event))
        self.dedup_state.commit(self.pipeline.clock(), last.partition)
        labelled = asyncio.ensure_future(self.labelling.label_many(batch.to_label))
        return _Chunk(chunk, records, batch, labelled)

    async def finish_chunk(self, begun: _Chunk) -> None:
        """Route the chunk's labelled articles and send every outcome; each input is acked once its
        outputs are with the producer, so the offset commit that follows (Faust flushes the producer
        first) never covers an input whose outputs are lost."""
        outcomes = self.pipeline.finish(begun.batch, await begun.labelled)
        per_input = [
            await self.records_of(outcome, message.timestamp, raw)
            for message, outcome, (raw, _) in zip(begun.messages, outcomes, begun.records, strict=True)
        ]
        self.metrics.stage_seconds.flush()
        last = begun.messages[-1]
        await self.writer.write(
            per_input, begun.messages, self.app.consumer.ack, self._transactional_id(last)
        )

    @staticmethod
    def _value(message: Any) -> bytes:
        return message.value if isinstance(message.value, bytes) else b""

    @staticmethod
    def _origin(message: Any) -> dict[str, Any]:
        return {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key_b64": base64.b64encode(message.key).decode() if message.key else None,
        }

    def _transactional_id(self, message: Any) -> str | None:
        """Exactly once: the transaction Faust commits this input partition's offsets in. Faust's own
        ``topic.send`` picks the transaction by the *output* partition and, for topics the worker does
        not consume, sends outside any transaction (faust-streaming 0.15), so outputs and offsets
        would not commit together."""
        if self.settings.processing_guarantee != "exactly_once":
            return None
        group = self.app.assignor.group_for_topic(message.topic)
        return f"{self.app.conf.id}-{group}-{message.partition}"

    async def records_of(self, outcome: Outcome, record_timestamp: float | None, raw: bytes) -> list[Record]:
        """The output records of one outcome, counted in the metrics. An outcome that cannot be
        encoded, or not written in records of ``WIREWATCH_MAX_MESSAGE_BYTES``, is poison too, and
        becomes a dead letter."""
        m = self.metrics
        try:
            value = orjson.dumps(outcome.data)
        except TypeError as exc:  # orjson.JSONEncodeError
            why = f"encode failed: {type(exc).__name__}: {exc}"
            outcome = self._dead_letter(raw, outcome, Rejection("processing_error", why, outcome.key))
            value = orjson.dumps(outcome.data)
        key = outcome.key.encode() if outcome.key else None
        alerts = [orjson.dumps(alert.document) for alert in outcome.alerts]
        largest = max(len(value), *map(len, alerts)) if alerts else len(value)
        if not record_fits(self.settings, key, largest):
            # The producer would refuse it and the worker stop, on the same record after each restart.
            why = (
                f"its {outcome.kind} output is {largest} bytes, over the {self.settings.max_message_bytes}"
                "-byte record limit (WIREWATCH_MAX_MESSAGE_BYTES)"
            )
            outcome = self._dead_letter(raw, outcome, Rejection("too_large", why, outcome.key))
            value, alerts = orjson.dumps(outcome.data), []
            key = outcome.key.encode() if outcome.key else None
            if not record_fits(self.settings, key, len(value)):
                # Only the input's Kafka key, which origin carries, is left unbounded.
                data = outcome.data
                data["message"] += "; neither the payload nor the input key fit, see origin"
                data["payload_b64"], data["payload_truncated"] = "", True
                data["origin"] = {**data["origin"], "key_b64": None}
                value = orjson.dumps(data)
        records: list[Record] = [(self.output_names[outcome.kind], key, value)]
        m.observe_outcome(outcome.kind, outcome.stage_seconds)
        if outcome.kind == "deadletter":
            m.deadletters.labels(outcome.reason or "unknown").inc()
        elif outcome.kind == "duplicate":
            m.duplicates.labels(outcome.data["method"]).inc()
        if not outcome.alerts:
            return records
        every_alert = self.output_names["alerts"]
        for alert, value in zip(outcome.alerts, alerts, strict=True):
            topic = await self.alert_topic(alert.topic)
            records += [(every_alert, key, value), (topic, key, value)]
            m.alerts.labels(alert.subscription.id, alert.level).inc()
        started = parse_timestamp(outcome.data.get("ingested_at")) or record_timestamp
        if started:
            m.end_to_end_seconds.observe(max(0.0, time.time() - started))
        return records

    def _dead_letter(self, raw: bytes, outcome: Outcome, rejection: Rejection) -> Outcome:
        """An outcome that cannot be written becomes a dead letter of its record (payload cut to fit:
        the pipeline's ``max_payload_bytes``). Its story stays in the dedup index, so a later copy is
        still a duplicate of it."""
        return self.pipeline.dead_letter(raw, outcome.data.get("origin", {}), rejection)

    async def alert_topic(self, name: str) -> str:
        """A subscription's topic, created on first use."""
        if name not in self.alert_topics:
            await self.app.topic(name, partitions=self.settings.partitions).maybe_declare()
            self.alert_topics.add(name)
        return name

    async def stop_labelling(self, sender: Any, **kwargs: Any) -> None:
        self.labelling.close()

    # --- run-time subscriptions --------------------------------------------------------------------
    async def follow_subscriptions(self) -> None:
        settings = self.settings
        consumer = subscriptions_consumer(settings)
        await consumer.start()
        try:
            end: dict[Any, int] | None = None
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        log.info("%s", self.feed.apply(record.key, record.value, settings.alert_topic_prefix))
                if batch:
                    self.apply_subscriptions()
                if self.feed.caught_up.is_set():
                    continue
                tps = consumer.assignment()
                if not tps:
                    continue
                if end is None:
                    end = await consumer.end_offsets(list(tps))
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= end.get(tp, 0) for tp in tps):
                    self.apply_subscriptions()
                    self.feed.caught_up.set()
                    log.info("subscriptions loaded: %s", ", ".join(sorted(self.feed.effective())))
        finally:
            await consumer.stop()

    def apply_subscriptions(self) -> None:
        book = self.pipeline.subscriptions
        wanted = self.feed.effective()
        for sub_id in [s.id for s in book if s.id not in wanted]:
            book.remove(sub_id)
        for sub in wanted.values():
            book.put(sub)
        self.metrics.subscriptions.set(len(book))

    async def update_gauges(self) -> None:
        self.metrics.dedup_state_entries.set(self.pipeline.index.size)

    # --- web ---------------------------------------------------------------------------------------
    def readiness(self) -> dict[str, bool]:
        """Each condition of readiness, so a failing probe says which one is missing."""
        return {
            "tables_recovered": bool(cast(Any, self.app.tables).recovery.completed.is_set()),
            "not_rebalancing": not self.app.rebalancing,
            "subscriptions_loaded": self.feed.caught_up.is_set(),
            "classifiers_started": self.labelling_started.is_set(),
        }

    # Faust binds function views to its View class; bound methods receive only the request.
    async def metrics_view(self, request: Any) -> Any:
        return self.app.web.bytes(
            generate_latest(self.metrics.registry), content_type=PROMETHEUS_CONTENT_TYPE
        )

    async def health_view(self, request: Any) -> Any:
        return self.app.web.json({"status": "ok", "app": self.settings.app_id})

    async def ready_view(self, request: Any) -> Any:
        checks = self.readiness()
        ready = all(checks.values())
        return self.app.web.json({"ready": ready, **checks}, status=200 if ready else 503)


def threat_classifier(settings: Settings) -> ThreatClassifier:
    """The taxonomy of ``WIREWATCH_TAXONOMY_FILE`` (a ConfigMap in Kubernetes), else the shipped one:
    a taxonomy upgrade is a file change and a restart, not a new image."""
    classifier = ThreatClassifier.configured(settings.taxonomy_file or None)
    if settings.taxonomy_file:
        log.info("threat taxonomy %s from %s", classifier.taxonomy.version, settings.taxonomy_file)
    return classifier


def create_service(settings: Settings | None = None, **kwargs: Any) -> WirewatchService:
    return WirewatchService(settings or Settings.from_env(), **kwargs)
