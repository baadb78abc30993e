"""``wirewatch worker``: create topics, then run the Faust worker in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from typing import Any

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
    freeze_startup_heap()
    share_the_gil(settings.switch_interval_us)
    worker = quiet_worker(faust.Worker(service.app, loglevel=settings.log_level, quiet=True))
    worker.execute_from_commandline()
    return 0  # not reached: the worker blocks until SIGTERM/SIGINT and exits the process itself


def quiet_worker(worker: Any) -> Any:
    """A Faust worker without its terminal spinner.

    At level WARNING or above the spinner sets the *root* logger to DEBUG so that every record
    spins it; every debug call of aiokafka, mode and Faust (several per produced record) then builds
    a LogRecord for handlers to drop: ~9% of a saturated worker's CPU in a py-spy profile.
    """
    worker.spinner = None
    return worker


def freeze_startup_heap() -> None:
    """Move everything built so far (gazetteer, taxonomy, automata, Faust's app) out of the cyclic
    collector's reach: these live as long as the process, yet each full collection walked all
    ~120k of them, a ~45 ms pause measured here, most of a 50 ms p99 budget."""
    gc.collect()
    gc.freeze()


def share_the_gil(interval_us: int) -> None:
    """Set the GIL switch interval (CPython's default, 5 ms, is the setting's default).

    It matters only with ``WIREWATCH_CONSUMER_THREAD=1``: by default the consumer runs in the
    worker's event loop and no second thread competes for the GIL. With Faust's consumer thread,
    each time the main thread's producer writes to a socket it releases the GIL, and the consumer
    thread can keep it for a whole interval while the article waits. At 500 articles/s, 0.5 ms
    measured p99 12-30 ms against 29-108 ms at 5 ms, with no throughput cost above the noise; but
    with 0.5 ms the two-worker rebalance fault test stalled (the survivor never consumed the
    partition it took over) in 4 of 4 full runs, and passed at 5 ms.
    So the shorter interval stays opt-in (docs/benchmarks.md)."""
    sys.setswitchinterval(interval_us / 1e6)
