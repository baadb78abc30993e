"""The public contracts: every schema is valid JSON Schema 2020-12 and its examples meet it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.unit

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
KINDS = ("article", "classified", "duplicate", "deadletter", "alert", "subscription")


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_2020_12_and_examples_conform(
    kind: str, contract: Callable[[str, object], None]
) -> None:
    schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema.get("examples"), f"{kind}.json has no example"
    for example in schema["examples"]:
        contract(kind, example)


def test_article_keeps_unknown_fields(contract: Callable[[str, object], None]) -> None:
    contract("article", {"id": "a", "title": "t", "body": "b", "wire_desk": "asia", "priority": 2})


@pytest.mark.parametrize(
    "doc",
    [
        {"title": "t", "body": "b"},
        {"id": "", "title": "t", "body": "b"},
        {"id": "a", "title": 1, "body": "b"},
        {"id": "a", "title": "t", "body": "b", "published_at": "yesterday"},
    ],
)
def test_article_rejects(doc: dict[str, object], contract: Callable[[str, object], None]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        contract("article", doc)


def test_alert_requires_deterministic_id_shape(contract: Callable[[str, object], None]) -> None:
    alert = json.loads((SCHEMAS / "alert.json").read_text())["examples"][0]
    contract("alert", alert)
    with pytest.raises(jsonschema.ValidationError):
        contract("alert", {**alert, "alert_id": "not-hex"})
