"""Turn raw record bytes into an :class:`Article` or a precise reason why not.

Hand-written rather than a per-record jsonschema call: this runs for every input record and a
generic validator costs more than the whole classification. ``tests/unit/test_ingest.py`` checks it
agrees with ``schemas/article.json`` on generated documents.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from streams.domain.model import Article

RejectReason = Literal[
    "too_large", "not_utf8", "invalid_json", "not_object", "schema_violation", "processing_error"
]

_OPTIONAL_STRINGS: Final = ("source", "url", "language")
_TIMESTAMPS: Final = ("published_at", "ingested_at")
_KNOWN: Final = frozenset(("id", "title", "body", *_OPTIONAL_STRINGS, *_TIMESTAMPS))
MAX_ID_LENGTH: Final = 512


@dataclass(slots=True, frozen=True)
class IngestLimits:
    """Bounds on one article beyond its byte size (``WIREWATCH_MAX_*`` settings).

    Depth matters for more than cost: orjson refuses to *encode* past 254 levels, so an unknown field
    nested that deep would pass validation and then fail when the outcome is written.
    """

    max_title_chars: int = 2_000
    max_body_chars: int = 500_000
    max_depth: int = 64


DEFAULT_LIMITS: Final = IngestLimits()


@dataclass(slots=True, frozen=True)
class Rejection:
    """Why a record cannot become an article; becomes a dead letter."""

    reason: RejectReason
    message: str
    article_id: str | None = None


def parse_article(raw: bytes, max_bytes: int, limits: IngestLimits = DEFAULT_LIMITS) -> Article | Rejection:
    """Decode and validate one record value."""
    if len(raw) > max_bytes:
        return Rejection("too_large", f"record is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", f"not valid UTF-8: {exc.reason} at byte {exc.start}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection("invalid_json", f"invalid JSON: {exc}")
    return article_from_obj(doc, limits)


def article_from_obj(doc: Any, limits: IngestLimits = DEFAULT_LIMITS) -> Article | Rejection:
    """Validate an already-decoded JSON value against the article contract."""
    if not isinstance(doc, dict):
        return Rejection("not_object", f"expected a JSON object, got {_json_type(doc)}")
    raw_id = doc.get("id")
    article_id = raw_id if isinstance(raw_id, str) else None
    problems: list[str] = []
    for key in ("id", "title", "body"):
        value = doc.get(key)
        if value is None:
            problems.append(f"missing required field '{key}'")
        elif not isinstance(value, str):
            problems.append(f"'{key}' must be a string, got {_json_type(value)}")
    if article_id is not None and not article_id:
        problems.append("'id' must not be empty")
    if article_id is not None and len(article_id) > MAX_ID_LENGTH:
        problems.append(f"'id' is longer than {MAX_ID_LENGTH} characters")
        article_id = article_id[:MAX_ID_LENGTH]
    problems.extend(
        f"'{key}' must be a string, got {_json_type(doc[key])}"
        for key in _OPTIONAL_STRINGS
        if key in doc and not isinstance(doc[key], str)
    )
    for key in _TIMESTAMPS:
        if key in doc:
            value = doc[key]
            if not isinstance(value, str):
                problems.append(f"'{key}' must be an RFC 3339 string, got {_json_type(value)}")
            elif not is_rfc3339(value):
                problems.append(f"'{key}' is not an RFC 3339 timestamp: {value[:40]!r}")
    for key, limit in (("title", limits.max_title_chars), ("body", limits.max_body_chars)):
        value = doc.get(key)
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"'{key}' is {len(value)} characters, over the {limit}-character limit")
    if problems:
        return Rejection("schema_violation", "; ".join(problems), article_id)
    extra = {k: v for k, v in doc.items() if k not in _KNOWN}
    if extra and _deeper_than(extra, limits.max_depth):
        return Rejection(
            "schema_violation", f"nested deeper than the {limits.max_depth}-level limit", article_id
        )
    return Article(
        id=doc["id"],
        title=doc["title"],
        body=doc["body"],
        source=doc.get("source"),
        url=doc.get("url"),
        published_at=doc.get("published_at"),
        language=doc.get("language"),
        ingested_at=doc.get("ingested_at"),
        extra=extra,
    )


def _deeper_than(obj: dict[str, Any], limit: int) -> bool:
    """True when arrays/objects nest more than ``limit`` levels (the article object is level 1);
    iterative, so no input can exhaust the Python stack."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def is_rfc3339(value: str) -> bool:
    """RFC 3339 date-time: a full date, a time and an explicit offset or Z."""
    if len(value) < 20 or value[10] not in "Tt ":
        return False
    if not (value[-1] in "Zz" or value[-6] in "+-"):
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except ValueError:
        return False
    return True


def parse_timestamp(value: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp already validated by :func:`is_rfc3339`."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value).timestamp()
    except (ValueError, IndexError):
        return None


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
