"""The broker-free front ends: classify, replay, eval, and the bench's table."""

from __future__ import annotations

import os
import sys
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


def test_bench_table_names_the_interpreter_and_every_figure() -> None:
    """The table people read: which build ran it (a default pyenv build took 1.23-1.28x the CPU
    of Debian's PGO+LTO one), and each target's figure, from the same result the JSON gives."""
    from streams.bench.run import machine, render

    m = machine()
    assert m["interpreter"] == os.path.realpath(sys.executable)
    result = {
        "machine": m,
        "corpus": "test corpus",
        "quick": False,
        "cpu_probe_ms": 123.4,
        "inprocess_articles_per_s": 4321.0,
        "inprocess_runs_per_s": [4000.0, 4321.0, 4500.0],
        "inprocess_stage_us": {"dedup": 90.0, "regions": 50.0},
        "e2e_rounds": [
            {"raw_aiokafka": 9000.0, "faust_passthrough": 2500.0, "wirewatch": 3000.0},
            {"wirewatch": 2000.0, "faust_passthrough": 2000.0, "raw_aiokafka": 8000.0},
        ],
        "e2e_articles_per_s": 2500.0,
        "raw_aiokafka_per_s": 8500.0,
        "faust_passthrough_per_s": 2250.0,
        "ratio_vs_raw_aiokafka": 0.292,
        "ratio_vs_faust_passthrough": 1.1,
        "latency": [{"rate": 500.0, "p50_ms": 12.0, "p95_ms": 30.0, "p99_ms": 45.0, "n": 5000}],
        "latency_500_rounds": [
            {"rate": 500.0, "p50_ms": 14.0, "p95_ms": 70.0, "p99_ms": 160.0, "n": 5000},
            {"rate": 500.0, "p50_ms": 12.0, "p95_ms": 30.0, "p99_ms": 45.0, "n": 5000},
        ],
        "p99_ms_at_500": 102.5,
        "memory_runs": [
            {"articles": 100_000, "rss_mb": 381.3, "peak_rss_mb": 381.3, "dedup_entries": 49_000},
        ],
    }
    table = render(result)
    assert f"Python {m['python']} ({m['interpreter']})" in table
    assert "4,321 articles/s (one core; median of 3 runs, 4,000-4,500)" in table
    assert "dedup 90, regions 50" in table
    assert "2,500 articles/s (median of 2 rounds)" in table
    assert "/ Faust passthrough 1.10 (medians of the per-round ratios)" in table
    assert "round 2: Wirewatch 2,000, raw 8,000, Faust 2,000/s; ratio to Faust 1.00" in table
    assert "latency at    500/s: p50 12 ms, p95 30 ms, p99 45 ms  (n=5000)" in table
    assert "p99 at 500/s by round: 160, 45 ms; median 102 ms" in table
    assert "RSS after   100,000 articles:   381.3 MB" in table
    assert "(median of 2 rounds, after a warm-up drain of each)" in render({**result, "warm_up": True})


def test_bench_e2e_figures_are_medians_and_ratios_are_paired_by_round() -> None:
    """A ratio compares Wirewatch with the baseline drained in the same round (this VM's slow phases
    last a minute or more): the median of those, not the ratio of two medians taken from different
    rounds."""
    from streams.bench.run import e2e_summary

    rounds = [
        {"raw_aiokafka": 10_000.0, "faust_passthrough": 1_000.0, "wirewatch": 2_000.0},  # fast phase
        {"wirewatch": 900.0, "faust_passthrough": 1_000.0, "raw_aiokafka": 9_000.0},
        {"raw_aiokafka": 12_000.0, "faust_passthrough": 3_000.0, "wirewatch": 3_300.0},
    ]
    summary = e2e_summary(rounds)
    assert summary["e2e_rounds"] == rounds
    assert summary["e2e_articles_per_s"] == 2_000.0
    assert summary["faust_passthrough_per_s"] == 1_000.0
    assert summary["raw_aiokafka_per_s"] == 10_000.0
    assert summary["ratio_vs_faust_passthrough"] == 1.1  # per round 2.0, 0.9, 1.1
    assert summary["ratio_vs_raw_aiokafka"] == 0.2  # per round 0.2, 0.1, 0.275
    one = e2e_summary(rounds[1:2])  # --quick: one round, where both definitions agree
    assert one["ratio_vs_faust_passthrough"] == round(900.0 / 1_000.0, 3)


def test_bench_p99_at_500_is_the_median_of_the_rounds() -> None:
    from streams.bench.run import p99_at_500

    runs = [{"rate": 500.0, "p99_ms": ms} for ms in (466.0, 41.0, 59.0)]
    assert p99_at_500(runs) == 59.0
    assert p99_at_500(runs[:1]) == 466.0  # --quick: the one window there is
    assert p99_at_500([]) is None  # a run that measured no latency at 500/s


def test_experiment_scripts_take_key_value_environments_and_refuse_anything_else() -> None:
    """The scripts' ``KEY=VALUE`` arguments: a value may hold ``=`` or be empty; an item without ``=``
    or a key is refused as usage (argparse prints it), where the old one-liner raised a traceback."""
    import argparse

    from streams.bench.e2e import env_assignment

    assert env_assignment("WIREWATCH_X=a=b") == ("WIREWATCH_X", "a=b")
    assert env_assignment("WIREWATCH_X=") == ("WIREWATCH_X", "")
    for bad in ("WIREWATCH_X", "=1", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
            env_assignment(bad)


def test_publish_refuses_a_file_with_a_record_over_the_limit_before_sending_any(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer refuses a record over ``WIREWATCH_MAX_MESSAGE_BYTES`` when it comes to it, after
    the records before it were sent: half a file published, and a traceback. Checked before any is
    sent instead (no broker is reached here: the address is closed)."""
    src = tmp_path / "in.jsonl"
    big = orjson.dumps({"id": "big", "title": "t", "body": "x" * 70_000})
    src.write_bytes(b'{"id": "a", "title": "t", "body": "b"}\n' + big + b"\n")
    monkeypatch.setenv("WIREWATCH_MAX_MESSAGE_BYTES", "65536")
    monkeypatch.setenv("WIREWATCH_BROKER", "127.0.0.1:9")
    code, _, err = run(capsys, "publish", "--quiet", str(src))
    assert code == 2
    assert f"record 2: {len(big)} bytes, over WIREWATCH_MAX_MESSAGE_BYTES (65536)" in err
    assert "nothing published" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], True),  # the default: the ratio of a warm broker, as in production
        (["--no-warm-up"], False),
        (["--quick"], False),  # < 60 s leave no room for it
        (["--quick", "--warm-up"], True),
    ],
)
def test_bench_warms_up_by_default_but_not_when_quick(argv: list[str], expected: bool) -> None:
    from streams.bench.run import warm_up
    from streams.cli import build_parser

    assert warm_up(build_parser().parse_args(["bench", *argv])) is expected


def test_bench_warm_up_drains_every_target_once_before_the_measured_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--warm-up``: a fresh broker's JIT compiler favours batched traffic for minutes
    (docs/benchmarks.md), so each target first drains the backlog once, unmeasured; the rounds and
    their latency runs are then as without it."""
    import contextlib
    from collections.abc import Iterator

    from streams.bench import e2e

    calls: list[str] = []

    @contextlib.contextmanager
    def broker(facts: dict[str, Any] | None = None) -> Iterator[str]:
        yield "127.0.0.1:1"

    def saturation(bootstrap: str, target: Any, records: Any, log_dir: Any) -> float:
        calls.append(f"drain {target.name} {len(records)}")
        return 100.0

    def drain_then_latency(bootstrap: str, target: Any, records: Any, rates: Any, *rest: Any) -> float:
        calls.append(f"drain+latency {target.name} {len(records)}")
        rest[-1].append({"rate": 500.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "n": 10})
        return 200.0

    monkeypatch.setattr(e2e, "local_broker", broker)
    monkeypatch.setattr(e2e, "saturation", saturation)
    monkeypatch.setattr(e2e, "_drain_then_latency", drain_then_latency)
    records, fresh = [b"{}"] * 7, [b"{}"] * 50
    measured = e2e.run(records, [500.0], 0.1, fresh, rounds=2, warm_up=True)
    assert calls == [
        "drain raw_aiokafka 7",  # the warm-up, one drain each, before anything is measured
        "drain faust_passthrough 7",
        "drain wirewatch 7",
        "drain raw_aiokafka 7",  # round 1, baselines first
        "drain faust_passthrough 7",
        "drain+latency wirewatch 7",
        "drain+latency wirewatch 7",  # round 2, Wirewatch first
        "drain faust_passthrough 7",
        "drain raw_aiokafka 7",
    ]
    assert len(measured["rounds"]) == 2  # the warm-up is not a round
    assert measured["rounds"][0] == {"raw_aiokafka": 100.0, "faust_passthrough": 100.0, "wirewatch": 200.0}
    calls.clear()
    e2e.run(records, [500.0], 0.1, fresh, rounds=1)
    assert calls[0] == "drain raw_aiokafka 7"
    assert len(calls) == 3  # no warm-up unless asked
