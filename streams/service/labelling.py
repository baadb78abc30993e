"""Where the worker labels articles: in child processes on the other cores, or in its own thread.

Region and threat classification is ~30% of a saturated worker's main thread and needs no state but
the classifiers, so a child process does it while the worker deduplicates the next chunk and sends
the outputs of the one before. The child is spawned (not forked: the worker runs threads) and talks
over two pipes read and written from the worker's event loop, with no helper thread: through
``ProcessPoolExecutor`` each chunk crossed two extra threads, and every GIL hand-off to them waited
up to a switch interval behind the busy main thread (p50 at 500 articles/s went 19 -> 85 ms).

Articles go as orjson ``[id, title, body]`` (all the classifiers read); labels come back as an orjson
header and the evidence's JSON pieces, which the worker slices and never decodes
(``streams.domain.labels.encode_labelled``). A child that dies fails every pending call: the agent
crashes the worker, nothing of the chunk is acked, and its records are read again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Awaitable, Sequence
from multiprocessing.connection import Connection

import orjson

from streams.domain.labels import Labeler, Labelled, decode_labelled, encode_labelled
from streams.domain.model import Article
from streams.domain.regions import RegionClassifier
from streams.domain.threats import ThreatClassifier
from streams.service.worker import collect_less, freeze_startup_heap, keep_freed_memory

log = logging.getLogger("wirewatch")
#: Chunks with fewer new articles than this are labelled in the worker's thread (see :class:`Labelling`).
OFFLOAD_FROM = 16
#: Pipe capacity asked for, both ways (Linux's default ceiling). A chunk of 256 articles (~800 KB) is
#: written without blocking while the child still labels the chunk before it, and its labels
#: (~0.8-1.2 MB) come back in one or two writes: through the default 64 KB pipe the worker's thread, woken by
#: the first bytes, waited in ``read`` while the child wrote the rest.
PIPE_BYTES = 1 << 20


class ClassifierDied(RuntimeError):
    """The classifier process exited; the worker must stop rather than lose the chunk."""


def serve(
    requests: Connection,
    results: Connection,
    taxonomy_file: str | None,
    keep_freed_bytes: int = 0,
    nice: int = 0,
    gc_threshold: int = 0,
) -> None:
    """The child: answer each request, in order, until the worker closes its end.

    ``nice`` lowers its priority. On a saturated host the worker's thread is what every article waits
    on (parse, dedup, journal, outputs; it was runnable 91-99% of a drain, 10-36% of it queued
    for a core), while the labels of a chunk are awaited only once the thread has begun the next."""
    if nice:
        os.nice(nice)
    keep_freed_memory(keep_freed_bytes)  # ~1 MB requests and results a chunk, as in the worker
    # Ctrl-C, or a SIGTERM sent to the whole process group, must not end the child under the worker's
    # in-flight chunk: the worker closes the pipe when it stops, or dies, and either ends the loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    labeler = Labeler(RegionClassifier.default(), ThreatClassifier.configured(taxonomy_file))
    freeze_startup_heap()  # as the worker does: the classifiers' tables live as long as the process
    collect_less(gc_threshold)  # ~40 containers an article's labels, freed once they are sent
    while True:
        try:
            raw = requests.recv_bytes()
        except (EOFError, OSError):
            return
        articles = [Article(aid, title, body) for aid, title, body in orjson.loads(raw)]
        results.send_bytes(encode_labelled(labeler.label_many(articles)))


class ChildProcess:
    """One classifier process; calls are answered in the order they were made."""

    def __init__(
        self, taxonomy_file: str | None, keep_freed_bytes: int = 0, nice: int = 0, gc_threshold: int = 0
    ) -> None:
        self._taxonomy_file = taxonomy_file
        self._keep_freed_bytes = keep_freed_bytes
        self._nice = nice
        self._gc_threshold = gc_threshold
        self._pending: deque[asyncio.Future[list[Labelled]]] = deque()
        self._requests: Connection | None = None
        self._results: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    async def start(self) -> None:
        """Spawn the child and wait until its classifiers are loaded (a few seconds)."""
        ctx = multiprocessing.get_context("spawn")
        child_requests, self._requests = ctx.Pipe(duplex=False)
        self._results, child_results = ctx.Pipe(duplex=False)
        for end in (self._requests, self._results):
            with contextlib.suppress(OSError):  # a smaller pipe only means a write may wait
                fcntl.fcntl(end.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._process = ctx.Process(
            target=serve,
            args=(
                child_requests,
                child_results,
                self._taxonomy_file,
                self._keep_freed_bytes,
                self._nice,
                self._gc_threshold,
            ),
            name="wirewatch-classifier",
            daemon=True,
        )
        self._process.start()
        child_requests.close()
        child_results.close()
        asyncio.get_running_loop().add_reader(self._results.fileno(), self._on_result)
        await self.label_many([])  # answered once the child is ready

    def label_many(self, articles: Sequence[Article]) -> asyncio.Future[list[Labelled]]:
        future: asyncio.Future[list[Labelled]] = asyncio.get_running_loop().create_future()
        if self._requests is None:
            future.set_exception(ClassifierDied("classifier process not running"))
            return future
        self._requests.send_bytes(orjson.dumps([[a.id, a.title, a.body] for a in articles]))
        self._pending.append(future)
        return future

    def _on_result(self) -> None:
        assert self._results is not None
        try:
            raw = self._results.recv_bytes()
        except (EOFError, OSError) as exc:
            self._fail(f"classifier process exited ({type(exc).__name__}, exit code {self._exitcode()})")
            return
        future = self._pending.popleft()
        if not future.done():  # a chunk dropped after a rebalance cancels its call
            future.set_result(decode_labelled(raw))

    def _exitcode(self) -> int | None:
        if self._process is None:
            return None
        self._process.join(0.5)
        return self._process.exitcode

    def _fail(self, why: str) -> None:
        log.error("%s: failing %d pending chunks", why, len(self._pending))
        if self._results is not None:
            asyncio.get_running_loop().remove_reader(self._results.fileno())
        self._requests = None
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(ClassifierDied(why))

    def close(self) -> None:
        """Stop the child: it ends at the end of its request pipe; killed after 2 s."""
        if self._results is not None:
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # no loop, or already removed
                asyncio.get_running_loop().remove_reader(self._results.fileno())
        for conn in (self._requests, self._results):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._requests = None
        if self._process is not None:
            self._process.join(2.0)
            if self._process.is_alive():
                self._process.kill()


class Labelling:
    """Labels a chunk in the worker's thread, or in the child processes when the chunk is big enough
    to pay for the trip: a backlog's chunks of 256 go to the children, the few articles a live stream
    delivers at a time stay here (through a child, p50 at 500 articles/s measured 30-44 ms against
    18-26 in the thread)."""

    def __init__(
        self,
        labeler: Labeler,
        processes: int,
        taxonomy_file: str | None,
        offload_from: int = OFFLOAD_FROM,
        keep_freed_bytes: int = 0,
        nice: int = 0,
        gc_threshold: int = 0,
    ) -> None:
        self.labeler = labeler
        self.offload_from = offload_from
        self.children = [
            ChildProcess(taxonomy_file, keep_freed_bytes, nice, gc_threshold) for _ in range(processes)
        ]

    async def start(self) -> None:
        await asyncio.gather(*(child.start() for child in self.children))

    def label_many(self, articles: Sequence[Article]) -> Awaitable[list[Labelled]]:
        """Starts labelling at once: in the thread it is done when this returns, in children the
        articles are on their way."""
        if not self.children or len(articles) < self.offload_from:
            done: asyncio.Future[list[Labelled]] = asyncio.get_running_loop().create_future()
            done.set_result(self.labeler.label_many(articles))
            return done
        size = -(-len(articles) // len(self.children))
        calls = [
            child.label_many(articles[at : at + size])
            for child, at in zip(self.children, range(0, len(articles), size), strict=False)
        ]
        return _joined(calls)

    def close(self) -> None:
        for child in self.children:
            child.close()


async def _joined(calls: list[asyncio.Future[list[Labelled]]]) -> list[Labelled]:
    return [done for part in await asyncio.gather(*calls) for done in part]
