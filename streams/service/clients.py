"""``wirewatch publish``, ``tail`` and ``subscribe``: small aiokafka clients for people and scripts."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.domain.subscriptions import Subscription, SubscriptionError, load_subscriptions
from streams.service.connection import aiokafka_options, producer_options, record_fits, subscriptions_consumer
from streams.settings import Settings


def add_client_commands(sub: Any) -> None:
    p = sub.add_parser("publish", help="publish articles (JSONL or JSON files) to the input topic")
    p.add_argument("paths", nargs="+", help="JSON Lines files, or JSON files of one article each")
    p.add_argument("--topic", help="topic (default: WIREWATCH_TOPIC_ARTICLES)")
    p.add_argument(
        "--rate", type=float, default=0.0, help="records per second (default: as fast as possible)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=lambda a: asyncio.run(publish(a)))

    p = sub.add_parser("tail", help="print alerts (or any topic) as they arrive")
    p.add_argument("--topic", help="topic (default: WIREWATCH_TOPIC_ALERTS)")
    p.add_argument("--max", type=int, default=0, help="stop after N records")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after S seconds without a record")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    p.add_argument("--json", action="store_true", help="one JSON object per line, for programs")
    p.set_defaults(func=lambda a: asyncio.run(tail(a)))

    p = sub.add_parser("subscribe", help="add, remove or list subscriptions at run time")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add or replace a subscription")
    add.add_argument("id")
    add.add_argument("--topic")
    add.add_argument("--countries", default="", help="comma-separated ISO alpha-2 codes")
    add.add_argument("--regions", default="", help="comma-separated regions or groups")
    add.add_argument("--threats", default="", help="comma-separated threat types")
    add.add_argument("--min-severity", default="low")
    add.add_argument("--keywords", default="", help="comma-separated words")
    add.add_argument("--description", default="")
    add.set_defaults(func=lambda a: asyncio.run(subscribe_add(a)))
    rm = actions.add_parser("remove", help="remove a subscription (file-defined ones too)")
    rm.add_argument("id")
    rm.set_defaults(func=lambda a: asyncio.run(subscribe_remove(a)))
    ls = actions.add_parser("list", help="the subscriptions in effect")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=lambda a: asyncio.run(subscribe_list(a)))


# --- publish -------------------------------------------------------------------------------------
def read_records(paths: list[str]) -> Iterator[bytes]:
    """Raw records, unparsed beyond finding lines: malformed ones must reach the service as they are."""
    for path in paths:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        stripped = data.strip()
        if stripped.startswith(b"{") and b"\n{" not in stripped:
            yield stripped  # one (possibly pretty-printed) JSON document
            continue
        for line in data.splitlines():
            if line.strip():
                yield line


def record_key(raw: bytes) -> bytes | None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    key = doc.get("id") if isinstance(doc, dict) else None
    return key.encode() if isinstance(key, str) else None


async def publish(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    settings = Settings.from_env()
    topic = args.topic or settings.topic_articles
    records = list(read_records(args.paths))
    # Refused before any is sent: the producer would raise at the first, half the file already out.
    too_large = [
        (n, len(raw))
        for n, raw in enumerate(records, 1)
        if not record_fits(settings, record_key(raw), len(raw))
    ]
    for n, size in too_large:
        print(
            f"record {n}: {size} bytes, over WIREWATCH_MAX_MESSAGE_BYTES ({settings.max_message_bytes})",
            file=sys.stderr,
        )
    if too_large:
        print("nothing published", file=sys.stderr)
        return 2
    producer = AIOKafkaProducer(linger_ms=5, acks="all", **producer_options(settings))
    await producer.start()
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    started = time.perf_counter()
    try:
        futures = []
        with tqdm(total=len(records), unit="rec", disable=args.quiet, file=sys.stderr) as bar:
            for i, raw in enumerate(records):
                if interval:
                    delay = started + i * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                futures.append(await producer.send(topic, raw, key=record_key(raw)))
                bar.update()
        await producer.flush()
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    print(f"published {len(records)} records to {topic}", file=sys.stderr)
    return 0


# --- tail ----------------------------------------------------------------------------------------
def render_alert(doc: dict[str, Any]) -> str:
    sev = doc.get("severity", {})
    countries = ",".join(c["code"] for c in doc.get("countries", []))
    threats = ",".join(t["type"] for t in doc.get("threats", []))
    article = doc.get("article", {})
    level = str(sev.get("level", "?")).upper()
    head = f"[{level:8} {sev.get('score', 0):.2f}] {doc.get('subscription', '-')}"
    head += f"  {countries or '-'}  {threats or '-'}"
    return f"{head}\n    {article.get('source') or '?'}: {article.get('title', '')}"


async def tail(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    topic = args.topic or settings.topic_alerts
    consumer = AIOKafkaConsumer(
        topic,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        **aiokafka_options(settings),
    )
    await consumer.start()
    seen = 0
    last = time.monotonic()
    try:
        while not args.max or seen < args.max:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                if args.timeout and time.monotonic() - last > args.timeout:
                    break
                continue
            last = time.monotonic()
            for records in batch.values():
                for record in records:
                    value = record.value or b"null"
                    if args.json:
                        sys.stdout.write(value.decode("utf-8", "replace") + "\n")
                    else:
                        try:
                            doc = orjson.loads(value)
                        except orjson.JSONDecodeError:
                            doc = None
                        text = (
                            render_alert(doc)
                            if isinstance(doc, dict) and "alert_id" in doc
                            else value.decode("utf-8", "replace")
                        )
                        sys.stdout.write(text + "\n")
                    seen += 1
                    if args.max and seen >= args.max:
                        break
            sys.stdout.flush()
    finally:
        await consumer.stop()
    return 0


# --- subscribe -----------------------------------------------------------------------------------
def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


async def _send_subscription(settings: Settings, key: str, value: bytes | None) -> None:
    producer = AIOKafkaProducer(acks="all", **producer_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_subscriptions, value, key=key.encode())
    finally:
        await producer.stop()


async def subscribe_add(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    doc: dict[str, Any] = {"id": args.id, "min_severity": args.min_severity}
    for name in ("countries", "regions", "threats", "keywords"):
        values = _csv(getattr(args, name))
        if values:
            doc[name] = values
    if args.topic:
        doc["topic"] = args.topic
    if args.description:
        doc["description"] = args.description
    try:
        sub = Subscription.from_dict(doc, topic_prefix=settings.alert_topic_prefix)
    except SubscriptionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    await _send_subscription(settings, sub.id, orjson.dumps(sub.to_dict()))
    print(f"subscription {sub.id} -> {sub.topic}")
    return 0


async def subscribe_remove(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    await _send_subscription(settings, args.id, None)
    print(f"subscription {args.id} removed")
    return 0


async def read_overlay(settings: Settings) -> dict[str, dict[str, Any] | None]:
    """The run-time changes on the subscriptions topic, last write wins."""
    consumer = subscriptions_consumer(settings)
    await consumer.start()
    overlay: dict[str, dict[str, Any] | None] = {}
    try:
        deadline = time.monotonic() + 10
        while not consumer.assignment() and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=100)
        tps = list(consumer.assignment())
        end = await consumer.end_offsets(tps) if tps else {}
        await consumer.seek_to_beginning(*tps)
        while tps and any([await consumer.position(tp) < end[tp] for tp in tps]):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.key is not None:
                        overlay[r.key.decode()] = orjson.loads(r.value) if r.value is not None else None
    finally:
        await consumer.stop()
    return overlay


async def subscribe_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    subs: dict[str, tuple[str, dict[str, Any]]] = {
        s.id: ("file", s.to_dict())
        for s in load_subscriptions(
            settings.subscriptions_file or None, topic_prefix=settings.alert_topic_prefix
        )
    }
    for sub_id, doc in (await read_overlay(settings)).items():
        if doc is None:
            subs.pop(sub_id, None)
        else:
            subs[sub_id] = ("topic", doc)
    if args.json:
        print(orjson.dumps([{"origin": origin, **doc} for origin, doc in subs.values()]).decode())
        return 0
    for sub_id, (origin, doc) in sorted(subs.items()):
        rules = " ".join(
            f"{k}={','.join(doc[k])}" for k in ("countries", "regions", "threats", "keywords") if doc.get(k)
        )
        print(f"{sub_id:24} {doc['topic']:32} min={doc.get('min_severity', 'low'):8} {rules}  ({origin})")
    return 0
