"""Classification quality on the labelled set stays at or above the product targets."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.domain.evaluation import Evaluation
from streams.domain.ingest import article_from_obj
from streams.domain.model import Article
from streams.domain.regions import RegionClassifier
from streams.domain.threats import ThreatClassifier

pytestmark = pytest.mark.unit

LABELLED = Path(__file__).resolve().parents[1] / "data" / "eval" / "labelled.jsonl"


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    regions, threats = RegionClassifier.default(), ThreatClassifier.default()
    ev = Evaluation()
    for line in LABELLED.read_bytes().splitlines():
        doc = orjson.loads(line)
        labels = doc.pop("labels")
        article = article_from_obj(doc)
        assert isinstance(article, Article)
        ev.add(
            article.id,
            labels["countries"],
            labels["threats"],
            [c.code for c in regions.classify(article).countries],
            [t.type for t in threats.classify(article).threats],
        )
    return ev


def test_country_micro_f1(evaluation: Evaluation) -> None:
    assert evaluation.countries.micro.f1 >= 0.95


def test_threat_micro_f1(evaluation: Evaluation) -> None:
    assert evaluation.threats.micro.f1 >= 0.90


def test_false_alerts_on_no_threat_articles(evaluation: Evaluation) -> None:
    assert evaluation.no_threat_articles >= 30
    assert evaluation.false_alert_rate <= 0.02


def test_every_threat_type_is_found_somewhere(evaluation: Evaluation) -> None:
    for label, scores in evaluation.threats.labels.items():
        assert scores.tp > 0, f"{label} never detected"
