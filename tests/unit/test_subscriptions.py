"""Subscription files, validation and matching; alert ids and routing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from streams.domain.alerts import alert_id, route
from streams.domain.labels import Labels
from streams.domain.model import (
    Article,
    CountryLabel,
    Evidence,
    RegionResult,
    Severity,
    ThreatLabel,
    ThreatResult,
)
from streams.domain.subscriptions import Subscription, SubscriptionError, load_subscriptions

pytestmark = pytest.mark.unit


def test_default_file_has_korean_peninsula() -> None:
    book = load_subscriptions()
    kp = book.get("korean-peninsula")
    assert kp is not None
    assert kp.topic == "alerts.korean-peninsula"
    assert kp.countries == {"KP", "KR"}
    assert kp.threats == {"nuclear", "missile", "military_exercise"}
    assert len(book) >= 4


def test_defaults_validate_against_contract(contract: Callable[[str, object], None]) -> None:
    for sub in load_subscriptions():
        contract("subscription", sub.to_dict())


def test_topic_defaults_to_prefix_and_id() -> None:
    assert Subscription.from_dict({"id": "x"}, topic_prefix="a.").topic == "a.x"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"id": "Bad Id"}, "subscription id"),
        ({"id": "x", "countries": ["Korea"]}, "alpha-2"),
        ({"id": "x", "min_severity": "extreme"}, "min_severity"),
        ({"id": "x", "threats": "missile"}, "list of non-empty strings"),
        ({"id": "x", "colour": "red"}, "unknown subscription field"),
        ({"id": "x", "topic": "bad topic!"}, "invalid topic"),
    ],
)
def test_invalid_subscriptions_say_why(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SubscriptionError, match=message):
        Subscription.from_dict(doc)


def test_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text("subscriptions:\n  - id: a\n  - id: a\n")
    with pytest.raises(SubscriptionError, match="duplicate"):
        load_subscriptions(path)
    path.write_text("- id: a\n")
    with pytest.raises(SubscriptionError, match="top-level"):
        load_subscriptions(path)


KP = Subscription.from_dict(
    {"id": "kp", "countries": ["KP", "KR"], "threats": ["missile", "nuclear"], "min_severity": "medium"}
)


def test_match_rules() -> None:
    assert KP.match(["KP"], [], ["missile"], "high", "", "") is not None
    assert KP.match(["KP"], [], ["missile"], "low", "", "") is None  # below min severity
    assert KP.match(["JP"], [], ["missile"], "high", "", "") is None  # wrong place
    assert KP.match(["KP"], [], ["cyber"], "high", "", "") is None  # wrong threat
    assert KP.match(["KP"], [], [], "high", "", "") is None  # no threat, no alert
    anywhere = Subscription.from_dict({"id": "any", "min_severity": "critical"})
    assert anywhere.match([], [], ["cyber"], "critical", "", "") is not None
    region = Subscription.from_dict({"id": "me", "regions": ["Middle East"]})
    assert region.match(["IL"], ["Western Asia", "Middle East"], ["airstrike"], "low", "", "") is not None


def test_keywords_are_whole_words_case_insensitive_with_evidence() -> None:
    sub = Subscription.from_dict({"id": "k", "keywords": ["Hwasong", "ICBM"]})
    match = sub.match([], [], ["missile"], "high", "North fires ICBM", "a hwasong-19 flew")
    assert match is not None
    assert match.keywords == ("icbm", "hwasong")
    assert [(e.field, e.text) for e in match.keyword_evidence] == [("title", "ICBM"), ("body", "hwasong")]
    assert sub.match([], [], ["missile"], "high", "ICBMs", "Hwasongs") is None


def test_alert_id_is_deterministic_per_subscription_and_story() -> None:
    assert alert_id("kp", "s1") == alert_id("kp", "s1")
    assert alert_id("kp", "s1") != alert_id("kp", "s2")
    assert alert_id("kp", "s1") != alert_id("kp2", "s1")
    assert len(alert_id("kp", "s1")) == 32


def test_route_builds_contract_valid_alerts(contract: Callable[[str, object], None]) -> None:
    book = load_subscriptions()
    article = Article("a1", "North Korea fires missile", "SEOUL -- North Korea fired a missile.")
    ev = Evidence("title", 0, 11, "North Korea")
    regions = RegionResult(
        (CountryLabel("KP", "North Korea", 1.0, (ev,)),), "KP", ("Eastern Asia", "Korean Peninsula")
    )
    threats = ThreatResult(
        (ThreatLabel("missile", 0.9, (Evidence("title", 18, 25, "missile"),)),),
        Severity(0.65, "high"),
        "test",
    )
    alerts = route(book, article, "story-1", Labels.of(regions, threats), "2026-04-15T06:12:00.000Z")
    assert [a.subscription.id for a in alerts] == ["korean-peninsula"]
    contract("alert", alerts[0].document)
    doc = orjson.loads(orjson.dumps(alerts[0].document))  # as emitted: the labels are orjson Fragments
    assert alerts[0].level == "high"
    assert doc["alert_id"] == alert_id("korean-peninsula", "story-1")
    assert doc["matched"] == {"places": ["KP"], "threats": ["missile"], "keywords": []}
    assert {"field": "title", "start": 18, "end": 25, "text": "missile"} in doc["evidence"]
    none = ThreatResult((), Severity(0.0, "none"), "test")
    assert route(book, article, "story-1", Labels.of(regions, none), "2026-04-15T06:12:00.000Z") == []


def test_alert_evidence_is_the_first_spans_of_each_matched_label(tmp_path: Path) -> None:
    """An alert's evidence: the first ALERT_EVIDENCE spans of each matched country (of every country
    when the subscription named none), of each matched threat, then the keywords' spans. Over the
    labelled wire set whether or not ``make bench-corpus`` fetched the news corpus (``root``
    without it): the news corpus gives too few alerts in 400 articles."""
    from streams.bench.corpus import articles
    from streams.domain.labels import ALERT_EVIDENCE
    from streams.domain.pipeline import Pipeline

    pipeline = Pipeline(subscriptions=load_subscriptions(), clock=lambda: 1.7e9)
    records = [
        (raw, {"topic": "t", "partition": 0, "offset": i})
        for i, raw in enumerate(articles(400, root=tmp_path))
    ]
    seen = 0
    for outcome in pipeline.process_batch(records):
        for alert in outcome.alerts:
            doc = orjson.loads(orjson.dumps(alert.document))
            places, threats = set(doc["matched"]["places"]), set(doc["matched"]["threats"])
            countries = [c for c in doc["countries"] if c["code"] in places] or doc["countries"]
            expected = [e for c in countries for e in c["evidence"][:ALERT_EVIDENCE]]
            expected += [
                e for t in doc["threats"] if t["type"] in threats for e in t["evidence"][:ALERT_EVIDENCE]
            ]
            assert doc["evidence"][: len(expected)] == expected
            keywords = {k.lower() for k in doc["matched"]["keywords"]}
            assert all(e["text"].lower() in keywords for e in doc["evidence"][len(expected) :])
            assert alert.level == doc["severity"]["level"]
            seen += 1
    assert seen > 100
