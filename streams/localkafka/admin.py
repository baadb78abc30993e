"""Talk to a broker through aiokafka's admin client: readiness probe and idempotent topic creation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from inside a running loop (pytest-asyncio tests) via a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Cheap first check, so the probe does not fill logs with aiokafka connection errors."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def answers_metadata(bootstrap: str, seconds: float = 5.0) -> bool:
    """True when the broker serves a metadata request, i.e. clients can really use it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(seconds * 1000))
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            await admin.list_topics()
        return True
    except Exception:  # any failure just means "not ready yet"
        return False
    finally:
        await admin.close()


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 1,
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
) -> list[str]:
    """Create topics, ignoring those that already exist; return the names actually created."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        new = [NewTopic(name, partitions, replication, topic_configs=dict(configs or {})) for name in wanted]
        response = await admin.create_topics(new)
    finally:
        await admin.close()
    created: list[str] = []
    for topic, code, *rest in response.topic_errors:
        error = for_code(code) if code else None
        if error is None:
            created.append(topic)
        elif error is not TopicAlreadyExistsError:
            message = rest[0] if rest and rest[0] else error.__name__
            raise error(f"cannot create topic {topic!r}: {message}")
    return created
