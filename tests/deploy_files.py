"""The deploy/ files as data, for the tests that hold them to the code: metric names in PromQL,
compose services, Kubernetes objects."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wirewatch.json"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
#: Series Prometheus itself makes (scrape health, alert state): not exported by any Wirewatch process.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS"})
_METRIC = re.compile(r"\b(wirewatch_[a-z0-9_]+)\b")


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def rule_exprs(path: Path) -> list[str]:
    doc = yaml.safe_load(path.read_text())
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def metric_names(exprs: list[str]) -> set[str]:
    """Every ``wirewatch_*`` series name the expressions select (histograms as ``_bucket`` etc.)."""
    return {m for expr in exprs for m in _METRIC.findall(expr)}


def referenced_metrics() -> tuple[set[str], set[str]]:
    """(worker metric names, poller metric names) used by the dashboard and all alert rules."""
    names = metric_names(dashboard_exprs() + [e for path in RULES for e in rule_exprs(path)])
    poller = {n for n in names if n.startswith("wirewatch_poller_")}
    return names - poller, poller


def unexported(names: set[str], sample_names: set[str]) -> list[str]:
    """Names no sample of a scrape carries. Sample names already carry the suffixes: counters
    ``_total``, histograms ``_bucket``/``_sum``/``_count``, so a rule must use those forms too."""
    return sorted(n for n in names if n not in sample_names)


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def k8s_objects() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs
