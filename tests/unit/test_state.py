"""The journaled dedup store: journal entries per commit, bounded in size and by retention, rebuilt on restart."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.dedup import DedupConfig, StoryIndex, fingerprint
from streams.domain.model import Article
from streams.service.state import JournaledStore

pytestmark = pytest.mark.unit


def test_one_entry_per_commit_and_rebuild_restores_state() -> None:
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=100)
    store["a"] = b"1"
    store["b"] = b"2"
    store["a"] = b"3"
    assert store.commit(now=10) == 1 and len(journal) == 1
    del store["b"]
    store["c"] = b""
    store.commit(now=20)
    assert store.commit(now=21) == 0  # nothing pending, nothing written
    restarted = JournaledStore(journal, retention_seconds=100)
    assert restarted.rebuild() == 2
    assert dict(restarted) == {"a": b"3", "c": b""}
    stepwise = JournaledStore(journal, retention_seconds=100)
    steps = stepwise.replay()
    next(steps)
    assert dict(stepwise) == {"a": b"3", "b": b"2"}  # the first entry alone
    assert sum(1 for _ in steps) == 1 and dict(stepwise) == dict(restarted)


def test_an_entry_spells_each_change_as_documented() -> None:
    """The entry layouts are stored state (a changelog written by one version is replayed by the next).
    Packed, the usual one: ``WWJ2\\0\\0\\xf8\\x7f`` (a NaN where the listed layout has its time),
    ``<dII`` (time, change count, bytes of keys), the keys' UTF-8 joined by newlines, per change its
    value length as ``<i`` (-1 for a deletion), the values end to end."""
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=100)
    store["a:é"] = b"xyz"
    store["gone"] = b"1"
    del store["gone"]
    store["e"] = b""
    store.commit(now=10.5)
    (raw,) = journal.values()
    keys = "a:é\ngone\ne".encode()
    expected = (
        b"WWJ2\0\0\xf8\x7f" + struct.pack("<dII", 10.5, 3, len(keys)) + keys
        + struct.pack("<iii", 3, -1, 0) + b"xyz"
    )  # fmt: skip
    assert raw == expected


def test_a_key_with_a_newline_is_written_listed_and_the_previous_versions_entries_replay() -> None:
    """Listed, the layout every entry had before the packed one: ``<dI`` (time, change count), then per
    change ``<Hi`` (key length, value length or -1), the key's UTF-8 and the value. A key holding a
    newline cannot be packed and is written so; a changelog of listed entries replays into the same
    state, interleaved with packed ones."""
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=100)
    store["a:x\ny"] = b"v"
    store.commit(now=7.0)
    (raw,) = journal.values()
    assert raw == struct.pack("<dI", 7.0, 1) + struct.pack("<Hi", 5, 1) + b"a:x\nyv"
    store["b"] = b"2"
    del store["a:x\ny"]
    store.commit(now=8.0)  # packed
    restarted = JournaledStore(journal, retention_seconds=100)
    assert restarted.rebuild() == 2 and dict(restarted) == {"b": b"2"}
    journal[b"j:%020d" % 1] = struct.pack("<dI", 1.0, 1) + struct.pack("<Hi", 1, 3) + b"zold"  # first
    assert restarted.rebuild() == 3 and dict(restarted) == {"b": b"2", "z": b"old"}


def test_an_entry_of_an_unknown_layout_is_refused() -> None:
    journal = {b"j:%020d" % 1: struct.pack("<dI", float("nan"), 0)}
    with pytest.raises(ValueError, match="unknown layout"):
        JournaledStore(journal, retention_seconds=100).rebuild()


def test_a_commit_too_big_for_one_entry_writes_several_under_the_limit() -> None:
    """Posting lists of long ids made a chunk's entry pass the producer's 1 MB request limit, and the
    worker crashed (``test_long_article_ids_keep_every_journal_entry_under_the_record_limit``)."""
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=100, max_entry_bytes=1000)
    for i in range(40):
        store[f"b:{i}"] = b"x" * 90
    store["huge"] = b"y" * 3000  # more than a whole entry: alone in one
    del store["b:3"]
    assert store.commit(now=10) == len(journal) > 4
    sizes = sorted(len(raw) for raw in journal.values())
    assert sizes[-1] > 3000 and all(size <= 1000 for size in sizes[:-1])
    restarted = JournaledStore(journal, retention_seconds=100)
    assert restarted.rebuild() == len(journal)
    assert dict(restarted) == dict(store) and "b:3" not in restarted
    assert store.journal_entries == len(journal)
    store.commit(now=200)  # every entry of the split commit expires with it
    assert not journal


def test_entries_past_retention_are_deleted() -> None:
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=50)
    for t in range(0, 200, 10):
        store[f"k{t}"] = b"x"
        store.commit(now=t)
    assert len(journal) == 6  # entries at 140..190 are within 50 s of 190
    assert store.journal_entries == 6


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.none() | st.binary(max_size=60) | st.integers(1, 3)),
        max_size=40,
    ),
    st.one_of(st.integers(min_value=16, max_value=200), st.just(512 * 1024)),
)
def test_replay_equals_live_state(ops: list[tuple[str, bytes | int | None]], max_entry_bytes: int) -> None:
    """Deletions, single writes and ``update`` with a dict (the index's bulk write) replay alike,
    whether a commit writes one entry or is split into several."""
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=1e9, max_entry_bytes=max_entry_bytes)
    for i, (key, value) in enumerate(ops):
        if value is None:
            store.pop(key, None)
        elif isinstance(value, int):
            store.update({f"{key}{j}": b"%d" % i for j in range(value)})
        else:
            store[key] = value
        if i % 3 == 0:
            store.commit(now=float(i))
    store.commit(now=1e6)
    restarted = JournaledStore(journal, retention_seconds=1e9)
    restarted.rebuild()
    assert dict(restarted) == dict(store)


def test_story_index_survives_a_restart_through_the_journal() -> None:
    cfg = DedupConfig()
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=cfg.window_seconds + 2 * cfg.bucket_seconds)
    index = StoryIndex(cfg, store=store)
    first = Article(
        "a1", "Quake strikes coast", "A strong earthquake struck the coast on Monday, officials said. " * 6
    )
    index.offer(first, fingerprint(first, cfg), now=1000.0, delivery="t/0/1")
    store.commit(1000.0)
    assert len(journal) == 1  # one journal entry for all the keys the offer touched

    restarted_store = JournaledStore(journal, retention_seconds=cfg.window_seconds)
    restarted_store.rebuild()
    restarted = StoryIndex(cfg, store=restarted_store)
    copy = Article("a2", first.title, first.body)
    verdict = restarted.offer(copy, fingerprint(copy, cfg), now=1100.0, delivery="t/0/2")
    assert verdict.duplicate_of == "a1" and verdict.story_id == "a1"


class PartitionedTable(dict):  # type: ignore[type-arg]
    """A Faust table as the journal sees it: reads, membership and deletes go to the current event's
    partition only (and a delete's tombstone to that partition's changelog), iteration spans every
    partition. Values are kept as ``(partition, value)``."""

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.tombstones: list[tuple[int, bytes]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        super().__setitem__(key, (self.current, value))

    def __getitem__(self, key: bytes) -> bytes:
        part, value = super().__getitem__(key)
        if part != self.current:
            raise KeyError(key)  # faust/stores/rocksdb.py::_get with a current event
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) and super().__getitem__(key)[0] == self.current

    def __delitem__(self, key: bytes) -> None:
        super().__delitem__(key)
        self.tombstones.append((self.current, key))

    def items(self):  # type: ignore[no-untyped-def]
        return [(k, v) for k, (_, v) in super().items()]


def test_rebuild_reads_entries_of_every_partition() -> None:
    """A worker that owns two partitions after a rebalance rebuilds from both changelogs; a per-key
    read of the other partition's entries raised KeyError and crashed the worker."""
    table = PartitionedTable()
    store = JournaledStore(table, retention_seconds=1e9)
    for i, part in enumerate([0, 1, 0, 1]):
        table.current = part
        store[f"k{i}"] = b"%d" % i
        store["shared"] = b"%d" % i  # the last write, in partition 1, must win
        store.commit(now=float(i), partition=part)
    table.current = 1
    restarted = JournaledStore(table, retention_seconds=1e9)
    assert restarted.rebuild() == 4
    assert dict(restarted) == {"k0": b"0", "k1": b"1", "k2": b"2", "k3": b"3", "shared": b"3"}
    assert restarted.journal_entries == 4


def test_an_entry_is_trimmed_only_in_its_own_partition() -> None:
    """Its tombstone must go to the changelog partition the entry was written to, or that
    partition's changelog keeps it for ever (compaction never sees a delete for it)."""
    table = PartitionedTable()
    store = JournaledStore(table, retention_seconds=10)
    table.current = 0
    store["a"] = b"1"
    store.commit(now=0.0, partition=0)
    table.current = 1
    store["b"] = b"1"
    store.commit(now=100.0, partition=1)  # partition 0's entry is past retention, but not current
    assert table.tombstones == [] and len(table) == 2
    table.current = 0
    store["c"] = b"1"
    store.commit(now=101.0, partition=0)
    assert [(part, key.split(b"@")[1]) for part, key in table.tombstones] == [(0, b"0")]
    assert len(table) == 2  # partition 1's entry of t=100 and partition 0's of t=101
