"""The articles the consumer has fetched and the agent has not taken yet."""

from __future__ import annotations

import asyncio
from collections import deque

from faust.types import Message


class Inbox:
    """Fetched partition batches, merged while they wait, bounded by records.

    A live stream is fetched a few records at a time: queued one batch each, with a bound counted in
    batches, four of them filled the queue and held the next fetch back, and every tiny batch paid
    the per-chunk costs on its own. Here a batch of the same partition and consumer generation as the
    last waiting one joins it (the agent drops a batch fetched before a rebalance whole, so one must
    never hold both), and the fetch loop waits only once ``max_records`` records are waiting.
    """

    def __init__(self, max_records: int) -> None:
        self.max_records = max_records
        self._batches: deque[list[Message]] = deque()
        self._records = 0
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return self._records

    def empty(self) -> bool:
        return not self._batches

    async def put(self, messages: list[Message]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._records < self.max_records)
            last = self._batches[-1] if self._batches else None
            if (
                last is not None
                and last[-1].tp == messages[0].tp
                and last[-1].generation_id == messages[0].generation_id  # one generation a batch
            ):
                last.extend(messages)
            else:
                self._batches.append(list(messages))
            self._records += len(messages)
            self._changed.notify_all()

    async def get(self) -> list[Message]:
        """Everything waiting of the oldest partition batch."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._batches))
            batch = self._batches.popleft()
            self._records -= len(batch)
            self._changed.notify_all()
            return batch
