"""The feeds file: which feeds to poll, how often, and the source label their articles carry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Feed names become metric labels and id prefixes: keep them short and plain.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MIN_INTERVAL_SECONDS = 1.0


class FeedsFileError(ValueError):
    """A feeds file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Feed:
    name: str
    url: str
    interval_seconds: float = 300.0
    source: str = ""

    @property
    def label(self) -> str:
        """The article ``source``: the configured label, else the feed name."""
        return self.source or self.name


def load_feeds(path: str | Path) -> list[Feed]:
    """Parse and validate a feeds YAML file: ``feeds: [{name, url, interval, source}]``."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FeedsFileError(f"{path}: {exc}") from None
    return parse_feeds(raw, source=str(path))


def parse_feeds(raw: Any, source: str = "feeds") -> list[Feed]:
    entries = raw.get("feeds") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FeedsFileError(f"{source}: expected a non-empty `feeds:` list")
    feeds: list[Feed] = []
    for i, entry in enumerate(entries):
        where = f"{source}: feeds[{i}]"
        if not isinstance(entry, dict):
            raise FeedsFileError(f"{where}: expected a mapping")
        unknown = set(entry) - {"name", "url", "interval", "source"}
        if unknown:
            raise FeedsFileError(f"{where}: unknown keys {sorted(unknown)}")
        name, url = entry.get("name"), entry.get("url")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise FeedsFileError(f"{where}: name must match {NAME_RE.pattern}, got {name!r}")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise FeedsFileError(f"{where} ({name}): url must be http(s), got {url!r}")
        interval = entry.get("interval", 300)
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise FeedsFileError(f"{where} ({name}): interval must be seconds, got {interval!r}")
        if interval < MIN_INTERVAL_SECONDS:
            raise FeedsFileError(f"{where} ({name}): interval must be >= {MIN_INTERVAL_SECONDS:g}s")
        label = entry.get("source", "")
        if not isinstance(label, str):
            raise FeedsFileError(f"{where} ({name}): source must be a string")
        feeds.append(Feed(name=name, url=url, interval_seconds=float(interval), source=label))
    names = [f.name for f in feeds]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:  # names key the seen-state and the metrics
        raise FeedsFileError(f"{source}: duplicate feed names {duplicated}")
    return feeds
