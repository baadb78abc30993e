"""Faust's Kafka transport with three changes: the consumer's fetch wait is a setting, the records of
a *batch topic* reach the service one fetched batch at a time instead of one event at a time, and
the consumer runs in the worker's event loop instead of a thread of its own.

Fetch wait: faust-streaming 0.15 builds the worker's consumer with ``fetch_max_wait_ms=1500``, fixed.
aiokafka has one fetch in flight per broker and leaves a partition out of it while records of that
partition are still buffered, so a fetch sent for the other assigned partitions (the dedup table's
changelog, idle) waits the full 1.5 s on the broker while new articles queue behind it. Measured on a
backlog of 1,000 articles: 402 and 444 articles/s with 1,500 ms, 648 and 683 with 50 ms. An idle worker
then polls every ``WIREWATCH_FETCH_MAX_WAIT_MS``: 20 small requests a second at 50 ms.

Batch delivery: Faust hands every record to its conductor on its own, through ``wait_first`` (four
tasks and an ``asyncio.wait`` per record), a channel queue, an ``Event`` and the stream's per-event
bookkeeping: the trivial Faust passthrough agent spends more per record on that than Wirewatch's whole
pipeline does on an article. A topic named in ``App.batch_sinks`` skips all of it: the fetch loop below
hands each partition's fetched records, as Faust's ``ConsumerMessage`` objects, to the sink in one call.
Everything else Faust keeps doing: group membership and assignment, table recovery and changelogs,
offset commits of what the sink acks (``Consumer.ack``), transactions, flow control on rebalance, and
the per-record path for every other topic (the changelogs).

Consumer in the loop: Faust serves aiokafka from a second thread with its own event loop, and every
fetch is a round trip to it (a method queue there, a future back), each leg waiting for the GIL
while the main thread classifies; the sockets' own sends and receives wait for it too. At 500
articles/s that put p50 publish-to-output at 17-24 ms and p99 at 46-70; in the loop, 10-13 and
29-41 (alternated runs, docs/benchmarks.md), at the same drain rate. aiokafka's heartbeats then
share the loop with the agent, whose steps stay short (a chunk of up to 256; the dedup index is rebuilt
one journal entry at a time). ``WIREWATCH_CONSUMER_THREAD=1`` restores Faust's thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

#: Receives one partition's fetched records, in offset order; acks them through ``Consumer.ack``.
BatchSink = Callable[[TP, list[Message]], Awaitable[None]]


class BatchApp(faust.App):
    """A Faust app whose consumer delivers the topics of :attr:`batch_sinks` in batches."""

    #: Topic name -> sink: records of these topics bypass Faust's per-event path.
    batch_sinks: dict[str, BatchSink]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.batch_sinks = {}
        super().__init__(*args, **kwargs)


def app_class(fetch_max_wait_ms: int, consumer_thread: bool = False) -> type[BatchApp]:
    """:class:`BatchApp` on :func:`transport_class`; a class, because Faust may build the transport
    while the app itself is being constructed."""
    transport = transport_class(fetch_max_wait_ms, consumer_thread)

    class App(BatchApp):
        def _new_transport(self) -> Any:
            return transport(self.conf.broker_consumer, self)

    return App


def transport_class(fetch_max_wait_ms: int, consumer_thread: bool = False) -> type[driver.Transport]:
    """The aiokafka transport whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch,
    delivers batch topics in batches, and runs in the worker's event loop unless ``consumer_thread``."""
    base = ConsumerThread if consumer_thread else InLoopConsumerThread
    thread_class = type(base.__name__, (base,), {"fetch_max_wait_ms": fetch_max_wait_ms})

    class Consumer(BatchDeliveringConsumer):
        def _new_consumer_thread(self) -> Any:
            return thread_class(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, with the fetch wait of the transport."""

    fetch_max_wait_ms: int = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher; Faust passes no other way.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class InLoopConsumerThread(ConsumerThread):
    """Faust's consumer "thread" as tasks of the worker's own event loop: no thread, no hops.

    Every ``call_thread`` is a plain call; mode's ``ServiceThread`` otherwise does what it does in a
    thread (start, the method queue for rebalance callbacks, stop), on the one loop."""

    _serving: asyncio.Future[None] | None = None

    def __init__(self, consumer: Any, *, loop: asyncio.AbstractEventLoop, beacon: Any) -> None:
        super().__init__(consumer, loop=loop, thread_loop=loop, beacon=beacon)

    async def start(self) -> None:
        self._thread_started.set()
        self._thread_running = asyncio.Future(loop=self.parent_loop)
        self._serving = asyncio.ensure_future(self._serve())  # what the thread would run
        try:
            await self._thread_running  # set once started, or to the error that stopped the start
        finally:
            self._thread_running = None

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = fun(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def _gather_remaining_tasks(self) -> None:
        """A stopping thread cancels every task left on its loop; this loop's are the worker's."""


class BatchDeliveringConsumer(driver.Consumer):
    """Faust's aiokafka consumer whose fetch loop delivers batch topics a partition batch at a time."""

    async def _fetch_again_later(self, tp: TP, offset: int) -> None:
        """Records of a partition paused while they were fetched are skipped, as Faust skips them,
        but not lost: the position is set back to them, so they come again once it is resumed.

        The same for records fetched while a rebalance stopped the flow. Faust relies on seeking to
        the committed offsets then, but aiokafka's ``seek_to_committed`` leaves a partition with no
        committed offset where it is: past records nobody processed. That was the stall of
        ``test_sigkill_during_a_rebalance_with_two_workers``: a worker killed before its first
        commit, the survivor taking its partition over, fetching offsets 0-67 during recovery,
        dropping them, and never reading them again.

        Faust drops them, and the position is already past them. Recovery pauses a standby
        changelog partition while it sets it up, so a record fetched just before was never applied:
        a standby replica missed its first journal entry, and once it took the partition over its
        dedup index lacked the stories of that entry (the takeover fault test, 3 of 4 runs with the
        consumer in the event loop). A seek made meanwhile (recovery's own, to where it reads from)
        is only ever moved back, never forward."""
        if tp not in self.assignment():
            return  # revoked: its next owner reads it from the committed offset
        position = await self.position(tp)
        if position is None or offset < position:
            await self.seek(tp, offset)

    async def _read_again(self, batches: list[tuple[TP, list[Any]]]) -> None:
        """Fetched batches dropped on a rebalance come again from where they start, never from below
        the committed offset (which another owner of the partition may have moved past them)."""
        for tp, batch in batches:
            committed = self._committed_offset.get(tp)
            offset = max(batch[0].offset, committed) if committed else batch[0].offset
            try:
                await self._fetch_again_later(tp, offset)
            except Exception as exc:  # revoked meanwhile: its next owner reads it
                self.log.warning("seek back after a rebalance failed: %r", exc)

    async def _drain_messages(self, fetcher: Any) -> None:  # the Fetcher service's one task
        """Faust's fetch loop with the same bookkeeping per record (read offset, offset gaps for the
        commit, generation and flow checks), but one sink call per partition batch of a batch topic.

        Records of other topics take Faust's own path, one ``callback`` each."""
        sinks: dict[str, BatchSink] = getattr(self.app, "batch_sinks", {})
        callback = self.callback
        app = self.app
        read_offset = self._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        to_message = self._to_message
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                await self.sleep(0)  # a fetch that returns at once must not starve the loop
                if self.should_stop:
                    break
                records, active = await self._wait_next_records(1.0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # Fetched while a rebalance stopped the flow: read again from the committed offsets,
                    # and from these records where there is no committed offset to go back to.
                    try:
                        await self.perform_seek()
                        await self._read_again(list(records.items()))
                    except Exception as exc:  # Faust's own loop logs and goes on, and so do we
                        self.log.warning("seek while the flow is stopped failed: %r", exc)
                    continue
                generation = app.consumer_generation_id
                batches = list(records.items())
                for i, (tp, batch) in enumerate(batches):
                    if not self.flow_active or app.consumer_generation_id != generation:
                        # A rebalance began: Faust seeks back to the committed offsets; these records
                        # come again from there, or from here where nothing was committed.
                        await self._read_again(batches[i:])
                        break
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        await self._fetch_again_later(tp, batch[0].offset)
                        continue
                    app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    acking = acks_enabled_for(tp.topic)
                    messages: list[Message] = []
                    for record in batch:
                        offset = record.offset
                        last = read_offset[tp]
                        if last is not None and offset < last:
                            continue  # read before: Faust drops these too
                        if acking and last and offset - last > 1:
                            # Offsets never delivered (transaction markers, compaction) must not
                            # hold the committed offset back.
                            await self._add_gap(tp, last + 1, offset)
                        read_offset[tp] = offset
                        messages.append(to_message(tp, record))
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    sink = sinks.get(tp.topic)
                    if sink is not None:
                        if messages:
                            await sink(tp, messages)
                        continue
                    for message in messages:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
