"""End to end: the README's first command, the CLI, and a real Prometheus scraping the worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from deploy_files import referenced_metrics, unexported
from support import ROOT, Worker, free_port, produce, service_env, tag, wait_until

from streams.bench.e2e import stop_group

pytestmark = pytest.mark.e2e

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def loaded_worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, int]]:
    """One worker that has processed the replay sample (classified, duplicates, alerts, 3 dead letters),
    shared by the tests that only look at it: a worker start is the slow part."""
    tmp = tmp_path_factory.mktemp("loaded-worker")
    t = tag()
    env = service_env(kafka_bootstrap, t, WIREWATCH_STORE="memory://", WIREWATCH_DATA_DIR=str(tmp / "state"))
    worker = Worker(env, tmp / "worker.log").start()
    try:
        lines = [x for x in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if x.strip()]
        produce(kafka_bootstrap, f"{t}.articles", [(None, line) for line in lines])
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") == len(lines), 60, "worker read all"
        )
        yield worker, len(lines)
    finally:
        worker.stop()


def test_prometheus_scrapes_the_worker_and_evaluates_the_rules(
    loaded_worker: tuple[Worker, int], tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is missing: `make test` installs it"
    worker, received = loaded_worker
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    rules = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: {json.dumps([str(r) for r in rules])}\n"
        "scrape_configs:\n  - job_name: wirewatch\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker.port}']\n"
    )
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=(tmp_path / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def api(path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{prom_port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)["data"]
        except OSError:
            return None

    try:

        def scraped_value() -> float | None:
            data = api("query", query='wirewatch_articles_received_total{job="wirewatch"}')
            result = data["result"] if data else []
            return float(result[0]["value"][1]) if result else None

        wait_until(lambda: scraped_value() == received, 60, "Prometheus to scrape the articles counter")
        assert worker.metric("wirewatch_articles_processed_total", outcome="deadletter") == 3

        # The real Prometheus evaluates every rule of deploy/prometheus/rules against the real series.
        def alert_rules() -> dict[str, dict[str, Any]]:
            data = api("rules", type="alert")
            return {r["name"]: r for g in data["groups"] for r in g["rules"]} if data else {}

        # Before its first scrape (the scrape manager starts ~5 s after the rule manager)
        # absent(up) holds and WorkerDown is pending: `for: 2m` is what keeps that from firing.
        wait_until(
            lambda: alert_rules().get("WirewatchWorkerDown", {}).get("state") == "inactive",
            60,
            "WorkerDown to settle to inactive once the worker is scraped",
        )
        found = alert_rules()
        names = {
            r["alert"] for p in rules for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]
        }
        assert set(found) == names
        assert all(r["health"] == "ok" for r in found.values()), {
            n: r.get("lastError") for n, r in found.items()
        }
    finally:
        os.killpg(prom.pid, signal.SIGTERM)
        prom.wait(20)


def test_dashboard_and_rules_use_only_metrics_the_worker_exports(loaded_worker: tuple[Worker, int]) -> None:
    """Every worker series the Grafana dashboard and the alert rules select exists on a real worker's
    /metrics, labelled series included (they appear once their outcome, reason, method... happened)."""
    worker, _ = loaded_worker
    samples = {name for name, _labels in worker.metrics()}
    worker_names, _poller = referenced_metrics()
    assert {"wirewatch_consumer_lag", "wirewatch_end_to_end_latency_seconds_bucket"} <= worker_names
    assert not unexported(worker_names, samples), (
        f"not exported by the worker: {unexported(worker_names, samples)}"
    )
    labels = {k for _name, lbls in worker.metrics() for k, _v in lbls}
    assert {
        "outcome",
        "reason",
        "method",
        "subscription",
        "severity",
        "stage",
        "topic",
        "partition",
    } <= labels


def test_publish_and_tail_cli(kafka_bootstrap: str, tmp_path: Path) -> None:
    t = tag()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_STORE="memory://", WIREWATCH_DATA_DIR=str(tmp_path / "state")
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        cli = [sys.executable, "-m", "streams.cli"]
        done = subprocess.run(
            [*cli, "publish", "--quiet", str(DATA / "seed_upi.json")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"published 1 records to {t}.articles" in done.stderr.decode()
        tail = subprocess.run(
            [
                *cli,
                "tail",
                "--topic",
                f"{t}.alerts.korean-peninsula",
                "--from-beginning",
                "--max",
                "1",
                "--timeout",
                "30",
                "--json",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=90,
            check=False,
        )
        alerts = [orjson.loads(line) for line in tail.stdout.splitlines()]
        assert [a["article"]["id"] for a in alerts] == ["upi-20260415-seoul-b1b-drills"]
        pretty = subprocess.run(
            [*cli, "tail", "--topic", f"{t}.alerts", "--from-beginning", "--max", "1", "--timeout", "30"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=90,
            check=False,
        )
        assert "U.S. B-1B bombers" in pretty.stdout.decode()
    finally:
        worker.stop()


def test_make_run_brings_up_a_healthy_worker(tmp_path: Path) -> None:
    """README command 1 on private ports: local broker started, topics created, worker answers /health."""
    if not (ROOT / ".venv" / "bin" / "wirewatch").exists():
        pytest.skip("needs the project virtualenv that `make` creates")
    kafka_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(
        WIREWATCH_KAFKA_PORT=str(kafka_port),
        WIREWATCH_KAFKA_CONTROLLER_PORT=str(free_port()),
        WIREWATCH_KAFKA_DATA_DIR=str(tmp_path / "kafka"),
        WIREWATCH_BROKER=f"127.0.0.1:{kafka_port}",
        WIREWATCH_WEB_PORT=str(web_port),
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
    )
    log = (tmp_path / "make-run.log").open("wb")
    proc = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(healthy, 180, "make run: worker /health")
    finally:
        stop_group(proc)
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "wirewatch"), "kafka", "stop"], env=env, timeout=60, check=False
        )
        time.sleep(0.5)
