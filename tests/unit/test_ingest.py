"""Ingest validation: precise reasons, and agreement with schemas/article.json."""

from __future__ import annotations

from collections.abc import Callable

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.ingest import Rejection, is_rfc3339, parse_article, parse_timestamp
from streams.domain.model import Article

pytestmark = pytest.mark.unit


def reason(raw: bytes, limit: int = 10_000) -> str | None:
    result = parse_article(raw, limit)
    return result.reason if isinstance(result, Rejection) else None


def test_valid_article_keeps_extra_fields() -> None:
    raw = orjson.dumps({"id": "a1", "title": "T", "body": "B", "source": "AP", "desk": "asia", "n": [1]})
    art = parse_article(raw, 10_000)
    assert isinstance(art, Article)
    assert art.source == "AP" and art.extra == {"desk": "asia", "n": [1]}
    assert art.to_dict() == orjson.loads(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"x" * 20_001, "too_large"),
        (b'{"id": "a", "title": "\xff\xfe", "body": "b"}', "not_utf8"),
        (b'{"id": "a", "title": "t"', "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "not_object"),
        (b'"just a string"', "not_object"),
        (b'{"id": "a", "title": "t"}', "schema_violation"),
        (b'{"id": 7, "title": "t", "body": "b"}', "schema_violation"),
        (b'{"id": "", "title": "t", "body": "b"}', "schema_violation"),
        (b'{"id": "a", "title": "t", "body": "b", "published_at": "2026-13-01"}', "schema_violation"),
        (b'{"id": "a", "title": "t", "body": "b", "source": 5}', "schema_violation"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_rejection_reasons(raw: bytes, expected: str) -> None:
    assert reason(raw, 20_000) == expected


def test_rejection_message_names_the_field_and_keeps_the_id() -> None:
    result = parse_article(b'{"id": "a9", "title": 3}', 10_000)
    assert isinstance(result, Rejection)
    assert "'title' must be a string" in result.message
    assert "missing required field 'body'" in result.message
    assert result.article_id == "a9"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-04-15T06:12:00Z", True),
        ("2026-04-15T06:12:00.123+09:00", True),
        ("2026-04-15 06:12:00Z", True),
        ("2026-04-15T06:12:00", False),  # no offset
        ("2026-04-15", False),
        ("April 15, 2026", False),
        ("2026-04-15T25:12:00Z", False),
    ],
)
def test_rfc3339(value: str, ok: bool) -> None:
    assert is_rfc3339(value) is ok


def test_parse_timestamp() -> None:
    assert parse_timestamp("1970-01-01T00:00:10Z") == 10.0
    assert parse_timestamp(None) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
article_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=12), json_values),
        "title": st.one_of(st.text(max_size=12), json_values),
        "body": st.one_of(st.text(max_size=12), json_values),
        "source": st.one_of(st.text(max_size=5), json_values),
        "published_at": st.one_of(st.just("2026-04-15T06:12:00Z"), st.text(max_size=25)),
        "extra": json_values,
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(doc=article_like)
def test_hand_written_validator_agrees_with_schema(
    doc: dict[str, object], contract: Callable[[str, object], None]
) -> None:
    accepted = isinstance(parse_article(orjson.dumps(doc), 1_000_000), Article)
    try:
        contract("article", doc)
        schema_ok = True
    except jsonschema.ValidationError:
        schema_ok = False
    assert accepted == schema_ok, doc
