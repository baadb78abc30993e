"""Structural checks for the hand-labelled evaluation set and the replay sample.

Only stdlib + pycountry + pytest: these tests must run in CI without the service.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pycountry
import pytest

from streams.domain.model import REQUIRED_THREAT_TYPES

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"
EVAL_PATH = DATA / "eval" / "labelled.jsonl"
REPLAY_PATH = DATA / "replay_sample.jsonl"

THREATS = REQUIRED_THREAT_TYPES
#: Not in ISO 3166-1 but in general use (EU, IMF, CLDR) for Kosovo; documented in eval/README.md.
EXTRA_COUNTRY_CODES = frozenset({"XK"})
REQUIRED = ("id", "source", "published_at", "language", "title", "body", "labels")
ID_RE = re.compile(r"^eval-\d{3,}$")
ISO_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

MIN_ARTICLES = 160
MIN_PER_THREAT = 8
MIN_COUNTRIES = 45
MIN_NO_THREAT = 40


def _load_eval() -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(EVAL_PATH.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"line {lineno}: blank line"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            pytest.fail(f"line {lineno}: invalid JSON: {exc}")
        assert isinstance(obj, dict), f"line {lineno}: not a JSON object"
        rows.append(obj)
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _load_eval()


def _is_country(code: str) -> bool:
    return code in EXTRA_COUNTRY_CODES or pycountry.countries.get(alpha_2=code) is not None


def test_required_fields_and_types(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        rid = r.get("id")
        for key in REQUIRED:
            assert key in r, f"{rid}: missing {key!r}"
        for key in ("id", "source", "published_at", "language", "title", "body"):
            assert isinstance(r[key], str) and r[key].strip(), f"{rid}: {key!r} must be a non-empty string"
        assert r["language"] == "en", rid
        assert ISO_Z_RE.match(r["published_at"]), f"{rid}: published_at {r['published_at']!r}"
        datetime.strptime(r["published_at"], "%Y-%m-%dT%H:%M:%SZ")
        labels = r["labels"]
        assert isinstance(labels, dict) and set(labels) == {"countries", "threats"}, rid
        assert isinstance(labels["countries"], list) and isinstance(labels["threats"], list), rid


def test_ids_unique_and_well_formed(rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    bad = [i for i in ids if not ID_RE.match(i)]
    assert not bad, f"malformed ids: {bad}"


def test_country_codes_valid(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        countries = r["labels"]["countries"]
        assert countries, f"{r['id']}: every article is about at least one country"
        assert len(set(countries)) == len(countries), f"{r['id']}: duplicate country"
        for code in countries:
            assert isinstance(code, str) and re.fullmatch(r"[A-Z]{2}", code), f"{r['id']}: {code!r}"
            assert _is_country(code), f"{r['id']}: {code!r} is not an ISO 3166-1 alpha-2 code"


def test_threat_ids_valid(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        threats = r["labels"]["threats"]
        assert len(set(threats)) == len(threats), f"{r['id']}: duplicate threat"
        unknown = set(threats) - THREATS
        assert not unknown, f"{r['id']}: unknown threat ids {sorted(unknown)}"


def test_body_length(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        n = len(r["body"].split())
        assert 80 <= n <= 400, f"{r['id']}: body has {n} words"


def test_no_duplicate_texts(rows: list[dict[str, Any]]) -> None:
    titles = Counter(r["title"] for r in rows)
    bodies = Counter(r["body"] for r in rows)
    assert max(titles.values()) == 1
    assert max(bodies.values()) == 1


def test_coverage(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= MIN_ARTICLES
    per_threat = Counter(t for r in rows for t in r["labels"]["threats"])
    thin = {t: per_threat.get(t, 0) for t in THREATS if per_threat.get(t, 0) < MIN_PER_THREAT}
    assert not thin, f"threat types with fewer than {MIN_PER_THREAT} articles: {thin}"
    countries = {c for r in rows for c in r["labels"]["countries"]}
    assert len(countries) >= MIN_COUNTRIES
    assert sum(1 for r in rows if not r["labels"]["threats"]) >= MIN_NO_THREAT


# --- replay sample -----------------------------------------------------------------------------


def _replay_lines() -> list[str]:
    return REPLAY_PATH.read_text(encoding="utf-8").splitlines()


def _valid_article(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("id", "title", "body")):
        return None
    return obj


def test_replay_sample_shape() -> None:
    lines = _replay_lines()
    assert 25 <= len(lines) <= 40
    articles = [a for a in map(_valid_article, lines) if a is not None]
    # exactly three deliberately malformed lines: bad JSON, object without "body", a JSON array
    assert len(lines) - len(articles) == 3
    kinds = []
    for line in lines:
        if _valid_article(line) is not None:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            kinds.append("invalid_json")
            continue
        kinds.append("array" if isinstance(obj, list) else "missing_body" if "body" not in obj else "other")
    assert sorted(kinds) == ["array", "invalid_json", "missing_body"]


def test_replay_sample_duplicates() -> None:
    articles = [a for a in map(_valid_article, _replay_lines()) if a is not None]
    exact = Counter(json.dumps(a, sort_keys=True) for a in articles)
    assert sum(n - 1 for n in exact.values()) == 2, "two exact re-sends (same id and content)"
    by_text: dict[tuple[str, str], set[str]] = {}
    for a in articles:
        by_text.setdefault((a["title"], a["body"]), set()).add(a["id"])
    assert sum(1 for ids in by_text.values() if len(ids) > 1) == 1, "one re-send under a new id"
