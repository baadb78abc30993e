"""``wirewatch worker``: create topics, then run the Faust worker in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging

from streams.settings import Settings


def cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from streams.domain.subscriptions import load_subscriptions
    from streams.service.app import create_service
    from streams.service.topics import ensure_topics

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(message)s")
    logging.getLogger("wirewatch").info("settings: %s", settings.public())
    book = load_subscriptions(settings.subscriptions_file or None, topic_prefix=settings.alert_topic_prefix)
    # Before the app exists: asyncio.run() closes its loop, and Faust objects must not see that loop.
    asyncio.run(ensure_topics(settings, book.topics()))
    service = create_service(settings)
    worker = faust.Worker(service.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()  # blocks until SIGTERM/SIGINT; exits the process itself
    return 0
