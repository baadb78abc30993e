"""Adapters between the domain's plain mappings and Faust tables."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any


class TableStore(MutableMapping[str, bytes]):
    """A ``str -> bytes`` view of a Faust table whose keys and values are raw bytes.

    The domain's :class:`StoryIndex` keeps all its state in a mapping; backing it with a table gives
    that state a changelog topic, so a restarted worker recovers it before it reads new input.
    Raw bytes both ways avoid a JSON round trip per key on the hot path.
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> bytes:
        value = self._table.get(key.encode())
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        k = key.encode()
        if k not in self._table:
            raise KeyError(key)
        del self._table[k]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.encode() in self._table

    def get(self, key: str, default: Any = None) -> Any:
        value = self._table.get(key.encode())
        return default if value is None else bytes(value)

    def __iter__(self) -> Iterator[str]:
        for key in list(self._table.keys()):
            yield key.decode() if isinstance(key, bytes | bytearray) else str(key)

    def __len__(self) -> int:
        return len(self._table)
