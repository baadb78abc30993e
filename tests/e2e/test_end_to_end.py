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
from pathlib import Path

import orjson
import pytest
from support import ROOT, Worker, free_port, produce, service_env, tag, wait_until

pytestmark = pytest.mark.e2e

DATA = ROOT / "tests" / "data"


def test_prometheus_scrapes_the_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package is missing: `make test` installs it"
    t = tag()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_STORE="memory://", WIREWATCH_DATA_DIR=str(tmp_path / "state")
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
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
    try:
        lines = [x for x in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if x.strip()]
        produce(kafka_bootstrap, f"{t}.articles", [(None, line) for line in lines])
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") == len(lines), 60, "worker read all"
        )

        def scraped_value() -> float | None:
            query = urllib.parse.urlencode({"query": 'wirewatch_articles_received_total{job="wirewatch"}'})
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{prom_port}/api/v1/query?{query}", timeout=5
                ) as r:
                    result = json.load(r)["data"]["result"]
            except OSError:
                return None
            return float(result[0]["value"][1]) if result else None

        wait_until(lambda: scraped_value() == len(lines), 60, "Prometheus to scrape the articles counter")
        assert worker.metric("wirewatch_articles_processed_total", outcome="deadletter") == 3
    finally:
        os.killpg(prom.pid, signal.SIGTERM)
        prom.wait(20)
        worker.stop()


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
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "wirewatch"), "kafka", "stop"], env=env, timeout=60, check=False
        )
        time.sleep(0.5)
