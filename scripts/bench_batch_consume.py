"""Experiment (not CI): how fast is Wirewatch's work without Faust's per-event stream?

Runs the same ``Pipeline`` and the same outputs (outcome topic, ``alerts`` and the subscription topic per
alert) behind a plain aiokafka consumer that hands each ``getmany`` batch to ``process_batch`` — no
offsets kept with the outputs, no dedup changelog, so an upper bound for a Faust-less delivery path, not
a service. Each round measures it, the trivial Faust passthrough agent and the Wirewatch worker on the
same 12,000 pre-loaded records of one private broker (``streams/bench/e2e.py``'s saturation harness).

    .venv/bin/python scripts/bench_batch_consume.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def serve(source: str, prefix: str, bootstrap: str) -> None:
    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from streams.domain.pipeline import Pipeline
    from streams.domain.subscriptions import load_subscriptions
    from streams.localkafka.admin import create_topics
    from streams.service.worker import freeze_startup_heap

    pipeline = Pipeline(subscriptions=load_subscriptions(topic_prefix=f"{prefix}.alerts."))
    await create_topics(bootstrap, [f"{prefix}.alerts", *pipeline.subscriptions.topics()])
    freeze_startup_heap()
    outputs = {
        "classified": f"{prefix}.classified",
        "duplicate": f"{prefix}.duplicates",
        "deadletter": f"{prefix}.deadletter",
    }
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"batch-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await consumer.start()
    await producer.start()
    while True:
        batch = await consumer.getmany(timeout_ms=100, max_records=256)
        for tp, records in batch.items():
            origin = {"topic": tp.topic, "partition": tp.partition}
            outcomes = pipeline.process_batch(
                [(r.value or b"", {**origin, "offset": r.offset}) for r in records]
            )
            for o in outcomes:
                key = o.key.encode() if o.key else None
                await producer.send(outputs[o.kind], orjson.dumps(o.data), key=key)
                for alert in o.alerts:
                    value = orjson.dumps(alert.document)
                    await producer.send(f"{prefix}.alerts", value, key=key)
                    await producer.send(alert.topic, value, key=key)


def main() -> None:
    from streams.bench import e2e
    from streams.bench.corpus import articles

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--records", type=int, default=12_000)
    args = p.parse_args()
    records = list(articles(args.records))
    with e2e.local_broker() as bootstrap:
        for round_ in range(args.rounds):
            tag = f"x{uuid.uuid4().hex[:6]}"
            batch = e2e.Target(
                "batch_consume",
                f"{tag}.in",
                [f"{tag}.classified", f"{tag}.duplicates", f"{tag}.deadletter"],
                [sys.executable, __file__, "serve", f"{tag}.in", tag, bootstrap],
                dict(os.environ),
            )
            others = [t for t in e2e.targets(bootstrap) if t.name in ("faust_passthrough", "wirewatch")]
            for target in (batch, *others):
                rate = e2e.saturation(bootstrap, target, records, Path(tempfile.mkdtemp()))
                print(f"round {round_}: {target.name:18} {rate:8,.0f} records/s", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve(*sys.argv[2:5]))
    else:
        main()
