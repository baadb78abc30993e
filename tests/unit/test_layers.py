"""The domain core stays free of Faust and Kafka, so it can be tested and benchmarked in-process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DOMAIN = Path(__file__).resolve().parents[2] / "streams" / "domain"
FORBIDDEN = ("faust", "mode", "aiokafka", "kafka", "streams.service", "streams.localkafka")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_no_wiring(path: Path) -> None:
    bad = {m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {bad}"


def test_running_the_pipeline_loads_no_faust_or_kafka() -> None:
    code = (
        "import sys\n"
        "from streams.domain.pipeline import Pipeline\n"
        "from streams.domain.subscriptions import load_subscriptions\n"
        'Pipeline(subscriptions=load_subscriptions()).process(b\'{"id":"a","title":"t","body":"b"}\', {})\n'
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode', 'aiokafka')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=DOMAIN.parents[1]
    )
    assert out.stdout.strip() == "[]"
