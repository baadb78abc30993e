"""Every knob of the service, read once from ``WIREWATCH_*`` environment variables.

Each field names its variable and documents itself; the README's configuration table is checked
against this list by ``tests/unit/test_settings.py`` so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

ProcessingGuarantee = Literal["at_least_once", "exactly_once"]
#: Kafka's codecs; aiokafka reads the last three through ``cramjam`` (the ``aiokafka[lz4,snappy,zstd]``
#: extras), without which a compressed input batch crashed the worker.
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


def _env(name: str, default: Any, doc: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": name, "doc": doc, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    """Service configuration; ``Settings.from_env()`` is the only constructor the service uses."""

    # --- Kafka connection
    broker: str = _env(
        "WIREWATCH_BROKER",
        "kafka://127.0.0.1:9092",
        "Kafka bootstrap servers, comma-separated, `kafka://` prefix optional.",
    )
    security_protocol: str = _env(
        "WIREWATCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: str = _env(
        "WIREWATCH_KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL protocol)."
    )
    sasl_username: str = _env("WIREWATCH_KAFKA_SASL_USERNAME", "", "SASL user name.")
    sasl_password: str = _env(
        "WIREWATCH_KAFKA_SASL_PASSWORD", "", "SASL password (never logged).", secret=True
    )
    ssl_cafile: str = _env("WIREWATCH_KAFKA_SSL_CAFILE", "", "CA bundle to verify the broker (TLS).")
    ssl_certfile: str = _env("WIREWATCH_KAFKA_SSL_CERTFILE", "", "Client certificate (mutual TLS).")
    ssl_keyfile: str = _env("WIREWATCH_KAFKA_SSL_KEYFILE", "", "Client private key (mutual TLS).")

    # --- Faust application
    app_id: str = _env(
        "WIREWATCH_APP_ID", "wirewatch", "Faust app id: consumer group and prefix of changelog topics."
    )
    store: str = _env(
        "WIREWATCH_STORE",
        "rocksdb://",
        "Table store: `rocksdb://` (durable, default) or `memory://` (tests).",
    )
    data_dir: str = _env(
        "WIREWATCH_DATA_DIR",
        "./data",
        "Worker state directory (RocksDB tables), one subdirectory per app id.",
    )
    processing_guarantee: str = _env(
        "WIREWATCH_PROCESSING_GUARANTEE",
        "at_least_once",
        "`at_least_once` or `exactly_once` (Kafka transactions).",
    )
    batch_size: int = _env(
        "WIREWATCH_BATCH_SIZE",
        256,
        "Max articles per batch; a batch is what is queued, so idle streams add no wait.",
    )
    fetch_max_wait_ms: int = _env(
        "WIREWATCH_FETCH_MAX_WAIT_MS",
        50,
        "Longest the broker holds a fetch for new input (Faust's fixed 1500 ms starved the worker).",
    )
    producer_batch_bytes: int = _env(
        "WIREWATCH_PRODUCER_BATCH_BYTES",
        1_000_000,
        "Largest producer batch per partition (aiokafka's 16 KB held ~4 articles, then the worker waited).",
    )
    producer_compression: str = _env(
        "WIREWATCH_PRODUCER_COMPRESSION",
        "none",
        "Compression of what the service and its producers write: `none`, `gzip`, `snappy`, `lz4` or "
        "`zstd`. Input is read in any of them, whatever this says.",
    )
    classifier_processes: int = _env(
        "WIREWATCH_CLASSIFIER_PROCESSES",
        1,
        "Child processes that classify (regions, threats) beside the worker; 0: in the worker itself.",
    )
    classifier_nice: int = _env(
        "WIREWATCH_CLASSIFIER_NICE",
        10,
        "Niceness added to the classifier processes (0-19): when the cores are contended the worker's "
        "thread, which every article waits on, runs first. Backlog drains: median +6% over 38 "
        "alternated rounds (docs/benchmarks.md).",
    )
    consumer_thread: bool = _env(
        "WIREWATCH_CONSUMER_THREAD",
        False,
        "Run the Kafka consumer in its own thread, as Faust does; off (default), in the worker's event "
        "loop: p50 at 500 articles/s halved (docs/benchmarks.md).",
    )
    switch_interval_us: int = _env(
        "WIREWATCH_SWITCH_INTERVAL_US",
        5000,
        "GIL switch interval, for `WIREWATCH_CONSUMER_THREAD=1` (no other thread competes for the GIL).",
    )
    malloc_keep_bytes: int = _env(
        "WIREWATCH_MALLOC_KEEP_BYTES",
        67_108_864,
        "Freed memory a worker process keeps for reuse (glibc's trim threshold; allocations under 32 MiB "
        "then come from the heap). glibc returned it and faulted it in again: ~3 page faults an article. "
        "0: glibc's defaults.",
    )
    gc_threshold: int = _env(
        "WIREWATCH_GC_THRESHOLD",
        100_000,
        "Net container allocations between runs of Python's cyclic garbage collector in a worker "
        "process (its youngest generation's threshold; CPython's is 700). At 700 it walked each "
        "chunk's live objects again and again: ~6% of a draining worker's CPU. 0: CPython's default.",
    )
    log_level: str = _env("WIREWATCH_LOG_LEVEL", "info", "Worker log level.")

    # --- Topics
    topic_articles: str = _env("WIREWATCH_TOPIC_ARTICLES", "articles", "Input topic (key: article id).")
    topic_classified: str = _env("WIREWATCH_TOPIC_CLASSIFIED", "articles.classified", "Classified articles.")
    topic_duplicates: str = _env(
        "WIREWATCH_TOPIC_DUPLICATES", "articles.duplicates", "Articles recognised as duplicates."
    )
    topic_deadletter: str = _env(
        "WIREWATCH_TOPIC_DEADLETTER",
        "articles.deadletter",
        "Records that could not be processed, with the reason.",
    )
    topic_alerts: str = _env("WIREWATCH_TOPIC_ALERTS", "alerts", "Every alert.")
    topic_subscriptions: str = _env(
        "WIREWATCH_TOPIC_SUBSCRIPTIONS",
        "alerts.subscriptions",
        "Compacted topic of run-time subscription changes.",
    )
    alert_topic_prefix: str = _env(
        "WIREWATCH_ALERT_TOPIC_PREFIX", "alerts.", "Prefix of per-subscription topics (`alerts.<id>`)."
    )
    partitions: int = _env("WIREWATCH_PARTITIONS", 1, "Partitions of the topics the service creates.")
    replication: int = _env("WIREWATCH_REPLICATION", 1, "Replication factor of the topics it creates.")

    # --- Domain
    subscriptions_file: str = _env(
        "WIREWATCH_SUBSCRIPTIONS_FILE", "", "Subscriptions YAML loaded at start (empty: the shipped default)."
    )
    taxonomy_file: str = _env(
        "WIREWATCH_TAXONOMY_FILE",
        "",
        "Threat taxonomy YAML loaded at start (empty: the shipped default).",
    )
    max_record_bytes: int = _env(
        "WIREWATCH_MAX_RECORD_BYTES", 1_000_000, "Records larger than this are dead-lettered as `too_large`."
    )
    max_message_bytes: int = _env(
        "WIREWATCH_MAX_MESSAGE_BYTES",
        1_000_000,
        "Largest record Wirewatch writes (every producer's request limit; keep it within the topics' "
        "`max.message.bytes`). A larger output is dead-lettered as `too_large`, a dead letter's payload "
        "is cut to fit, the dedup journal is split into entries under it, and producer batches are no "
        "larger; the poller skips a feed item over it, `wirewatch publish` refuses a file with one. "
        "At least 65536.",
    )
    max_title_chars: int = _env(
        "WIREWATCH_MAX_TITLE_CHARS", 2_000, "Longer titles are dead-lettered as `schema_violation`."
    )
    max_body_chars: int = _env(
        "WIREWATCH_MAX_BODY_CHARS", 500_000, "Longer bodies are dead-lettered as `schema_violation`."
    )
    max_json_depth: int = _env(
        "WIREWATCH_MAX_JSON_DEPTH",
        64,
        "Records nested deeper are dead-lettered (orjson cannot write past 254 levels).",
    )
    dedup_window_seconds: float = _env(
        "WIREWATCH_DEDUP_WINDOW_SECONDS", 172_800.0, "How long a story is remembered for dedup (state TTL)."
    )
    dedup_threshold: float = _env(
        "WIREWATCH_DEDUP_THRESHOLD",
        0.25,
        "Estimated Jaccard (word 3-shingles) at or above which two articles are one story.",
    )

    # --- Web / metrics
    web_host: str = _env(
        "WIREWATCH_WEB_HOST",
        "127.0.0.1",
        "Bind address of /metrics, /health, /ready (`0.0.0.0` in containers).",
    )
    web_port: int = _env("WIREWATCH_WEB_PORT", 6066, "Port of /metrics, /health, /ready.")

    # --- Feed poller (`wirewatch poll`)
    feeds_file: str = _env(
        "WIREWATCH_FEEDS_FILE", "", "Feeds YAML of `wirewatch poll` when `--feeds` is not given."
    )
    poll_state_dir: str = _env(
        "WIREWATCH_POLL_STATE_DIR",
        "./data/poller",
        "Poller state (items seen, ETag / Last-Modified per feed), kept across restarts.",
    )
    poll_timeout_seconds: float = _env(
        "WIREWATCH_POLL_TIMEOUT_SECONDS", 20.0, "Whole-request timeout of one feed fetch."
    )
    poll_max_bytes: int = _env(
        "WIREWATCH_POLL_MAX_BYTES", 5_000_000, "Feed bodies larger than this are dropped as `too_large`."
    )
    poll_jitter: float = _env(
        "WIREWATCH_POLL_JITTER", 0.1, "Random spread of each poll delay, as a fraction of it (0 to 1)."
    )
    poll_max_backoff_seconds: float = _env(
        "WIREWATCH_POLL_MAX_BACKOFF_SECONDS",
        3600.0,
        "Upper bound of the doubling delay after consecutive failures of a feed.",
    )
    poll_seen_ttl_seconds: float = _env(
        "WIREWATCH_POLL_SEEN_TTL_SECONDS",
        2_592_000.0,
        "An item is forgotten this long after it was last in its feed (bounds the state).",
    )
    poll_seen_max_per_feed: int = _env(
        "WIREWATCH_POLL_SEEN_MAX_PER_FEED", 5000, "At most this many remembered items per feed (newest kept)."
    )
    poll_web_port: int = _env(
        "WIREWATCH_POLL_WEB_PORT",
        6067,
        "Port of the poller's /metrics and /health (host: WIREWATCH_WEB_HOST).",
    )
    poll_user_agent: str = _env(
        "WIREWATCH_POLL_USER_AGENT", "wirewatch-poller/0.1", "User-Agent header of feed requests."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if name in env:
                values[f.name] = _coerce(name, env[name], type(f.default))
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(
                f"WIREWATCH_KAFKA_SECURITY_PROTOCOL: unknown protocol {self.security_protocol!r}"
            )
        if self.security_protocol.startswith("SASL") and self.sasl_mechanism not in (
            "PLAIN",
            "SCRAM-SHA-256",
            "SCRAM-SHA-512",
        ):
            raise ValueError(f"WIREWATCH_KAFKA_SASL_MECHANISM: unsupported {self.sasl_mechanism!r}")
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(f"WIREWATCH_PROCESSING_GUARANTEE: unknown {self.processing_guarantee!r}")
        if self.producer_compression not in COMPRESSIONS:
            raise ValueError(
                f"WIREWATCH_PRODUCER_COMPRESSION: unknown {self.producer_compression!r}, "
                f"expected one of {', '.join(COMPRESSIONS)}"
            )
        if self.classifier_processes < 0:
            raise ValueError("classifier_processes must be >= 0")
        if not 0 <= self.classifier_nice <= 19:  # what setpriority takes on Linux
            raise ValueError("WIREWATCH_CLASSIFIER_NICE must be between 0 and 19")
        if not 0.0 <= self.poll_jitter <= 1.0:
            raise ValueError("WIREWATCH_POLL_JITTER must be between 0 and 1")
        if self.poll_timeout_seconds <= 0:
            raise ValueError("WIREWATCH_POLL_TIMEOUT_SECONDS must be > 0")
        if not 0 <= self.malloc_keep_bytes < 2**31:  # glibc's mallopt takes an int
            raise ValueError("WIREWATCH_MALLOC_KEEP_BYTES must be between 0 and 2147483647")
        if self.gc_threshold < 0:
            raise ValueError("WIREWATCH_GC_THRESHOLD must be >= 0")
        if self.max_message_bytes < 65_536:
            raise ValueError("WIREWATCH_MAX_MESSAGE_BYTES must be >= 65536")
        for name in (
            "partitions",
            "replication",
            "batch_size",
            "fetch_max_wait_ms",
            "producer_batch_bytes",
            "switch_interval_us",
            "max_record_bytes",
            "poll_max_bytes",
            "poll_seen_max_per_feed",
            "max_title_chars",
            "max_body_chars",
            "max_json_depth",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    @property
    def compression_type(self) -> str | None:
        """``producer_compression`` as aiokafka and Faust spell it (None: uncompressed)."""
        return None if self.producer_compression == "none" else self.producer_compression

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip().removeprefix("kafka://") for s in self.broker.split(",") if s.strip()]

    def public(self) -> dict[str, Any]:
        """Settings safe to log or show: secrets masked."""
        return {
            f.name: ("***" if f.metadata["secret"] and getattr(self, f.name) else getattr(self, f.name))
            for f in fields(self)
        }

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"Settings({self.public()!r})"


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) rows for the README."""
    return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(Settings)]


def _coerce(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected {kind.__name__}, got {raw!r}") from None
    return raw
