"""The journaled dedup store: one journal entry per commit, bounded by retention, rebuilt on restart."""

from __future__ import annotations

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


def test_entries_past_retention_are_deleted() -> None:
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=50)
    for t in range(0, 200, 10):
        store[f"k{t}"] = b"x"
        store.commit(now=t)
    assert len(journal) == 6  # entries at 140..190 are within 50 s of 190
    assert store.journal_entries == 6


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.none() | st.binary(max_size=8)), max_size=40))
def test_replay_equals_live_state(ops: list[tuple[str, bytes | None]]) -> None:
    journal: dict[bytes, bytes] = {}
    store = JournaledStore(journal, retention_seconds=1e9)
    for i, (key, value) in enumerate(ops):
        if value is None:
            store.pop(key, None)
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
