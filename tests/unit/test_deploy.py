"""Deployment files stay valid and agree with the code: compose services, the Kafka version the tests
use, Prometheus config and rules (promtool), the Grafana dashboard, the Kubernetes manifests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_files import (
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_SERIES,
    ROOT,
    RULES,
    compose,
    dashboard,
    dashboard_exprs,
    k8s_objects,
    referenced_metrics,
    rule_exprs,
    unexported,
)

from streams.localkafka.config import DEFAULT_VERSION
from streams.poller.metrics import PollerMetrics
from streams.settings import Settings

pytestmark = pytest.mark.unit

SETTINGS_ENV = {f.metadata["env"] for f in fields(Settings)}
DEFAULTS = Settings.from_env({})
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PROMETHEUS_DIR = DEPLOY / "prometheus"


def services() -> dict[str, Any]:
    svc = compose()["services"]
    assert isinstance(svc, dict)
    return svc


# --- docker compose ------------------------------------------------------------------------------
def test_compose_services_and_versions() -> None:
    svc = services()
    assert {"kafka", "topic-init", "worker", "poller", "prometheus", "grafana"} <= set(svc)
    assert svc["kafka"]["image"] == f"apache/kafka:{DEFAULT_VERSION}"
    env = svc["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    for name in ("topic-init", "worker", "poller"):
        assert svc[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / svc[name]["build"]["dockerfile"]).exists()
        assert svc[name]["environment"]["WIREWATCH_WEB_HOST"] == "0.0.0.0"  # inside the container
    assert svc["topic-init"]["command"] == ["topics"]
    assert svc["worker"]["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    assert svc["poller"]["command"][:2] == ["poll", "--feeds"]


def test_compose_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} not pinned"
        if "build" in service:
            assert tag == VERSION, f"{name}: locally built image should be tagged {VERSION}"


def test_compose_services_have_healthchecks_on_their_ports() -> None:
    svc = services()
    for name in ("kafka", "worker", "poller", "prometheus", "grafana"):
        assert svc[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    worker_port = svc["worker"]["environment"]["WIREWATCH_WEB_PORT"]
    poller_port = svc["poller"]["environment"]["WIREWATCH_POLL_WEB_PORT"]
    assert worker_port == str(DEFAULTS.web_port) and poller_port == str(DEFAULTS.poll_web_port)
    assert f"127.0.0.1:{worker_port}/health" in " ".join(svc["worker"]["healthcheck"]["test"])
    assert f"127.0.0.1:{poller_port}/health" in " ".join(svc["poller"]["healthcheck"]["test"])
    assert f"{worker_port}:{worker_port}" in svc["worker"]["ports"]
    assert f"{poller_port}:{poller_port}" in svc["poller"]["ports"]


def test_compose_wirewatch_env_names_are_settings() -> None:
    for name in ("topic-init", "worker", "poller"):
        env = services()[name]["environment"]
        wirewatch = {k for k in env if k.startswith("WIREWATCH_")}
        assert wirewatch == set(env), f"{name}: non-Wirewatch variables {set(env) - wirewatch}"
        assert wirewatch <= SETTINGS_ENV, f"{name}: unknown settings {wirewatch - SETTINGS_ENV}"
        Settings.from_env(env)  # and the values parse and validate


def test_compose_volumes_reference_files_that_exist() -> None:
    mounts: dict[str, str] = {}
    for service in services().values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{source} does not exist"
                mounts[source] = target
    assert mounts["./deploy/prometheus"] == "/etc/prometheus"
    assert mounts["./deploy/feeds.yaml"] == services()["poller"]["command"][2]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/wirewatch.yml").read_text())
    assert mounts["./deploy/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{mounts['./deploy/grafana/dashboards']}/{DASHBOARD.name}"


def test_compose_config_parses_when_docker_compose_is_available() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
    ):
        pytest.skip("docker compose plugin not installed; YAML checks above still ran")
    done = subprocess.run([docker, "compose", "config", "-q"], cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_dockerfile_slim_non_root_with_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert all(line.endswith("-slim") or " AS " in line for line in re.findall(r"^FROM .*", text, re.M))
    # Numeric, so Kubernetes' runAsNonRoot can verify it (a user name cannot be checked).
    assert re.search(r"^USER 10001$", text, re.M) and "useradd --system --uid 10001" in text
    assert "HEALTHCHECK" in text and "/health" in text
    assert f"EXPOSE {DEFAULTS.web_port} {DEFAULTS.poll_web_port}" in text
    assert (ROOT / ".dockerignore").read_text().count(".venv")


# --- Prometheus ----------------------------------------------------------------------------------
def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool missing in CI: `make system-deps` installs Debian's prometheus")
        pytest.skip("promtool comes with Debian's prometheus package, which `make test` installs")
    return tool


def run_promtool(*args: str) -> str:
    done = subprocess.run([promtool(), *args], cwd=PROMETHEUS_DIR, capture_output=True, check=False)
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out
    return out


def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    out = run_promtool("check", "config", "prometheus.yml")
    assert f"SUCCESS: {len(RULES)} rule files found" in out
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "wirewatch": [f"worker:{DEFAULTS.web_port}"],
        "wirewatch-poller": [f"poller:{DEFAULTS.poll_web_port}"],
    }
    assert set(services()) >= {"worker", "poller"}


def test_alert_rules_are_valid() -> None:
    out = run_promtool("check", "rules", *(str(p.relative_to(PROMETHEUS_DIR)) for p in RULES))
    assert out.count("SUCCESS") == len(RULES)


def test_alert_rules_unit_tests_pass_and_cover_every_rule() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    out = run_promtool("test", "rules", *(str(p.relative_to(PROMETHEUS_DIR)) for p in tests))
    assert out.count("SUCCESS") == len(tests)
    alerts = {r["alert"] for p in RULES for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]}
    fired: set[str] = set()
    for path in tests:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    assert fired == alerts, f"rules no test expects to fire: {alerts - fired}"


def test_every_alert_has_a_runbook_section() -> None:
    ops = (ROOT / "docs" / "operations.md").read_text()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                anchor = rule["alert"].lower()
                assert rule["annotations"]["runbook"] == f"docs/operations.md#{anchor}"
                assert f"### {rule['alert']}" in ops, f"docs/operations.md lacks a section on {rule['alert']}"


# --- Grafana -------------------------------------------------------------------------------------
def test_dashboard_uses_the_provisioned_data_source() -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "9090:9090" in services()["prometheus"]["ports"]
    doc = dashboard()
    ids = [p["id"] for p in doc["panels"]]
    assert doc["uid"] == "wirewatch" and len(ids) == len(set(ids))
    for panel in doc["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_dashboard_has_the_panels_operations_needs() -> None:
    titles = {p["title"] for p in dashboard()["panels"]}
    assert {
        "Throughput by outcome",
        "End-to-end latency (ingested to alert)",
        "Consumer lag",
        "Alerts per subscription",
        "Dead letters by reason",
        "Dedup state size",
    } <= titles
    assert any("histogram_quantile(0.99" in e for e in dashboard_exprs())


def test_dashboard_and_rules_select_only_known_series() -> None:
    """Every non-Wirewatch name selected with labels is one Prometheus makes itself."""
    exprs = dashboard_exprs() + [e for p in RULES for e in rule_exprs(p)]
    selected = {m for e in exprs for m in re.findall(r"\b([A-Za-z_:][\w:]*)\{", e)}
    assert {m for m in selected if not m.startswith("wirewatch_")} <= PROMETHEUS_SERIES


def test_poller_metrics_used_by_dashboard_and_rules_are_exported() -> None:
    """The poller's half of the check (the worker's scrapes a running worker: tests/e2e)."""
    _, poller_names = referenced_metrics()
    metrics = PollerMetrics.create()
    metrics.fetches.labels("f", "200").inc()
    metrics.items_published.labels("f").inc()
    metrics.items_skipped.labels("f", "too_large").inc()
    metrics.errors.labels("f", "timeout").inc()
    metrics.last_success.labels("f").set(1)
    metrics.fetch_seconds.labels("f").observe(0.1)
    samples = {s.name for family in metrics.registry.collect() for s in family.samples}
    assert poller_names and not unexported(poller_names, samples)


# --- Kubernetes ----------------------------------------------------------------------------------
def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(c, dict)
    return c


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"]}


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_worker_deployment_probes_ports_and_security() -> None:
    worker = by_kind("Deployment")["wirewatch-worker"]
    c = container(worker)
    env = env_of(c)
    assert set(env) <= SETTINGS_ENV, set(env) - SETTINGS_ENV
    settings = Settings.from_env(env)
    (port,) = c["ports"]
    assert port["containerPort"] == settings.web_port == DEFAULTS.web_port and settings.web_host == "0.0.0.0"
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port["name"]}
    pod = worker["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert worker["spec"]["replicas"] <= settings.partitions  # more would idle: see deploy/k8s/README.md
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.web_port)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert Path(settings.taxonomy_file).parent == Path(mounts["domain"])
    assert Path(settings.subscriptions_file).parent == Path(mounts["domain"])
    assert mounts["state"] == settings.data_dir


def test_poller_deployment_is_single_with_persistent_state() -> None:
    poller = by_kind("Deployment")["wirewatch-poller"]
    c = container(poller)
    env = env_of(c)
    assert set(env) <= SETTINGS_ENV
    settings = Settings.from_env(env)
    assert poller["spec"]["replicas"] == 1 and poller["spec"]["strategy"]["type"] == "Recreate"
    (port,) = c["ports"]
    assert port["containerPort"] == settings.poll_web_port
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["state"] == settings.poll_state_dir
    assert c["args"][2] == f"{mounts['feeds']}/feeds.yaml"
    volumes = {v["name"]: v for v in poller["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] in by_kind("PersistentVolumeClaim")


def test_services_expose_the_metrics_ports() -> None:
    deployments = by_kind("Deployment")
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        (target,) = [
            d
            for d in deployments.values()
            if d["spec"]["template"]["metadata"]["labels"].items() >= selector.items()
        ]
        (port,) = service["spec"]["ports"]
        (cport,) = container(target)["ports"]
        assert port["targetPort"] == cport["name"] and port["port"] == cport["containerPort"], name


def test_configmaps_hold_the_shipped_files() -> None:
    """deploy/k8s/configmaps.yaml is generated (`make k8s-configmaps`); this fails when it is stale."""
    maps = by_kind("ConfigMap")
    data = ROOT / "streams" / "domain" / "data"
    expected = {
        ("wirewatch-domain", "taxonomy.yaml"): data / "threats" / "taxonomy.yaml",
        ("wirewatch-domain", "subscriptions.yaml"): data / "subscriptions.yaml",
        ("wirewatch-feeds", "feeds.yaml"): DEPLOY / "feeds.yaml",
    }
    for (name, key), path in expected.items():
        assert maps[name]["data"][key] == path.read_text(), (
            f"{name}/{key} is stale: run `make k8s-configmaps`"
        )
    volumes = {
        v["name"]: v["configMap"]["name"]
        for d in by_kind("Deployment").values()
        for v in d["spec"]["template"]["spec"]["volumes"]
        if "configMap" in v
    }
    assert set(volumes.values()) == set(maps)


def test_k8s_images_match_the_compose_build() -> None:
    image = services()["worker"]["image"]
    for deployment in by_kind("Deployment").values():
        assert container(deployment)["image"] == image
