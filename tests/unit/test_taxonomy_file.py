"""WIREWATCH_TAXONOMY_FILE: the worker classifies with the file it names (a ConfigMap), else the shipped one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.domain.ingest import article_from_obj
from streams.domain.model import Article
from streams.domain.threats import TaxonomyError
from streams.service.app import threat_classifier
from streams.settings import Settings

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parents[2] / "streams" / "domain" / "data" / "threats" / "taxonomy.yaml"
SEED = Path(__file__).resolve().parents[1] / "data" / "seed_upi.json"


def seed() -> Article:
    article = article_from_obj(yaml.safe_load(SEED.read_text()))
    assert isinstance(article, Article)
    return article


def test_empty_setting_is_the_shipped_taxonomy() -> None:
    shipped = yaml.safe_load(SHIPPED.read_text())["version"]
    assert threat_classifier(Settings.from_env({})).classify(seed()).taxonomy_version == shipped


def test_taxonomy_file_is_loaded_and_used(tmp_path: Path) -> None:
    doc = yaml.safe_load(SHIPPED.read_text())
    doc["version"] = "2099.1.0-ops-test"
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(doc))
    classifier = threat_classifier(Settings.from_env({"WIREWATCH_TAXONOMY_FILE": str(path)}))
    result = classifier.classify(seed())
    assert result.taxonomy_version == "2099.1.0-ops-test"
    assert {t.type for t in result.threats} >= {"missile"}


def test_broken_taxonomy_file_fails_at_start(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text("version: x\nthreat_types: []\n")
    with pytest.raises(TaxonomyError):
        threat_classifier(Settings.from_env({"WIREWATCH_TAXONOMY_FILE": str(path)}))
