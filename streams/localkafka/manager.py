"""Start, stop and inspect one local KRaft broker process, tracked by a pid file in its data dir.

The broker runs detached in its own session, so it outlives `wirewatch kafka start`; every later
command finds it through the pid file and checks the pid really is *our* broker before signalling it
(a pid file left by a crash may point at a recycled pid belonging to anything).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from streams.localkafka import admin
from streams.localkafka.config import KafkaConfig, render_log4j2, render_server_properties
from streams.localkafka.jars import ensure_jars, find_java

MAIN_CLASS = "kafka.Kafka"


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    version: str

    def describe(self) -> str:
        if self.running:
            return f"Kafka {self.version} running at {self.bootstrap} (pid {self.pid}, data {self.data_dir})"
        return f"Kafka {self.version} is not running (data {self.data_dir})"


@dataclass(frozen=True)
class StartResult:
    status: KafkaStatus
    already_running: bool
    seconds: float


def new_cluster_id() -> str:
    """Same format as `kafka-storage random-uuid` (URL-safe base64 UUID), without paying for a JVM."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka rejects ids that look like a CLI flag
            return cluster_id


def process_cmdline(pid: int) -> list[str] | None:
    """Arguments of a live process, or None when it is gone or a zombie."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        # cmdline reads empty for a moment while a process execs; retry briefly before calling it gone.
        for _ in range(10):
            try:
                raw = (proc / "cmdline").read_bytes()
            except OSError:
                return None
            if raw:
                return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
            time.sleep(0.02)
        return None
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.split() or None


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LocalKafka:
    """A single-node KRaft broker+controller in one JVM, for development and tests."""

    def __init__(self, config: KafkaConfig | None = None) -> None:
        self.config = config if config is not None else KafkaConfig.from_env()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    def ensure_jars(self) -> Path:
        return ensure_jars(self.config.jar_home, self.config.version)

    def is_our_broker(self, pid: int) -> bool:
        """The pid is a java process running kafka.Kafka with *this* instance's server.properties."""
        args = process_cmdline(pid)
        return bool(args) and MAIN_CLASS in args and str(self.config.server_properties) in args  # type: ignore[operator]

    def live_pid(self) -> int | None:
        """Pid of our running broker; a stale pid file (dead or foreign pid) is removed, never signalled."""
        pid_file = self.config.pid_file
        pid = read_pid_file(pid_file)
        if pid is not None and pid_alive(pid) and self.is_our_broker(pid):
            return pid
        pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> KafkaStatus:
        pid = self.live_pid()
        return KafkaStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self._running_bootstrap() if pid is not None else self.config.bootstrap,
            data_dir=self.config.data_dir,
            version=self.config.version,
        )

    def _running_bootstrap(self) -> str:
        # The broker may have been started with another --port than this command was given.
        try:
            text = self.config.server_properties.read_text()
        except OSError:
            return self.config.bootstrap
        for line in text.splitlines():
            if line.startswith("advertised.listeners="):
                return line.split("=", 1)[1].split(",")[0].split("://", 1)[-1]
        return self.config.bootstrap

    def start(self, wait: float = 30.0) -> StartResult:
        """Start the broker unless it already runs; return once it answers a metadata request."""
        began = time.monotonic()
        if self.live_pid() is not None:
            return StartResult(self.status(), already_running=True, seconds=0.0)
        cfg = self.config
        for port in (cfg.port, cfg.resolved_controller_port):
            if admin.port_open(cfg.host, port):
                raise KafkaStartError(f"{cfg.host}:{port} is already in use by another process")
        java = find_java()
        libs = self.ensure_jars()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.server_properties.write_text(render_server_properties(cfg), encoding="utf-8")
        cfg.log4j_config.write_text(render_log4j2(cfg), encoding="utf-8")
        if not (cfg.log_dirs / "meta.properties").is_file():
            self._format_storage(java, libs)
        with cfg.server_log.open("ab") as log:
            log.write(f"\n==== wirewatch: starting Kafka {cfg.version} at {time.ctime()} ====\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self._java_command(java, libs, MAIN_CLASS, str(cfg.server_properties)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=cfg.data_dir, start_new_session=True,  # survives Ctrl-C in the shell that started it
            )  # fmt: skip
        tmp = cfg.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(f"{self._proc.pid}\n")
        os.replace(tmp, cfg.pid_file)
        try:
            self._wait_ready(self._proc, began + wait)
        except BaseException:
            self.stop(timeout=10.0)
            raise
        return StartResult(self.status(), already_running=False, seconds=time.monotonic() - began)

    def _java_command(self, java: str, libs: Path, *args: str) -> list[str]:
        return [
            java, f"-Xmx{self.config.heap}", *self.config.jvm_opts, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.config.log4j_config}",
            "-cp", str(libs / "*"), *args,
        ]  # fmt: skip

    def _format_storage(self, java: str, libs: Path) -> None:
        """Format the KRaft log dir once; the cluster id is kept so a re-format stays the same cluster."""
        id_file = self.config.cluster_id_file
        cluster_id = id_file.read_text().strip() if id_file.is_file() else new_cluster_id()
        id_file.write_text(cluster_id + "\n")
        result = subprocess.run(
            self._java_command(
                java, libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "-t", cluster_id, "-c", str(self.config.server_properties),
                *(self.config.security.scram_format_args() if self.config.security else ()),
            ),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise KafkaStartError(f"kafka-storage format failed:\n{result.stdout}{result.stderr}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        cfg = self.config
        while True:
            code = proc.poll()
            if code is not None:
                raise KafkaStartError(
                    f"Kafka exited with code {code} while starting; end of {cfg.server_log}:\n"
                    f"{tail(cfg.server_log)}"
                )
            if admin.port_open(cfg.host, cfg.port) and admin.run_sync(admin.answers_metadata(cfg.bootstrap)):
                return
            if time.monotonic() > deadline:
                raise KafkaStartError(
                    f"Kafka did not answer at {cfg.bootstrap} in time; end of {cfg.server_log}:\n"
                    f"{tail(cfg.server_log)}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our broker (clean shutdown flushes logs), SIGKILL after timeout; False if none ran."""
        pid = self.live_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.config.pid_file.unlink(missing_ok=True)
        self._proc = None
        return True

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                try:
                    self._proc.wait(0.1)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ChildProcessError):  # reap it if we are its parent without a Popen
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    async def create_topics(
        self, names: Iterable[str], partitions: int = 1, replication: int = 1
    ) -> list[str]:
        """Create topics on this broker, ignoring existing ones; return those created."""
        return await admin.create_topics(self.bootstrap, names, partitions, replication)
