"""Faults survived on a real broker: broker restart, SIGKILL during a rebalance, poison input, exactly once.

The accounting is the one of ``test_service.py``'s SIGKILL test, by input offset: every offset of the
input topic has outcomes of exactly one kind (classified, duplicate or dead letter). At least once
may write an outcome twice after a crash, never two different ones, and one story never gets two
alert ids for one subscription. Exactly once is stricter: one outcome record per offset, as a
``read_committed`` consumer sees it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from support import Worker, drain, produce, service_env, tag, wait_until

from streams.localkafka import LocalKafka

pytestmark = pytest.mark.integration

OUTCOME_TOPICS = ("classified", "duplicates", "deadletter")
#: Faust reads its own settings from the environment: a killed member leaves the group in 10 s, not 60.
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}


def stream_records(n_docs: int = 120) -> list[tuple[bytes | None, bytes | None]]:
    """Wire stories with exact re-sends and broken lines mixed in, as the SIGKILL test uses."""
    from test_service import eval_articles

    records: list[tuple[bytes | None, bytes | None]] = []
    for i, d in enumerate(eval_articles()[:n_docs]):
        records.append((d["id"].encode(), orjson.dumps(d)))
        if i % 10 == 0:
            records.append((d["id"].encode(), orjson.dumps(d)))
        if i % 25 == 0:
            records.append((f"broken-{i}".encode(), b"{broken"))
    return records


class Publisher(threading.Thread):
    """Publishes in small chunks with pauses, retrying a chunk while the broker is away.

    A retried chunk may land twice; that is fine, the accounting is over the offsets that exist.
    """

    def __init__(self, bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.records = bootstrap, topic, records
        self.retries = 0

    def run(self) -> None:
        for start in range(0, len(self.records), 10):
            while True:
                try:
                    produce(self.bootstrap, self.topic, self.records[start : start + 10])
                    break
                except Exception:
                    self.retries += 1
                    time.sleep(1.0)
            time.sleep(0.3)


def input_offsets(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    async def go() -> set[tuple[int, int]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {(tp.partition, o) for tp, end in ends.items() for o in range(end)}

    return asyncio.run(go())


def outputs(bootstrap: str, t: str, isolation: str = "read_uncommitted") -> dict[str, list[Any]]:
    return {
        kind: drain(bootstrap, f"{t}.{kind}", idle=1.0, isolation_level=isolation) for kind in OUTCOME_TOPICS
    }


def wait_accounted(
    bootstrap: str,
    t: str,
    workers: Callable[[], list[Worker]],
    timeout: float,
    isolation: str = "read_uncommitted",
) -> dict[str, list[Any]]:
    """Outputs once every input offset has one, failing at once if every worker died."""
    got: dict[str, list[Any]] = {}

    def done() -> bool:
        if not any(w.alive for w in workers()):
            raise AssertionError("every worker died:\n" + "\n".join(w.log_tail() for w in workers()))
        got.update(outputs(bootstrap, t, isolation))
        seen = {(d["origin"]["partition"], d["origin"]["offset"]) for docs in got.values() for d in docs}
        return seen >= input_offsets(bootstrap, f"{t}.articles")

    wait_until(done, timeout, "an outcome for every input offset", interval=1.0)
    return got


def assert_one_kind_per_offset(got: dict[str, list[Any]], offsets: set[tuple[int, int]]) -> None:
    kinds: dict[tuple[int, int], set[str]] = defaultdict(set)
    for kind, docs in got.items():
        for d in docs:
            kinds[(d["origin"]["partition"], d["origin"]["offset"])].add(kind)
    assert set(kinds) == offsets
    conflicts = {o: k for o, k in kinds.items() if len(k) != 1}
    assert not conflicts, conflicts


def assert_alert_ids_unique(bootstrap: str, t: str, isolation: str = "read_uncommitted") -> list[Any]:
    alerts = drain(bootstrap, f"{t}.alerts", idle=2.0, isolation_level=isolation)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in alerts:
        ids[(a["subscription"], a["story_id"])].add(a["alert_id"])
    assert alerts and all(len(v) == 1 for v in ids.values())
    return alerts


def test_broker_restart_mid_stream_worker_reconnects_and_accounts_for_every_offset(
    kafka_factory: Callable[[Path], LocalKafka], tmp_path: Path
) -> None:
    kafka = kafka_factory(tmp_path / "kafka")
    kafka.start(wait=90.0)
    t = tag()
    env = service_env(
        kafka.bootstrap,
        t,
        WIREWATCH_STORE="rocksdb://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        **FAST_GROUP,
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    records = stream_records()
    publisher = Publisher(kafka.bootstrap, f"{t}.articles", records)
    publisher.start()
    try:
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") >= 30, 60, "some records processed"
        )
        kafka.stop()
        time.sleep(3.0)  # the worker and the publisher both see the broker gone
        assert worker.alive, worker.log_tail()
        kafka.start(wait=90.0)
        publisher.join(180)
        got = wait_accounted(kafka.bootstrap, t, lambda: [worker], 150)
        assert worker.alive  # the same process: it reconnected by itself, nobody restarted it
        offsets = input_offsets(kafka.bootstrap, f"{t}.articles")
        assert len(offsets) >= len(records)
        assert_one_kind_per_offset(got, offsets)
        assert_alert_ids_unique(kafka.bootstrap, t)
        print(f"publisher retried {publisher.retries} chunks while the broker was down")
    finally:
        publisher.join(10)
        worker.stop()


def two_workers(bootstrap: str, t: str, tmp_path: Path) -> tuple[Worker, Worker]:
    """Two workers of one group over two partitions, each with its own RocksDB state; the first
    started and ready, the second not yet started."""

    def env(name: str) -> dict[str, str]:
        return service_env(
            bootstrap,
            t,
            WIREWATCH_PARTITIONS="2",
            WIREWATCH_STORE="rocksdb://",
            WIREWATCH_DATA_DIR=str(tmp_path / f"state-{name}"),
            **FAST_GROUP,
        )

    return Worker(env("a"), tmp_path / "a.log").start(), Worker(env("b"), tmp_path / "b.log")


def test_sigkill_during_a_rebalance_with_two_workers(kafka_bootstrap: str, tmp_path: Path) -> None:
    t = tag()
    first, second = two_workers(kafka_bootstrap, t, tmp_path)
    workers = [first, second]
    records = stream_records()
    publisher = Publisher(kafka_bootstrap, f"{t}.articles", records)
    publisher.start()
    try:
        wait_until(
            lambda: first.metric("wirewatch_articles_received_total") >= 30, 60, "some records processed"
        )
        joined = first.metric("wirewatch_rebalances_total")
        second.start(wait=False)  # joining makes the group rebalance
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

        def rebalance_begun() -> bool:
            seen.update(first.metrics())
            return seen[("wirewatch_rebalances_total", ())] > joined

        # The counter, not /ready's transient 503: a rebalance over between two polls was missed once.
        wait_until(rebalance_begun, 120, "the first worker to see the rebalance", interval=0.02, logs=workers)
        mid = seen[("wirewatch_rebalancing", ())] == 1
        first.kill()  # no commit, no leave-group: its partitions wait for its session to end
        print(f"killed the first worker {'during' if mid else 'just after'} the rebalance")
        publisher.join(120)
        got = wait_accounted(kafka_bootstrap, t, lambda: workers, 180)
        assert second.alive, second.log_tail()
        offsets = input_offsets(kafka_bootstrap, f"{t}.articles")
        assert {p for p, _ in offsets} == {0, 1}
        assert_one_kind_per_offset(got, offsets)
        assert_alert_ids_unique(kafka_bootstrap, t)
    finally:
        publisher.join(10)
        for w in workers:
            w.stop()


def test_a_partition_taken_over_from_a_killed_worker_keeps_its_dedup_state(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Two workers each own a partition and have processed from it; one is SIGKILLed, the survivor
    takes its partition over. Every story re-sent afterwards is a duplicate: the survivor's index was
    rebuilt with the taken-over partition's journal, not only the one it had at its first batch."""
    t = tag()
    first, second = two_workers(kafka_bootstrap, t, tmp_path)
    workers = [first, second]
    records = [(k, v) for k, v in stream_records(60) if k is not None and not k.startswith(b"broken-")]
    originals = dict(records)  # one record per story id, the re-sends folded
    try:
        produce(kafka_bootstrap, f"{t}.articles", records[: len(records) // 2])
        wait_until(lambda: first.metric("wirewatch_articles_received_total") > 0, 60, "the first worker busy")
        second.start()  # ready: the group has rebalanced, one partition each
        produce(kafka_bootstrap, f"{t}.articles", records[len(records) // 2 :])
        wait_accounted(kafka_bootstrap, t, lambda: workers, 120)
        assert first.metric("wirewatch_articles_received_total") > 0
        assert second.metric("wirewatch_articles_received_total") > 0, "the second worker owned nothing"
        first.kill()
        before = input_offsets(kafka_bootstrap, f"{t}.articles")
        produce(kafka_bootstrap, f"{t}.articles", list(originals.items()))
        got = wait_accounted(kafka_bootstrap, t, lambda: workers, 120)
        assert second.alive, second.log_tail()
        resent = Counter(
            kind
            for kind, docs in got.items()
            for d in docs
            if (d["origin"]["partition"], d["origin"]["offset"]) not in before
        )
        assert set(resent) == {"duplicates"}, resent
        assert_one_kind_per_offset(got, input_offsets(kafka_bootstrap, f"{t}.articles"))
    finally:
        for w in workers:
            w.stop()


def test_poison_records_are_dead_lettered_with_the_exception_and_the_stream_goes_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Real poison, no test hook: an id with a newline makes the dedup stage raise; an unknown field
    nested 300 deep makes the outcome unencodable once the depth limit is raised past orjson's."""
    t = tag()
    env = service_env(
        kafka_bootstrap,
        t,
        WIREWATCH_STORE="memory://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        WIREWATCH_MAX_JSON_DEPTH="1000",
    )
    good = [
        {
            "id": "good-1",
            "title": "Missile test over the sea",
            "body": "SEOUL (AP) — North Korea fired a missile.",
        },
        {
            "id": "good-2",
            "title": "Tanker seized in the Gulf",
            "body": "DUBAI (Reuters) - Iran seized a tanker.",
        },
    ]
    nested = b"[" * 300 + b"1" + b"]" * 300
    records: list[tuple[bytes | None, bytes | None]] = [
        (b"good-1", orjson.dumps(good[0])),
        (
            b"nl",
            orjson.dumps({"id": "line\nbreak", "title": "Protest in the capital", "body": "Police fired."}),
        ),
        (b"deep", b'{"id": "deep", "title": "Deep", "body": "A story about ships.", "x": ' + nested + b"}"),
        (b"good-2", orjson.dumps(good[1])),
    ]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        produce(kafka_bootstrap, f"{t}.articles", records)
        classified = drain(kafka_bootstrap, f"{t}.classified", expect=2, timeout=60)
        dead = drain(kafka_bootstrap, f"{t}.deadletter", expect=2, timeout=30)
        assert [d["id"] for d in classified] == ["good-1", "good-2"]  # the stream went on past both
        by_offset = {d["origin"]["offset"]: d for d in dead}
        assert set(by_offset) == {1, 2}
        assert by_offset[1]["reason"] == "processing_error"
        assert by_offset[1]["message"] == "dedup failed: ValueError: article ids must not contain newlines"
        assert by_offset[2]["reason"] == "processing_error"
        assert by_offset[2]["message"].startswith("encode failed: TypeError: Recursion limit")
        assert orjson.loads(__import__("base64").b64decode(by_offset[2]["payload_b64"]))["id"] == "deep"
        assert worker.alive
        m = worker.metric
        assert m("wirewatch_deadletters_total", reason="processing_error") == 2
        assert m("wirewatch_articles_processed_total", outcome="deadletter") == 2
    finally:
        worker.stop()


def test_exactly_once_one_committed_outcome_per_offset_across_a_sigkill(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    t = tag()
    env = service_env(
        kafka_bootstrap,
        t,
        WIREWATCH_PROCESSING_GUARANTEE="exactly_once",
        WIREWATCH_STORE="rocksdb://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        **FAST_GROUP,
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    records = stream_records(80)
    publisher = Publisher(kafka_bootstrap, f"{t}.articles", records)
    publisher.start()
    current = [worker]
    try:
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") >= 30, 60, "some records processed"
        )
        worker.kill()
        publisher.join(120)
        current[0] = Worker(env, tmp_path / "worker.log").start()
        got = wait_accounted(kafka_bootstrap, t, lambda: current, 150, isolation="read_committed")
        offsets = input_offsets(kafka_bootstrap, f"{t}.articles")
        assert len(offsets) == len(records)
        assert_one_kind_per_offset(got, offsets)
        per_offset = Counter(
            (d["origin"]["partition"], d["origin"]["offset"]) for docs in got.values() for d in docs
        )
        assert set(per_offset.values()) == {1}, {o: n for o, n in per_offset.items() if n > 1}
        alerts = assert_alert_ids_unique(kafka_bootstrap, t, isolation="read_committed")
        assert len({a["alert_id"] for a in alerts}) == len(alerts)  # no alert written twice either
    finally:
        publisher.join(10)
        current[0].stop()
