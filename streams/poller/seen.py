"""What the poller already published, per feed, kept in one small JSON file across restarts.

Bounded two ways: an item is forgotten ``ttl`` after it was last *in its feed* (every sighting
refreshes it, so an item still listed is never forgotten and re-published), and at most
``max_per_feed`` items are kept per feed (the most recently sighted). The feed's HTTP validators
(ETag, Last-Modified) live here too, so a restarted poller still sends conditional requests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("wirewatch.poller")
STATE_VERSION = 1


@dataclass(slots=True)
class FeedState:
    seen: dict[str, float] = field(default_factory=dict)  # item id -> last sighting (epoch seconds)
    etag: str = ""
    last_modified: str = ""


class SeenStore:
    """Seen item ids and HTTP validators per feed; :meth:`save` writes atomically (rename)."""

    def __init__(self, path: Path, *, ttl_seconds: float, max_per_feed: int) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.max_per_feed = max_per_feed
        self.feeds: dict[str, FeedState] = {}

    @classmethod
    def open(cls, state_dir: str | Path, *, ttl_seconds: float, max_per_feed: int) -> SeenStore:
        """Load ``<state_dir>/seen.json``; an unreadable file is set aside, never a crash."""
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        store = cls(directory / "seen.json", ttl_seconds=ttl_seconds, max_per_feed=max_per_feed)
        if store.path.exists():
            try:
                store.feeds = _decode(json.loads(store.path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                aside = store.path.with_suffix(".corrupt")
                store.path.replace(aside)
                log.warning(
                    "poller state %s unreadable (%s): moved to %s, starting empty", store.path, exc, aside
                )
        return store

    def feed(self, name: str) -> FeedState:
        return self.feeds.setdefault(name, FeedState())

    def unseen(self, name: str, ids: Iterable[str]) -> list[str]:
        seen = self.feed(name).seen
        return [i for i in ids if i not in seen]

    def mark(self, name: str, ids: Iterable[str], now: float) -> None:
        """Record a sighting of each id (published now, or still listed in the feed)."""
        seen = self.feed(name).seen
        for item in ids:
            seen[item] = now

    def set_validators(self, name: str, etag: str, last_modified: str) -> None:
        state = self.feed(name)
        state.etag, state.last_modified = etag, last_modified

    def touch_listed(self, name: str, now: float) -> None:
        """A 304: the document is the one last fetched, so every item it listed was sighted again.

        Those items share the last sighting time (one :meth:`mark` per fetch); without this a feed
        answering 304 for longer than the TTL would have its items forgotten, then re-published.
        """
        seen = self.feed(name).seen
        if seen:
            latest = max(seen.values())
            for item, when in seen.items():
                if when == latest:
                    seen[item] = now

    def expire(self, now: float) -> int:
        """Drop items past their TTL and beyond the per-feed cap; returns how many were dropped.

        The items of the latest fetch are always kept, even past the cap: dropping one still listed
        would re-publish it on the next poll (a feed's size is bounded by WIREWATCH_POLL_MAX_BYTES).
        """
        dropped = 0
        for state in self.feeds.values():
            before = len(state.seen)
            live = {i: t for i, t in state.seen.items() if now - t <= self.ttl_seconds}
            if len(live) > self.max_per_feed:
                latest = max(live.values())
                listed = {i: t for i, t in live.items() if t == latest}
                room = max(0, self.max_per_feed - len(listed))
                older = sorted(((i, t) for i, t in live.items() if t != latest), key=lambda kv: kv[1])
                live = {**dict(older[len(older) - room :] if room else []), **listed}
            state.seen = live
            dropped += before - len(live)
        return dropped

    def entries(self) -> int:
        return sum(len(s.seen) for s in self.feeds.values())

    def save(self) -> None:
        doc = {
            "version": STATE_VERSION,
            "feeds": {
                name: {"etag": s.etag, "last_modified": s.last_modified, "seen": s.seen}
                for name, s in sorted(self.feeds.items())
            },
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.path)  # a crash mid-write leaves the previous state, never half a file


def _decode(doc: Any) -> dict[str, FeedState]:
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ValueError("not a poller state file of version 1")
    feeds: dict[str, FeedState] = {}
    for name, raw in doc["feeds"].items():
        seen = {str(k): float(v) for k, v in raw.get("seen", {}).items()}
        feeds[str(name)] = FeedState(
            seen=seen, etag=str(raw.get("etag", "")), last_modified=str(raw.get("last_modified", ""))
        )
    return feeds
