"""Deployment files stay valid: compose services, the Kafka version the tests use, Prometheus config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.localkafka.config import DEFAULT_VERSION

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_services_and_versions() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert {"kafka", "worker", "prometheus"} <= set(services)
    assert services["kafka"]["image"] == f"apache/kafka:{DEFAULT_VERSION}"
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert worker["environment"]["WIREWATCH_WEB_HOST"] == "0.0.0.0"  # inside the container
    assert (ROOT / worker["build"]["dockerfile"]).exists()


def test_compose_config_parses_when_docker_compose_is_available() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
    ):
        pytest.skip("docker compose plugin not installed; YAML checks above still ran")
    done = subprocess.run([docker, "compose", "config", "-q"], cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool comes with Debian's prometheus package, which `make test` installs")
    done = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml")],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER wirewatch" in text and "HEALTHCHECK" in text and "/health" in text
