"""The package as the image builds it: a wheel whose domain core is compiled by mypyc, and which
decides every record exactly as the pure-Python sources do.

mypyc compiles what mypy checked, but it also enforces annotations at run time and changes a few
semantics (early binding, native integers); comparing whole outcomes over the benchmark corpus is
what shows that none of that changed a label, a score, a story id or an alert.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from streams import native
from streams.bench.corpus import articles

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

#: Run from a directory without ``streams/``, with one copy of the package first on the path.
_OUTCOMES = """
import sys, orjson, streams, streams.native as native
from pathlib import Path
from streams.domain.pipeline import Pipeline
from streams.domain.subscriptions import load_subscriptions

pipeline = Pipeline(subscriptions=load_subscriptions(), clock=lambda: 1_700_000_000.0)
records = [r.encode() for r in orjson.loads(Path(sys.argv[1]).read_bytes())]
out = []
for start in range(0, len(records), 64):
    batch = [(raw, {"topic": "t", "partition": 0, "offset": start + k})
             for k, raw in enumerate(records[start:start + 64])]
    for o in pipeline.process_batch(batch):
        o.data.pop("timings_ms", None)  # measured, so different in every run
        out.append([o.kind, o.key, o.data, o.reason, [[a.topic, a.document] for a in o.alerts]])
print(orjson.dumps({"file": streams.__file__, "compiled": native.compiled_modules(), "outcomes": out}).decode())
"""


def _outcomes(package_dir: Path, cwd: Path, records: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(package_dir)}
    proc = subprocess.run(
        [sys.executable, "-c", _OUTCOMES, str(records)],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    result: dict[str, object] = orjson.loads(proc.stdout)
    return result


@pytest.mark.skipif(not native.wanted(), reason="WIREWATCH_COMPILE=0: a pure-Python build")
def test_the_wheel_ships_a_compiled_core_that_decides_as_the_sources_do(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "streams", src / "streams", ignore=shutil.ignore_patterns("*.so", "__pycache__"))

    # As deploy/Dockerfile builds it: against the installed dependencies, without build isolation.
    # ("./src": a bare "src" is a requirement, which pip looks up on the index.)
    wheel_cmd = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist", "./src"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", *wheel_cmd], cwd=tmp_path, capture_output=True, timeout=900, check=False
    )
    assert built.returncode == 0, (built.stdout + built.stderr).decode()[-3000:]
    (wheel,) = (tmp_path / "dist").glob("wirewatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for source in native.COMPILED_SOURCES:
        assert source.removesuffix(".py") + suffix in names, f"{source} is not compiled in the wheel"
    assert native.GROUP_NAME.replace(".", "/") + f"__mypyc{suffix}" in names

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The benchmark corpus (real news when `make bench-corpus` fetched it, else wire-style stories),
    # read here: an installed package has no tests/data to fall back on.
    records = tmp_path / "records.json"
    records.write_bytes(orjson.dumps([raw.decode() for raw in articles(1500)]))
    compiled = _outcomes(site, tmp_path, records)
    pure = _outcomes(src, tmp_path, records)  # the copied sources, never built: plain Python

    assert str(compiled["file"]).startswith(str(site)) and str(pure["file"]).startswith(str(src))
    assert compiled["compiled"] == [native.module_name(s) for s in native.COMPILED_SOURCES]
    assert pure["compiled"] == []
    outcomes = compiled["outcomes"]
    assert isinstance(outcomes, list) and len(outcomes) == 1500
    assert {o[0] for o in outcomes} >= {"classified", "duplicate"}
    assert sum(len(o[4]) for o in outcomes) > 0  # some alerts routed
    assert outcomes == pure["outcomes"]
