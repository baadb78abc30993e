"""Baselines for the end-to-end benchmark, run as their own processes like the worker.

``python -m streams.bench.passthrough raw IN OUT BOOTSTRAP``: aiokafka consume -> produce, the ceiling
for Python on this machine. ``... faust IN OUT BOOTSTRAP``: a trivial Faust agent forwarding each
value, the framework's floor. Both forward the record value and key untouched.
"""

from __future__ import annotations

import asyncio
import sys
import uuid


async def raw_passthrough(source: str, sink: str, bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from streams.service.worker import collect_less, keep_freed_memory
    from streams.settings import Settings

    settings = Settings.from_env()
    keep_freed_memory(settings.malloc_keep_bytes)  # the worker's allocator and collector set-up
    collect_less(settings.gc_threshold)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=1,
        max_batch_size=settings.producer_batch_bytes,
        compression_type=settings.compression_type,
    )
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for records in batch.values():
                for r in records:
                    await producer.send(sink, r.value, key=r.key)
    finally:
        await consumer.stop()
        await producer.stop()


def faust_passthrough(source: str, sink: str, bootstrap: str) -> None:
    import faust

    from streams.service.transport import app_class
    from streams.service.worker import collect_less, keep_freed_memory, quiet_worker, share_the_gil
    from streams.settings import Settings

    # Wirewatch's consumer (fetch wait, in the event loop), producer batch size and compression, GIL
    # switch interval, allocator, collector and worker set-up, as the bench's worker gets them: the
    # floor is the framework's, not a setting's.
    defaults = Settings.from_env()
    keep_freed_memory(defaults.malloc_keep_bytes)
    collect_less(defaults.gc_threshold)
    app = app_class(defaults.fetch_max_wait_ms, defaults.consumer_thread)(
        f"bench-faust-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger_ms=1,
        producer_max_batch_size=defaults.producer_batch_bytes,
        producer_compression_type=defaults.compression_type,
        autodiscover=False,
    )
    src = app.topic(source)
    dst = app.topic(sink)

    @app.agent(src)
    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await dst.send(key=event.key, value=event.value)

    share_the_gil(defaults.switch_interval_us)  # the worker's GIL switch interval too
    quiet_worker(faust.Worker(app, loglevel="warning", quiet=True)).execute_from_commandline()


if __name__ == "__main__":
    kind, source, sink, bootstrap = sys.argv[1:5]
    if kind == "raw":
        asyncio.run(raw_passthrough(source, sink, bootstrap))
    else:
        faust_passthrough(source, sink, bootstrap)
