"""Fetch the broker's jars from Maven Central once, into a cache shared by all instances.

Maven resolves Kafka's exact runtime classpath (44 jars) so we never hand-maintain a jar list or
download a 100 MB distribution tarball; the user only needs Java and Maven.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from streams.localkafka.config import SCALA_VERSION, render_pom

MARKER = ".complete"


class ToolMissingError(RuntimeError):
    """java or mvn is not installed; the message says what to install."""


def find_java() -> str:
    """java from JAVA_HOME when set (what users expect), else from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise ToolMissingError(
            "java not found: install a JDK/JRE 17+ (e.g. apt install openjdk-17-jre-headless)"
        )
    return found


def find_mvn() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise ToolMissingError(
            "mvn not found: install Maven (e.g. apt install maven) to fetch the Kafka jars once, "
            "or point WIREWATCH_KAFKA_HOME at a cache that already holds them"
        )
    return found


def libs_dir(home: Path) -> Path:
    return home / "libs"


def jars_ready(home: Path, version: str) -> bool:
    """True only after a fetch ran to the end: the marker is written last, atomically."""
    return (home / MARKER).is_file() and (libs_dir(home) / f"kafka_{SCALA_VERSION}-{version}.jar").is_file()


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    # Parallel test sessions share the cache; only one of them may run Maven into it.
    with (home / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(home: Path, version: str, *, timeout: float = 600.0) -> Path:
    """Return the libs dir, running Maven first unless a complete fetch is already cached."""
    if jars_ready(home, version):
        return libs_dir(home)
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):
        if jars_ready(home, version):  # another process fetched while we waited for the lock
            return libs_dir(home)
        mvn = find_mvn()
        (home / MARKER).unlink(missing_ok=True)
        (home / "pom.xml").write_text(render_pom(version), encoding="utf-8")
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [
                mvn, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
            ],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeError(
                f"Maven could not fetch Kafka {version} jars (exit {result.returncode}):\n{tail}"
            )
        shutil.rmtree(libs_dir(home), ignore_errors=True)
        staging.rename(libs_dir(home))
        marker_tmp = home / f"{MARKER}.tmp"
        jars = sorted(path.name for path in libs_dir(home).glob("*.jar"))
        marker_tmp.write_text("\n".join(jars) + "\n", encoding="utf-8")
        os.replace(marker_tmp, home / MARKER)
    return libs_dir(home)
