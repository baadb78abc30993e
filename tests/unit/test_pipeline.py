"""The whole in-process pipeline: one outcome per record, contract-valid output, the seed case."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.domain.model import Article, RegionResult
from streams.domain.pipeline import Outcome, Pipeline, utc_iso
from streams.domain.subscriptions import load_subscriptions

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(subscriptions=load_subscriptions())


def check_contracts(outcome: Outcome, contract: Callable[[str, object], None]) -> None:
    kind = {"classified": "classified", "duplicate": "duplicate", "deadletter": "deadletter"}[outcome.kind]
    contract(kind, outcome.data)
    for alert in outcome.alerts:
        contract("alert", alert.document)


def test_seed_story_alerts_korean_peninsula(
    pipeline: Pipeline, contract: Callable[[str, object], None]
) -> None:
    raw = (DATA / "seed_upi.json").read_bytes()
    outcome = pipeline.process(raw, {"file": "seed_upi.json", "line": 1})
    assert outcome.kind == "classified", outcome.data
    check_contracts(outcome, contract)
    doc = orjson.loads(orjson.dumps(outcome.data))  # as emitted: the labels are orjson Fragments
    codes = {c["code"] for c in doc["countries"]}
    assert {"KP", "KR", "US"} <= codes
    assert {"military_exercise", "missile", "nuclear"} <= {t["type"] for t in doc["threats"]}
    assert "Korean Peninsula" in doc["regions"]
    assert "korean-peninsula" in {a.subscription.id for a in outcome.alerts}
    for label in doc["countries"] + doc["threats"]:
        for span in label["evidence"]:
            assert doc[span["field"]][span["start"] : span["end"]] == span["text"]


def test_replay_sample_one_outcome_per_record(
    pipeline: Pipeline, contract: Callable[[str, object], None]
) -> None:
    lines = [line for line in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if line.strip()]
    kinds: Counter[str] = Counter()
    for number, line in enumerate(lines, start=1):
        outcome = pipeline.process(line, {"file": "replay_sample.jsonl", "line": number})
        check_contracts(outcome, contract)
        kinds[outcome.kind] += 1
    assert sum(kinds.values()) == len(lines)
    assert kinds["deadletter"] == 3
    # 3 exact re-sends/copies and 2 agency rewrites of one story collapse into duplicates
    assert kinds["duplicate"] >= 4
    assert kinds["classified"] == len(lines) - kinds["deadletter"] - kinds["duplicate"]


def test_duplicate_points_to_first_article(pipeline: Pipeline) -> None:
    art = {"id": "a", "title": "Quake hits", "body": "A strong earthquake struck the region on Monday. " * 5}
    first = pipeline.process(orjson.dumps(art), {})
    second = pipeline.process(orjson.dumps({**art, "id": "b"}), {})
    third = pipeline.process(orjson.dumps({**art, "id": "c"}), {})
    assert first.kind == "classified" and first.data["story_id"] == "a"
    assert second.kind == "duplicate" and second.data["story_id"] == "a" and second.data["method"] == "exact"
    assert third.data["story_id"] == "a"


def test_a_failing_stage_dead_letters_the_record_and_the_stream_goes_on(
    pipeline: Pipeline, contract: Callable[[str, object], None]
) -> None:
    class Exploding:
        def classify(self, article: Article) -> RegionResult:
            raise ValueError("gazetteer exploded")

    good = pipeline.labeler.regions
    pipeline.labeler.regions = Exploding()
    raw = orjson.dumps({"id": "p1", "title": "t", "body": "poison"})
    outcome = pipeline.process(raw, {"topic": "articles", "partition": 0, "offset": 7})
    contract("deadletter", outcome.data)
    assert outcome.kind == "deadletter" and outcome.reason == "processing_error"
    assert "regions failed: ValueError: gazetteer exploded" in outcome.data["message"]
    assert outcome.data["origin"] == {"topic": "articles", "partition": 0, "offset": 7}
    pipeline.labeler.regions = good
    assert pipeline.process(orjson.dumps({"id": "p2", "title": "t", "body": "fine"}), {}).kind == "classified"


def test_dead_letter_keeps_the_original_bytes(pipeline: Pipeline) -> None:
    import base64

    raw = b'{"id": "x", "title": \xff}'
    outcome = pipeline.process(raw, {"file": "f", "line": 3})
    assert outcome.kind == "deadletter" and outcome.reason == "not_utf8"
    assert base64.b64decode(outcome.data["payload_b64"]) == raw
    assert outcome.data["payload_size"] == len(raw)


def test_a_dead_letter_cuts_a_payload_too_large_to_carry_and_says_so(
    contract: Callable[[str, object], None],
) -> None:
    """The service sets ``max_payload_bytes`` so a dead letter fits in one Kafka record: a 1 MB
    record's dead letter (base64, 1.33 MB) made the producer refuse it and the worker stop."""
    import base64

    pipeline = Pipeline(subscriptions=load_subscriptions(), max_record_bytes=100, max_payload_bytes=40)
    raw = orjson.dumps({"id": "big", "title": "t", "body": "x" * 200})
    cut = pipeline.process(raw, {"topic": "articles", "partition": 0, "offset": 7})
    assert cut.kind == "deadletter" and cut.reason == "too_large"
    assert base64.b64decode(cut.data["payload_b64"]) == raw[:40]
    assert cut.data["payload_size"] == len(raw) and cut.data["payload_truncated"] is True
    contract("deadletter", cut.data)
    whole = pipeline.process(b"{bad", {"topic": "articles", "partition": 0, "offset": 8})
    assert base64.b64decode(whole.data["payload_b64"]) == b"{bad" and "payload_truncated" not in whole.data


def test_classify_is_stateless(pipeline: Pipeline) -> None:
    art = Article(**json.loads((DATA / "seed_upi.json").read_text()))
    a, b = pipeline.classify(art), pipeline.classify(art)
    assert a.regions == b.regions and a.threats == b.threats


def test_redelivery_repeats_the_verdict_but_a_resend_is_a_duplicate(pipeline: Pipeline) -> None:
    raw = orjson.dumps(
        {"id": "r1", "title": "Storm", "body": "A tropical storm made landfall overnight. " * 4}
    )
    at = {"topic": "articles", "partition": 0}
    first = pipeline.process(raw, {**at, "offset": 10})
    again = pipeline.process(raw, {**at, "offset": 10})  # same record redelivered after a crash
    resend = pipeline.process(raw, {**at, "offset": 11})  # the producer sent it twice
    assert first.kind == again.kind == "classified"
    assert again.data["story_id"] == first.data["story_id"] == "r1"
    assert (
        resend.kind == "duplicate"
        and resend.data["duplicate_of"] == "r1"
        and resend.data["method"] == "exact"
    )


def test_three_agency_reports_of_one_tanker_attack_alert_once(pipeline: Pipeline) -> None:
    """Replay lines 5, 10, 17: Reuters, AP and AFP rewrites of one drone strike become one story."""
    lines = (DATA / "replay_sample.jsonl").read_bytes().splitlines()
    origin = {"file": "replay_sample.jsonl"}
    outcomes = [pipeline.process(lines[n - 1], {**origin, "line": n}) for n in (5, 10, 17)]
    assert [o.kind for o in outcomes] == ["classified", "duplicate", "duplicate"]
    assert {o.data["story_id"] for o in outcomes} == {"reuters-20260512-aden-drone"}
    assert not outcomes[1].alerts and not outcomes[2].alerts


def test_batch_gives_the_same_outcomes_as_one_by_one() -> None:
    lines = [x for x in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if x.strip()]
    records = [(line, {"file": "s", "line": n}) for n, line in enumerate(lines, start=1)]
    one = Pipeline(subscriptions=load_subscriptions())
    many = Pipeline(subscriptions=load_subscriptions())
    singles = [one.process(raw, origin) for raw, origin in records]
    batched = many.process_batch(records)
    assert [(o.kind, o.key, o.data.get("story_id")) for o in singles] == [
        (o.kind, o.key, o.data.get("story_id")) for o in batched
    ]
    assert [len(o.alerts) for o in singles] == [len(o.alerts) for o in batched]
    assert many.process_batch([]) == []


@given(st.floats(min_value=-1e9, max_value=253_402_300_799.0, allow_nan=False))
@example(0.9999995)  # rounds up to the next second
@example(1_700_000_000.0004995)  # just under a millisecond boundary, in float
@example(1_700_000_000.999_999_6)
@example(-0.0005)
def test_utc_iso_is_the_datetime_form_formatted_faster(epoch: float) -> None:
    """The per-second cache must not change one emitted timestamp: same rounding as datetime."""
    expected = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert utc_iso(epoch) == expected
