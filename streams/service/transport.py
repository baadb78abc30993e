"""Faust's Kafka transport with two changes: the consumer's fetch wait is a setting, and the records of
a *batch topic* reach the service one fetched batch at a time instead of one event at a time.

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
"""

from __future__ import annotations

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


def app_class(fetch_max_wait_ms: int) -> type[BatchApp]:
    """:class:`BatchApp` on :func:`transport_class`; a class, because Faust may build the transport
    while the app itself is being constructed."""
    transport = transport_class(fetch_max_wait_ms)

    class App(BatchApp):
        def _new_transport(self) -> Any:
            return transport(self.conf.broker_consumer, self)

    return App


def transport_class(fetch_max_wait_ms: int) -> type[driver.Transport]:
    """The aiokafka transport whose worker consumer waits at most ``fetch_max_wait_ms`` per fetch and
    delivers batch topics in batches."""

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher; Faust passes no other way.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(BatchDeliveringConsumer):
        def _new_consumer_thread(self) -> Any:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport


class BatchDeliveringConsumer(driver.Consumer):
    """Faust's aiokafka consumer whose fetch loop delivers batch topics a partition batch at a time."""

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
                    # Fetched while a rebalance stopped the flow: read again from the committed offsets.
                    try:
                        await self.perform_seek()
                    except Exception as exc:  # Faust's own loop logs and goes on, and so do we
                        self.log.warning("seek while the flow is stopped failed: %r", exc)
                    continue
                generation = app.consumer_generation_id
                for tp, batch in records.items():
                    if not self.flow_active or app.consumer_generation_id != generation:
                        break  # a rebalance began: Faust seeks back to the committed offsets
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
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
