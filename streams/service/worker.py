"""``wirewatch worker``: create topics, then run the Faust worker in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import platform
import sys
from typing import Any

from streams.settings import Settings


def cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from streams.domain.subscriptions import load_subscriptions
    from streams.service.app import create_service
    from streams.service.topics import ensure_topics

    settings = Settings.from_env()
    keep_freed_memory(settings.malloc_keep_bytes)
    logging.basicConfig(level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(message)s")
    logging.getLogger("wirewatch").info("settings: %s", settings.public())
    book = load_subscriptions(settings.subscriptions_file or None, topic_prefix=settings.alert_topic_prefix)
    # Before the app exists: asyncio.run() closes its loop, and Faust objects must not see that loop.
    asyncio.run(ensure_topics(settings, book.topics()))
    service = create_service(settings)
    freeze_startup_heap()
    collect_less(settings.gc_threshold)
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


def collect_less(threshold: int) -> None:
    """Run the cyclic collector after ``threshold`` net container allocations, not CPython's 700
    (0: leave CPython's).

    A draining worker allocates some hundred containers an article (fetched records, messages,
    documents) that reference counting frees once its chunk is sent. At 700 the collector ran every
    few articles and walked the chunk's live objects each time, promoting them to be walked again by
    the older generations: 5.7% of the worker's thread and of its classifier child over a 24,000
    record drain (timed with ``gc.callbacks``). At 100,000 it did not run once in that drain. A
    cycle still gets collected, with at most that many objects to walk (a few ms)."""
    if threshold > 0:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])


#: glibc's ``mallopt`` parameters (``malloc.h``), and the largest mmap threshold it accepts (64-bit).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20


def keep_freed_memory(keep_bytes: int) -> bool:
    """Let glibc keep up to ``keep_bytes`` of freed heap for reuse; returns whether it was set.

    A saturated worker allocates and frees buffers of a few hundred KB to a few MB per chunk (fetch
    responses, the classifier pipe, produce requests, journal entries). glibc's adaptive thresholds
    hand such blocks back to the kernel (``munmap``, or trimming the heap top once 2x the largest
    freed block is free), and the next chunk faults the same pages in again: ~4 minor faults an
    article in the worker, 1.4 with this, and a fault on this VM costs microseconds. Fixed
    thresholds also stop the adaptation, so blocks under 32 MiB come from the heap. Not glibc, or 0:
    nothing is changed."""
    if keep_bytes <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and libc.mallopt(M_TRIM_THRESHOLD, keep_bytes)
    )


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
