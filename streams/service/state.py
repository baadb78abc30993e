"""Durable dedup state for the service: an in-memory store journaled into a changelogged Faust table.

The story index touches ~35 keys per article (band lists, bucket bookkeeping). Written one by one to
a Faust table that is ~35 changelog records per article, and Faust produces each record separately:
measured at ~26 articles/s end to end. Instead the index works on a plain dict, and the mutations of
each :meth:`commit` (the service commits every chunk of articles) become one journal entry ``j:<seq>``
in the table (its changelog is what a restarted worker recovers from), or several in sequence where
one would pass ``max_entry_bytes``: an entry holds each posting list it touched whole, up to 16 ids of
up to 512 characters, and with long ids (URLs) a chunk of 64 wrote entries of up to 2 MB, over the
producer's 1 MB request limit (the worker crashed on the first). A crash may keep some of a split
commit's entries and not the rest; the chunk is then read again, and the story index already treats
an id whose ``a:`` record is missing as absent (a posting list may name it). Journal entries older
than the dedup window are deleted, so the changelog stays bounded by the window like the state
itself. On start the dict is rebuilt by replaying the surviving entries in sequence order.

A worker owning several input partitions keeps one index for all of them, and a Faust table writes
and reads through the *current event's* partition: ``table[key]``, ``key in table`` and ``del`` see
only that partition's store and send the tombstone to that partition's changelog, while iteration
spans every assigned partition. So an entry's key names the partition it was written to
(``j:<seq>@<partition>``), :meth:`rebuild` reads through ``items()`` (a per-key read of another
partition's entry raised ``KeyError`` and crashed the worker after a rebalance), and an entry is
trimmed only while an event of its own partition is current.

Pure Python over a ``MutableMapping[bytes, bytes]``, so it is unit-tested with a dict for the table.
"""

from __future__ import annotations

import math
import struct
import sys
import time
from array import array
from collections import deque
from collections.abc import Iterator, MutableMapping
from typing import Any

# An entry, one of two layouts (both replay):
# - listed: _HEAD, then per mutation _MUT, its key, its value;
# - packed: _PACKED_HEAD (a NaN where a listed entry has its time, which is never NaN), the keys
#   joined by newlines, the value lengths as int32 (-1: deleted), the values end to end.
# Packed is the usual one: a few C calls for all of a chunk's ~5,000 mutations, where the listed
# layout took a Python loop step each (7 us an article of the worker's busiest thread). Listed is
# kept for commits over ``max_entry_bytes`` (split between mutations) and for a key holding a newline.
_HEAD = struct.Struct("<dI")  # entry time, mutation count
_MUT = struct.Struct("<Hi")  # key length, value length (-1: deleted)
_PACKED = b"WWJ2\x00\x00\xf8\x7f"  # a quiet NaN as a little-endian double
_PACKED_HEAD = struct.Struct("<8sdII")  # _PACKED, entry time, mutation count, bytes of keys
_PREFIX = b"j:"


class JournaledStore(MutableMapping[str, bytes]):
    """A ``str -> bytes`` store whose changes are journaled, in entries of at most ``max_entry_bytes``
    per :meth:`commit`."""

    def __init__(
        self,
        journal: MutableMapping[Any, Any],
        retention_seconds: float,
        max_entry_bytes: int = 512 * 1024,
    ) -> None:
        self._data: dict[str, bytes] = {}
        #: An entry is closed before a mutation would take it past this (one mutation alone may).
        self.max_entry_bytes = max_entry_bytes
        self._pending: dict[str, bytes | None] = {}
        self._journal = journal
        self._retention = retention_seconds
        #: Per partition the entry was written to (None: not known, a plain mapping), oldest first.
        self._entries: dict[int | None, deque[tuple[float, bytes]]] = {}
        self._seq = time.time_ns()
        # The story index reads ~26 keys an article through ``get``: the dict's own method, bound here,
        # spares a Python call each (the one ``_data`` is never replaced, only cleared).
        self.get = self._data.get  # type: ignore[method-assign]

    # --- MutableMapping over the in-memory state
    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._data[key] = value
        self._pending[key] = value

    def update(self, other: Any = (), /, **kwds: bytes) -> None:
        """A dict of changes in two C-level ``dict.update`` calls: the story index writes ~27 keys a
        new article at once, and a Python ``__setitem__`` per key cost more than its work."""
        if type(other) is dict and not kwds:
            self._data.update(other)
            self._pending.update(other)
        else:
            super().update(other, **kwds)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._pending[key] = None

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # --- journal
    @property
    def journal_entries(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def commit(self, now: float, partition: int | None = None) -> int:
        """Write pending changes as journal entries (one, unless it would pass ``max_entry_bytes``)
        and drop entries past retention; returns writes.

        ``partition`` is the one the table writes to now (the current event's); entries written to
        another partition are dropped by a later commit made for that partition."""
        writes = 0
        if self._pending:
            writes += self._write_packed(now, partition) or self._write_listed(now, partition)
            self._pending.clear()
        horizon = now - self._retention
        for owner in {partition, None}:  # entries of unknown partition: as before, where visible
            entries = self._entries.get(owner)
            while entries and entries[0][0] < horizon:
                _, old = entries.popleft()
                if old in self._journal:
                    del self._journal[old]
                    writes += 1
        return writes

    def _write_packed(self, now: float, partition: int | None) -> int:
        """The pending mutations as one packed entry; 0 (nothing written) when they do not fit one
        or a key holds a newline."""
        pending = self._pending
        keys = "\n".join(pending).encode()
        if keys.count(b"\n") != len(pending) - 1:
            return 0
        lengths = array("i", [-1 if v is None else len(v) for v in pending.values()])
        value_bytes = sum(lengths) + lengths.count(-1)  # deletions count -1 each
        if _PACKED_HEAD.size + len(keys) + 4 * len(lengths) + value_bytes > self.max_entry_bytes:
            return 0
        values = b"".join([v for v in pending.values() if v is not None])
        if sys.byteorder == "big":
            lengths.byteswap()
        head = _PACKED_HEAD.pack(_PACKED, now, len(pending), len(keys))
        self._write_entry(now, partition, b"".join([head, keys, lengths.tobytes(), values]))
        return 1

    def _write_listed(self, now: float, partition: int | None) -> int:
        """The pending mutations as listed entries, split between mutations at ``max_entry_bytes``."""
        writes = 0
        limit = self.max_entry_bytes - _HEAD.size
        parts: list[bytes] = []
        add = parts.extend  # no concatenation: a value (up to ~8 KB) is copied once, by the join
        size = count = 0
        for key, value in self._pending.items():
            k = key.encode()
            grows = _MUT.size + len(k) + (0 if value is None else len(value))
            if count and size + grows > limit:
                self._write_entry(now, partition, b"".join([_HEAD.pack(now, count), *parts]))
                writes += 1
                parts, size, count = [], 0, 0
                add = parts.extend
            if value is None:
                add((_MUT.pack(len(k), -1), k))
            else:
                add((_MUT.pack(len(k), len(value)), k, value))
            size += grows
            count += 1
        self._write_entry(now, partition, b"".join([_HEAD.pack(now, count), *parts]))
        return writes + 1

    def _write_entry(self, now: float, partition: int | None, raw: bytes) -> None:
        """One journal entry; entries replay in the order of their keys."""
        self._seq = max(self._seq + 1, time.time_ns())
        entry = b"%s%020d" % (_PREFIX, self._seq)
        if partition is not None:
            entry += b"@%d" % partition
        self._journal[entry] = raw
        self._entries.setdefault(partition, deque()).append((now, entry))

    def rebuild(self) -> int:
        """Replay the journal (after the table recovered) into memory; returns entries replayed."""
        return sum(1 for _ in self.replay())

    def replay(self) -> Iterator[None]:
        """:meth:`rebuild` one journal entry at a time, yielding after each: the worker's
        consumer, heartbeats and ``/metrics`` share its event loop, and a full default window
        (~50k articles, ~780 entries) took 2 s to replay in one go."""
        self._data.clear()
        self._pending.clear()
        self._entries.clear()
        # items(), not a read per key: a table reads a key from the current event's partition only.
        found = sorted((bytes(k), bytes(v)) for k, v in self._journal.items() if bytes(k).startswith(_PREFIX))
        for entry, raw in found:
            at = self._apply_packed(raw) if raw.startswith(_PACKED) else self._apply_listed(raw)
            seq, _, part = entry[len(_PREFIX) :].partition(b"@")
            self._entries.setdefault(int(part) if part else None, deque()).append((at, entry))
            self._seq = max(self._seq, int(seq))
            yield

    def _apply_packed(self, raw: bytes) -> float:
        """Apply a packed entry to the state; returns its time."""
        _, at, count, key_bytes = _PACKED_HEAD.unpack_from(raw, 0)
        pos = _PACKED_HEAD.size
        keys = raw[pos : pos + key_bytes].decode().split("\n")
        pos += key_bytes
        lengths = array("i", raw[pos : pos + 4 * count])
        if sys.byteorder == "big":
            lengths.byteswap()
        pos += 4 * count
        data = self._data
        for key, n in zip(keys, lengths, strict=True):
            if n < 0:
                data.pop(key, None)
            else:
                data[key] = raw[pos : pos + n]
                pos += n
        return float(at)

    def _apply_listed(self, raw: bytes) -> float:
        """Apply a listed entry to the state; returns its time."""
        at, count = _HEAD.unpack_from(raw, 0)
        if math.isnan(at):
            raise ValueError("journal entry of an unknown layout")
        pos = _HEAD.size
        for _ in range(count):
            klen, vlen = _MUT.unpack_from(raw, pos)
            pos += _MUT.size
            key = raw[pos : pos + klen].decode()
            pos += klen
            if vlen < 0:
                self._data.pop(key, None)
            else:
                self._data[key] = raw[pos : pos + vlen]
                pos += vlen
        return float(at)
