"""The domain core's modules that ship compiled to C by mypyc, and whether this process runs them so.

Compiled, the per-article Python of the classifiers and of dedup (tuple unpacking, dict updates,
attribute reads on the model's dataclasses) costs ~30% less CPU (docs/benchmarks.md). The sources
stay plain, type-checked Python; mypyc compiles what mypy already checks. ``WIREWATCH_COMPILE=0``
builds without compiling, and everything runs the same, slower.

``setup.py`` executes this file before the package is importable, so it imports the standard
library only.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Final

#: Paths relative to the project root. The numba kernels (dedup/kernel.py, regions/kernel.py, and
#: jit.py that compiles them) are compiled by numba instead; the package ``__init__`` files and
#: offline tools (evaluation.py) gain nothing.
COMPILED_SOURCES: Final = (
    "streams/domain/model.py",
    "streams/domain/ingest.py",
    "streams/domain/labels.py",
    "streams/domain/alerts.py",
    "streams/domain/subscriptions.py",
    "streams/domain/pipeline.py",
    "streams/domain/dedup/config.py",
    "streams/domain/dedup/fingerprints.py",
    "streams/domain/dedup/index.py",
    "streams/domain/regions/gazetteer.py",
    "streams/domain/regions/matching.py",
    "streams/domain/regions/ambiguity.py",
    "streams/domain/regions/classifier.py",
    "streams/domain/threats/taxonomy.py",
    "streams/domain/threats/casualties.py",
    "streams/domain/threats/severity.py",
    "streams/domain/threats/matcher.py",
    "streams/domain/threats/classifier.py",
)
#: mypyc puts the compiled code of all these modules in one library, ``streams/native__mypyc.*.so``
#: (each module's own extension is a shim into it). Inside the package, not beside it: an editable
#: install maps ``streams`` alone, and a top-level library was not importable from the console script.
GROUP_NAME: Final = "streams.native"


def wanted() -> bool:
    """Whether builds compile (``WIREWATCH_COMPILE``, default 1)."""
    return os.environ.get("WIREWATCH_COMPILE", "1") != "0"


def module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def compiled_modules() -> list[str]:
    """The listed modules this process imported from compiled extensions (imported ones only)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    out = []
    for source in COMPILED_SOURCES:
        module = sys.modules.get(module_name(source))
        if module is not None and (getattr(module, "__file__", None) or "").endswith(suffixes):
            out.append(module.__name__)
    return out


def describe() -> str:
    """One line for logs and benchmark reports: what a reader needs to compare figures."""
    names = compiled_modules()
    imported = sum(module_name(s) in sys.modules for s in COMPILED_SOURCES)
    if names and len(names) == imported:
        return f"compiled by mypyc ({len(names)} of {len(COMPILED_SOURCES)} listed modules loaded)"
    if names:
        return f"partly compiled ({len(names)} of {imported} loaded modules): rebuild with `make native`"
    return "pure Python (not compiled: WIREWATCH_COMPILE=0 or no build)"


def tree_problem(root: Path) -> str | None:
    """Why a source tree's compiled modules do not match its sources and ``WIREWATCH_COMPILE``, or None.

    An extension module shadows its ``.py`` on import, so after an edit the old code would run
    silently; the test suite refuses to start instead.
    """
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    missing, stale, present = [], [], []
    for source in COMPILED_SOURCES:
        py = root / source
        ext = py.with_name(py.stem + suffix)
        if not ext.exists():
            missing.append(source)
            continue
        present.append(source)
        if py.stat().st_mtime > ext.stat().st_mtime:
            stale.append(source)
    if not wanted():
        remove = "`make native` removes the builds when WIREWATCH_COMPILE=0"
        return f"WIREWATCH_COMPILE=0 but {present[0]} is compiled: {remove}" if present else None
    rebuild = "run `make native` (or set WIREWATCH_COMPILE=0 for pure Python)"
    if missing:
        return f"{len(missing)} modules are not compiled (e.g. {missing[0]}): {rebuild}"
    if stale:
        return f"{len(stale)} modules changed after they were compiled (e.g. {stale[0]}): {rebuild}"
    return None


def checkout_problem() -> str | None:
    """:func:`tree_problem` of the source checkout this package runs from; None for an installed one.

    A developer who edits ``streams/domain`` and runs ``.venv/bin/wirewatch`` without ``make`` would
    otherwise run the previous build without a word."""
    root = Path(__file__).resolve().parents[1]
    return tree_problem(root) if (root / "setup.py").is_file() else None
