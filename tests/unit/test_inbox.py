"""The agent's inbox: merged per partition and generation, bounded by records, oldest first."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP, Message

from streams.service.inbox import Inbox

pytestmark = pytest.mark.unit


def batch(partition: int, offsets: range, generation: int = 1) -> list[Message]:
    tp = TP("articles", partition)
    return [
        Message("articles", partition, o, 0.0, 0, None, b"k", b"v", None, tp=tp, generation_id=generation)
        for o in offsets
    ]


def offsets(messages: list[Message]) -> list[tuple[int, int]]:
    return [(m.partition, m.offset) for m in messages]


def test_batches_of_one_partition_merge_others_queue_behind() -> None:
    async def go() -> None:
        inbox = Inbox(max_records=100)
        await inbox.put(batch(0, range(0, 2)))
        await inbox.put(batch(0, range(2, 5)))
        await inbox.put(batch(1, range(0, 2)))
        await inbox.put(batch(0, range(5, 6)))
        assert len(inbox) == 8
        assert offsets(await inbox.get()) == [(0, o) for o in range(5)]
        assert offsets(await inbox.get()) == [(1, 0), (1, 1)]
        assert offsets(await inbox.get()) == [(0, 5)]
        assert inbox.empty() and len(inbox) == 0

    asyncio.run(go())


def test_a_new_generation_never_joins_an_old_batch() -> None:
    """The agent drops a batch fetched before a rebalance whole: merged, the new records would go too."""

    async def go() -> None:
        inbox = Inbox(max_records=100)
        await inbox.put(batch(0, range(0, 3), generation=1))
        await inbox.put(batch(0, range(0, 3), generation=2))
        assert [m.generation_id for m in await inbox.get()] == [1, 1, 1]
        assert [m.generation_id for m in await inbox.get()] == [2, 2, 2]

    asyncio.run(go())


def test_the_fetch_loop_waits_while_the_inbox_is_full() -> None:
    async def go() -> None:
        inbox = Inbox(max_records=4)
        await inbox.put(batch(0, range(0, 4)))
        blocked = asyncio.create_task(inbox.put(batch(1, range(0, 2))))
        await asyncio.sleep(0.05)
        assert not blocked.done() and len(inbox) == 4
        assert len(await inbox.get()) == 4
        await asyncio.wait_for(blocked, 1)
        assert offsets(await inbox.get()) == [(1, 0), (1, 1)]

    asyncio.run(go())
