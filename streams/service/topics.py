"""Create the service's topics with the configured partitions before any consumer subscribes.

Left to broker auto-creation, the input topic would get the broker's default partition count and
the subscriptions topic would not be compacted.
"""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.service.connection import aiokafka_options
from streams.settings import Settings

log = logging.getLogger("wirewatch")


def service_topics(settings: Settings, alert_topics: list[str]) -> list[NewTopic]:
    plain = [
        settings.topic_articles,
        settings.topic_classified,
        settings.topic_duplicates,
        settings.topic_deadletter,
        settings.topic_alerts,
        *alert_topics,
    ]
    topics = [NewTopic(name, settings.partitions, settings.replication) for name in dict.fromkeys(plain)]
    topics.append(
        NewTopic(
            settings.topic_subscriptions, 1, settings.replication, topic_configs={"cleanup.policy": "compact"}
        )
    )
    return topics


async def ensure_topics(settings: Settings, alert_topics: list[str]) -> list[str]:
    """Create missing topics; returns the names created (existing ones are left as they are)."""
    return await ensure_topic_list(settings, service_topics(settings, alert_topics))


async def ensure_topic_list(settings: Settings, topics: list[NewTopic]) -> list[str]:
    admin = AIOKafkaAdminClient(**aiokafka_options(settings), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(missing)
            log.info("created topics: %s", ", ".join(t.name for t in missing))
        return [t.name for t in missing]
    finally:
        await admin.close()


def cmd_topics(args: object) -> int:
    """``wirewatch topics``: create every topic the worker and the poller use, then exit (topic-init)."""
    import asyncio

    from streams.domain.subscriptions import load_subscriptions

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(message)s")
    book = load_subscriptions(settings.subscriptions_file or None, topic_prefix=settings.alert_topic_prefix)
    created = asyncio.run(ensure_topics(settings, book.topics()))
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))
    return 0
