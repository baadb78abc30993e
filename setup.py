"""Builds the domain core's hot modules (``streams/native.py`` lists them) as C extensions with mypyc.

Metadata lives in pyproject.toml; this file only adds the extensions. ``WIREWATCH_COMPILE=0`` builds
a pure-Python package.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import setup

# Loaded from its path: the package (and its dependencies) may not be importable while it is built.
_spec = importlib.util.spec_from_file_location(
    "_wirewatch_native", Path(__file__).parent / "streams" / "native.py"
)
assert _spec is not None and _spec.loader is not None
native = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native)

ext_modules = []
if native.wanted():
    from mypyc.build import mypycify

    try:
        ext_modules = mypycify(list(native.COMPILED_SOURCES), group_name=native.GROUP_NAME, opt_level="3")
    except SystemExit:  # mypy's errors are printed above
        print(
            "mypyc type-checks the sources against the installed dependencies: install them and"
            " types-pyyaml, then build with --no-build-isolation (deploy/Dockerfile does), or set"
            " WIREWATCH_COMPILE=0 for a pure-Python build",
            file=sys.stderr,
        )
        raise

setup(ext_modules=ext_modules)
