"""The broker-free front ends: classify, replay, eval."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli import main

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return (
        code,
        [orjson.loads(line) for line in captured.out.splitlines() if line.startswith("{")],
        captured.err,
    )


def test_replay_prints_one_outcome_per_line_plus_alerts(
    capsys: pytest.CaptureFixture[str], contract: Callable[[str, object], None]
) -> None:
    code, out, _ = run(capsys, "replay", str(DATA / "replay_sample.jsonl"))
    assert code == 0
    lines = [x for x in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if x.strip()]
    kinds = Counter(str(o["kind"]) for o in out)
    assert kinds["classified"] + kinds["duplicate"] + kinds["deadletter"] == len(lines)
    assert kinds["deadletter"] == 3
    for o in out:
        contract(str(o["kind"]), o["data"])
    origins = [o["data"]["origin"]["line"] for o in out if o["kind"] == "deadletter"]
    assert len(set(origins)) == 3


def test_replay_seed_alerts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = orjson.loads((DATA / "seed_upi.json").read_bytes())
    path = tmp_path / "seed.jsonl"
    path.write_bytes(orjson.dumps(seed) + b"\n" + orjson.dumps(seed) + b"\n")
    code, out, _ = run(capsys, "replay", str(path))
    assert code == 0
    assert [o["kind"] for o in out if o["kind"] != "alert"] == ["classified", "duplicate"]
    subs = {o["data"]["subscription"] for o in out if o["kind"] == "alert"}
    assert "korean-peninsula" in subs


def test_classify_single_object_and_jsonl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "classify", str(DATA / "seed_upi.json"))
    assert code == 0 and len(out) == 1
    assert {"KP", "KR"} <= {c["code"] for c in out[0]["countries"]}
    path = tmp_path / "many.jsonl"
    path.write_text(
        '{"id": "1", "title": "a", "body": "b"}\nnot json\n{"id": "2", "title": "c", "body": "d"}\n'
    )
    code, out, err = run(capsys, "classify", str(path))
    assert code == 1 and [o["id"] for o in out] == ["1", "2"]
    assert ":2: invalid_json" in err


def test_eval_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(DATA / "eval" / "labelled.jsonl"), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["articles"] >= 150
    assert 0.0 <= report["threats"]["micro"]["f1"] <= 1.0
