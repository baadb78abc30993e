"""The compiled domain core: the tests run what ships, and a stale build is refused, not tested."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams import native

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_the_domain_core_as_built() -> None:
    for source in native.COMPILED_SOURCES:
        importlib.import_module(native.module_name(source))
    names = [native.module_name(s) for s in native.COMPILED_SOURCES]
    if native.wanted():
        assert native.compiled_modules() == names
        assert native.describe().startswith("compiled by mypyc")
    else:
        assert native.compiled_modules() == []
        assert native.describe().startswith("pure Python")


def _tree(root: Path, compiled: bool) -> None:
    for source in native.COMPILED_SOURCES:
        py = root / source
        py.parent.mkdir(parents=True, exist_ok=True)
        py.write_text("")
        os.utime(py, (1_000, 1_000))
        if compiled:
            ext = py.with_name(py.stem + importlib.machinery.EXTENSION_SUFFIXES[0])
            ext.write_bytes(b"")
            os.utime(ext, (2_000, 2_000))


def test_a_fresh_build_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIREWATCH_COMPILE", raising=False)
    _tree(tmp_path, compiled=True)
    assert native.tree_problem(tmp_path) is None


def test_an_edit_after_the_build_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIREWATCH_COMPILE", raising=False)
    _tree(tmp_path, compiled=True)
    edited = tmp_path / "streams/domain/threats/classifier.py"
    os.utime(edited, (3_000, 3_000))
    problem = native.tree_problem(tmp_path)
    assert problem is not None
    assert "1 modules changed after they were compiled" in problem and "threats/classifier.py" in problem


def test_a_missing_build_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIREWATCH_COMPILE", raising=False)
    _tree(tmp_path, compiled=False)
    problem = native.tree_problem(tmp_path)
    assert problem is not None and f"{len(native.COMPILED_SOURCES)} modules are not compiled" in problem


def test_pure_mode_refuses_builds_and_accepts_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_COMPILE", "0")
    _tree(tmp_path / "a", compiled=False)
    assert native.tree_problem(tmp_path / "a") is None
    _tree(tmp_path / "b", compiled=True)
    problem = native.tree_problem(tmp_path / "b")
    assert problem is not None and "WIREWATCH_COMPILE=0 but" in problem


def test_the_installed_package_loads_the_compiled_core_from_any_directory(tmp_path: Path) -> None:
    """The console script's ``sys.path`` has no project root (pytest's has): what it imports must all
    sit inside the package. A top-level mypyc library once failed ``make run`` this way."""
    script = "import streams.domain.pipeline, streams.native as n; print(len(n.compiled_modules()))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert int(out.stdout) == (len(native.COMPILED_SOURCES) if native.wanted() else 0)


def test_the_cli_warns_when_the_checkout_was_edited_after_its_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams import cli

    assert native.checkout_problem() is None  # this session's tree (conftest checked it)
    monkeypatch.setattr(native, "tree_problem", lambda root: "1 modules changed after they were compiled")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert (
        "warning: the compiled domain core does not match this checkout: 1 modules" in capsys.readouterr().err
    )


def _written_out_inits(source: str) -> list[tuple[str, list[str], list[str]]]:
    """(class, its dataclass fields, its ``__init__``'s parameters) for each ``init=False`` dataclass."""
    tree = ast.parse((ROOT / source).read_text())
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        decorators = [d for d in node.decorator_list if isinstance(d, ast.Call)]
        if not any(
            k.arg == "init" and getattr(k.value, "value", True) is False
            for d in decorators
            for k in d.keywords
        ):
            continue
        fields = [
            s.target.id
            for s in node.body
            if isinstance(s, ast.AnnAssign)
            and isinstance(s.target, ast.Name)
            and not ast.unparse(s.annotation).startswith("ClassVar")
        ]
        (init,) = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
        out.append((node.name, fields, [a.arg for a in init.args.args[1:]]))
    return out


@pytest.mark.parametrize("source", native.COMPILED_SOURCES)
def test_written_out_inits_take_every_field_in_order(source: str) -> None:
    """The per-article dataclasses spell out ``__init__`` for mypyc (docs/benchmarks.md, fifth
    session); a field added without its parameter would only fail where it is read."""
    for name, fields, params in _written_out_inits(source):
        assert params == fields, f"{source}: {name}.__init__ takes {params}, its fields are {fields}"


def test_the_written_out_inits_are_found() -> None:
    found = {name for s in native.COMPILED_SOURCES for name, _, _ in _written_out_inits(s)}
    assert {"Article", "Evidence", "Outcome", "Fingerprint", "Scan", "Labels"} <= found
