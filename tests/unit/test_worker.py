"""The Faust worker as ``wirewatch worker`` builds it (no broker: only its logging set-up)."""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
from typing import Any, cast

import faust
import pytest

from streams.service.worker import quiet_worker

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("level", [logging.WARNING, logging.ERROR])
def test_worker_keeps_the_root_logger_at_its_level(level: int) -> None:
    """Faust's spinner would set the root logger to DEBUG at WARNING and above, so every debug call
    of aiokafka (several per produced record) built a record only to be dropped."""
    app = faust.App("test-quiet-worker", broker="kafka://127.0.0.1:1", store="memory://", autodiscover=False)
    logger = logging.getLogger("test-quiet-worker-root")
    logger.addHandler(logging.NullHandler())
    logger.setLevel(level)
    try:
        plain = faust.Worker(app, loglevel=level, quiet=True)
        plain.on_setup_root_logger(logger, level)
        assert logger.level == logging.DEBUG  # what the fix is for: Faust's own behaviour
        logger.setLevel(level)
        quiet_worker(faust.Worker(app, loglevel=level, quiet=True)).on_setup_root_logger(logger, level)
        assert logger.level == level
    finally:
        logger.handlers.clear()


@pytest.mark.parametrize(("env", "wait_ms"), [({}, 50), ({"WIREWATCH_FETCH_MAX_WAIT_MS": "200"}, 200)])
async def test_worker_consumer_fetch_wait_is_the_setting(
    env: dict[str, str], wait_ms: int, tmp_path: object
) -> None:
    """Faust fixes 1500 ms; the service's transport hands aiokafka the setting instead (unstarted:
    building a consumer opens no connection)."""
    from streams.service.app import create_service
    from streams.settings import Settings

    settings = Settings.from_env({**env, "WIREWATCH_STORE": "memory://", "WIREWATCH_DATA_DIR": str(tmp_path)})
    app = create_service(settings).app
    thread = cast(Any, app.consumer)._thread
    consumer = thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == wait_ms
    assert consumer._group_id == settings.app_id  # still Faust's worker consumer, only the wait changed


@pytest.mark.parametrize(("env", "own_thread"), [({}, False), ({"WIREWATCH_CONSUMER_THREAD": "1"}, True)])
async def test_worker_consumer_runs_in_the_event_loop_unless_told(
    env: dict[str, str], own_thread: bool, tmp_path: object
) -> None:
    """By default Faust's consumer "thread" is the worker's own event loop, and a call into it runs in
    place; ``WIREWATCH_CONSUMER_THREAD=1`` gives it Faust's thread and loop back."""
    import asyncio
    import threading

    from streams.service.app import create_service
    from streams.settings import Settings

    settings = Settings.from_env({**env, "WIREWATCH_STORE": "memory://", "WIREWATCH_DATA_DIR": str(tmp_path)})
    thread = cast(Any, create_service(settings).app.consumer)._thread
    assert (thread.thread_loop is not asyncio.get_running_loop()) is own_thread
    if not own_thread:
        assert await thread.call_thread(threading.get_ident) == threading.get_ident()

        async def in_loop() -> bool:
            return asyncio.get_running_loop() is thread.parent_loop

        assert await thread.call_thread(in_loop)


def test_startup_heap_is_frozen_and_gil_shared_before_the_worker_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A full collection walked the ~120k long-lived objects of the classifiers and Faust (~45 ms, a
    p99 latency budget); frozen, they are no longer scanned. The worker must freeze them before
    it starts consuming."""
    import gc
    import sys

    from streams.service import worker as worker_module

    calls: list[str] = []

    class FakeWorker:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.spinner = object()

        def execute_from_commandline(self) -> None:
            calls.append(f"run frozen={gc.get_freeze_count()}")
            calls.append(f"switch={sys.getswitchinterval()}")
            calls.append(f"gc={gc.get_threshold()}")

    async def no_topics(*args: Any) -> None:
        calls.append("topics")

    monkeypatch.setattr(faust, "Worker", FakeWorker)
    monkeypatch.setattr("streams.service.topics.ensure_topics", no_topics)
    monkeypatch.setattr(worker_module, "keep_freed_memory", lambda n: calls.append(f"keep={n}"))
    monkeypatch.setenv("WIREWATCH_MALLOC_KEEP_BYTES", "1048576")
    monkeypatch.setenv("WIREWATCH_STORE", "memory://")
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WIREWATCH_SWITCH_INTERVAL_US", "250")
    monkeypatch.setenv("WIREWATCH_GC_THRESHOLD", "54321")
    default_switch = sys.getswitchinterval()
    default_gc = gc.get_threshold()
    try:
        worker_module.cmd_worker(cast(Any, None))
    finally:
        gc.unfreeze()
        sys.setswitchinterval(default_switch)
        gc.set_threshold(*default_gc)
    assert calls[0] == "keep=1048576"  # the allocator set before anything big is built
    assert calls[1] == "topics"
    assert calls[2].startswith("run frozen=") and int(calls[2].split("=")[1]) > 10_000
    # The GIL switch interval is the setting's, in seconds (CPython's default is 5 ms).
    assert calls[3] == "switch=0.00025"
    # The youngest generation's threshold is the setting's; the older generations' stay CPython's.
    assert calls[4] == f"gc={(54321, *default_gc[1:])}"


def test_collect_less_sets_the_youngest_threshold_or_leaves_cpythons() -> None:
    """Per chunk a worker allocates some hundred containers an article that refcounting frees; with
    the threshold raised, a loop of that shape runs no collection at all, where CPython's 700 runs
    one every few hundred containers. 0 leaves CPython's setting."""
    import gc

    from streams.service.worker import collect_less

    default = gc.get_threshold()

    def collections_over_a_chunk() -> int:
        before = gc.get_stats()[0]["collections"]
        for _ in range(20):
            chunk = [{"article": [i, str(i)], "labels": {"codes": ["KP"]}} for i in range(256)]
            del chunk
        return int(gc.get_stats()[0]["collections"] - before)

    try:
        collect_less(0)
        assert gc.get_threshold() == default
        assert collections_over_a_chunk() > 10
        collect_less(100_000)
        assert gc.get_threshold() == (100_000, *default[1:])
        assert collections_over_a_chunk() == 0
    finally:
        gc.set_threshold(*default)


#: Buffers of 1-4 MB, three alive at once, then freed: the shape of a saturated worker's chunk (fetch
#: response, classifier pipe, produce request), in a process of its own per allocator set-up.
_CHURN = """
import resource, sys
from streams.service.worker import keep_freed_memory
applied = keep_freed_memory(int(sys.argv[1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(40):
    held = [b"x" * ((1 + (i + k) % 4) << 20) for k in range(3)]
    del held
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_kept_for_reuse_not_faulted_in_again() -> None:
    """glibc's adaptive thresholds return freed MB-sized blocks to the kernel and the next chunk
    faults them in again (~4 minor faults an article in a draining worker, 1.4 with the setting)."""

    def faults(keep: int) -> tuple[str, int]:
        out = subprocess.run(
            [sys.executable, "-c", _CHURN, str(keep)], capture_output=True, text=True, check=True
        ).stdout.split()
        return out[0], int(out[1])

    (applied_default, default), (applied, kept) = faults(0), faults(64 << 20)
    assert (applied_default, applied) == ("False", "True")
    # Measured: ~740 faults a round by default (three buffers' pages), ~65 with the setting.
    assert default > 40 * 256 and kept < default / 4


@pytest.mark.parametrize(
    ("assigned", "position", "sought"),
    [
        (True, 7, 3),  # fetched 3..6 while paused: read again from 3
        (True, None, 3),  # no position yet: set one
        (True, 2, None),  # a seek made meanwhile went further back: it wins
        (True, 3, None),  # already there
        (False, 7, None),  # revoked: the next owner reads from the committed offset
    ],
)
async def test_records_of_a_paused_partition_are_fetched_again_never_skipped_forward(
    assigned: bool, position: int | None, sought: int | None
) -> None:
    """Faust drops records of a partition paused while they were fetched, its position already past
    them: a standby replica lost its first journal entry that way (the takeover fault test)."""
    from faust.types import TP

    from streams.service.transport import BatchDeliveringConsumer

    tp = TP("t-dedup-changelog", 1)
    seeks: list[tuple[TP, int]] = []

    class Stub:
        def assignment(self) -> set[TP]:
            return {tp} if assigned else set()

        async def position(self, partition: TP) -> int | None:
            return position

        async def seek(self, partition: TP, offset: int) -> None:
            seeks.append((partition, offset))

    await BatchDeliveringConsumer._fetch_again_later(cast(Any, Stub()), tp, 3)
    assert seeks == ([] if sought is None else [(tp, sought)])


@pytest.mark.parametrize(("env", "codec"), [({}, None), ({"WIREWATCH_PRODUCER_COMPRESSION": "zstd"}, "zstd")])
async def test_every_producer_compresses_as_the_setting_says(
    env: dict[str, str], codec: str | None, tmp_path: object
) -> None:
    """The worker's Faust producer (outputs and changelog) and the plain aiokafka producers of the
    poller and the CLI (``producer_options``) all take ``WIREWATCH_PRODUCER_COMPRESSION``."""
    from streams.service.app import create_service
    from streams.service.connection import producer_options
    from streams.settings import Settings

    settings = Settings.from_env({**env, "WIREWATCH_STORE": "memory://", "WIREWATCH_DATA_DIR": str(tmp_path)})
    producer = cast(Any, create_service(settings).app.producer)
    assert producer._settings_default()["compression_type"] == codec
    assert producer_options(settings)["compression_type"] == codec


async def test_the_record_limit_reaches_the_producer_and_bounds_its_records(tmp_path: object) -> None:
    """``WIREWATCH_MAX_MESSAGE_BYTES`` is every producer's request limit and caps the worker's batches;
    ``RECORD_OVERHEAD``, which the worker adds to key and value to check an output against it, is no
    less than what aiokafka's producer counts (its check: ``_serialize``)."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    from streams.service.app import create_service
    from streams.service.connection import RECORD_OVERHEAD, producer_options
    from streams.settings import Settings

    settings = Settings.from_env(
        {
            "WIREWATCH_STORE": "memory://",
            "WIREWATCH_DATA_DIR": str(tmp_path),
            "WIREWATCH_MAX_MESSAGE_BYTES": "300000",
        }
    )
    service = create_service(settings)
    options = cast(Any, service.app.producer)._settings_default()
    assert options["max_request_size"] == options["max_batch_size"] == 300_000
    assert producer_options(settings)["max_request_size"] == 300_000  # the poller's and the CLI's
    assert service.dedup_state.max_entry_bytes < 300_000 - RECORD_OVERHEAD
    assert service.pipeline.max_payload_bytes is not None
    assert service.pipeline.max_payload_bytes * 4 // 3 < 300_000 - RECORD_OVERHEAD
    for key, value in ((None, b""), (b"k" * 2048, b"v" * 999_000), (b"k", b"v" * 5_000_000)):
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])
        assert size <= len(value) + len(key or b"") + RECORD_OVERHEAD
