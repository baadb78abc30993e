"""`wirewatch bench --quick` end to end: the smoke check the benchmark issue promises, on a real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest
from support import ROOT

pytestmark = pytest.mark.e2e

REQUIRED = (
    "inprocess_articles_per_s",
    "e2e_articles_per_s",
    "raw_aiokafka_per_s",
    "faust_passthrough_per_s",
    "p99_ms_at_500",
    "rss_mb_100k",
    "rss_mb_1m",
)


def test_quick_bench_measures_every_target_through_the_broker(kafka_bootstrap: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env["WIREWATCH_BENCH_BROKER"] = kafka_bootstrap  # the session broker: no second broker start
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "bench", "--quick", "--json", "--modes", "inprocess,e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    assert set(REQUIRED) <= set(result)
    assert result["machine"]["interpreter"] == os.path.realpath(sys.executable)  # which build ran it
    for key in (
        "inprocess_articles_per_s",
        "e2e_articles_per_s",
        "raw_aiokafka_per_s",
        "faust_passthrough_per_s",
    ):
        assert result[key] > 0, key
    assert result["rss_mb_100k"] is None and result["rss_mb_1m"] is None  # memory mode not asked for
    (run,) = result["latency"]
    assert result["latency_500_rounds"] == [run]  # one round: its one window is the headline
    assert run["rate"] == 500.0 and run["n"] == 1000  # every offered record came out, none lost
    assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"] == result["p99_ms_at_500"]
    (only,) = result["e2e_rounds"]  # --quick: one round, every target drained once
    assert only == {
        "raw_aiokafka": result["raw_aiokafka_per_s"],
        "faust_passthrough": result["faust_passthrough_per_s"],
        "wirewatch": result["e2e_articles_per_s"],
    }
    assert result["ratio_vs_faust_passthrough"] == pytest.approx(
        result["e2e_articles_per_s"] / result["faust_passthrough_per_s"], abs=1e-3
    )
    print(f"bench --quick took {elapsed:.0f} s on the session broker")
