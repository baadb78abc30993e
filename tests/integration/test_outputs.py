"""The output writer on a real broker: batched and record-by-record chunks land in the partition
``send`` would choose, in order, and each input is acked only once its records are with the producer."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.localkafka.admin import create_topics
from streams.service.outputs import BATCH_FROM, OutputWriter, Record

pytestmark = pytest.mark.integration


class FaustProducerLike:
    """What the writer uses of Faust's producer: its aiokafka producer and its ``send``."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.sends = 0

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.producer

    async def send(self, topic: str, key: bytes | None, value: bytes, *_: Any, **__: Any) -> Any:
        self.sends += 1
        return await self.producer.send(topic, value, key=key)


class AppLike:
    def __init__(self, producer: FaustProducerLike) -> None:
        self.producer = producer


async def read_all(bootstrap: str, topic: str, n: int) -> dict[int, list[tuple[bytes, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    try:
        async with asyncio.timeout(30):
            while sum(map(len, got.values())) < n:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    got[tp.partition] += [(r.key or b"", r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("inputs", [BATCH_FROM - 1, 3 * BATCH_FROM])
async def test_records_land_where_send_puts_them_in_order(
    kafka_bootstrap: str, topic_factory: Any, inputs: int
) -> None:
    outcomes, alerts = topic_factory("outcomes"), topic_factory("alerts")
    await create_topics(kafka_bootstrap, [outcomes], partitions=3)
    await create_topics(kafka_bootstrap, [alerts], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    faust_like = FaustProducerLike(producer)
    writer = OutputWriter(AppLike(faust_like), transactional=False)
    acked: list[int] = []
    per_input: list[list[Record]] = []
    for i in range(inputs):
        # Wire ids and URLs: keys of every length modulo 4 go through murmur2's tail.
        key = f"article-{i}".encode() if i % 3 else f"https://wire.example/2026/04/{i}-story".encode()
        records: list[Record] = [(outcomes, key, b"outcome %d" % i)]
        if i % 4 == 0:
            records.append((alerts, key, b"alert %d" % i))
        per_input.append(records)

    def ack(i: int) -> None:
        # Acked only once every record of that input is in the producer's accumulator (or sent).
        assert producer._message_accumulator._batches or faust_like.sends, "acked before any record"
        acked.append(i)

    try:
        await writer.write(per_input, list(range(inputs)), ack, None)
        await producer.flush()
    finally:
        await producer.stop()
    assert acked == list(range(inputs))
    assert (faust_like.sends > 0) == (inputs < BATCH_FROM)  # small chunks go record by record

    got = await read_all(kafka_bootstrap, outcomes, inputs)
    partitioner = DefaultPartitioner()
    for partition, landed in got.items():
        for key, _ in landed:
            assert partitioner(key, [0, 1, 2], [0, 1, 2]) == partition
        numbers = [int(value.split()[1]) for _, value in landed]
        assert numbers == sorted(numbers)  # input order kept within each partition
    assert sorted(int(v.split()[1]) for landed in got.values() for _, v in landed) == list(range(inputs))
    alert_records = await read_all(kafka_bootstrap, alerts, len(range(0, inputs, 4)))
    assert [v for _, v in alert_records[0]] == [b"alert %d" % i for i in range(0, inputs, 4)]
