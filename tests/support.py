"""Helpers for tests against the real broker: a worker subprocess, producing, draining, scraping."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from streams.bench.e2e import private_worker_env

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.25,
    logs: Iterable[Worker] = (),
) -> None:
    """Poll ``check``; on timeout, fail with the log tails of ``logs``, which usually say why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    tails = "".join(f"\n--- {w.log_path.name} ---\n{w.log_tail()}" for w in logs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tails}")


def service_env(bootstrap: str, tag: str, **extra: str) -> dict[str, str]:
    """Environment for a worker whose topics, group and state are private to one test."""
    return private_worker_env(bootstrap, tag, PYTHONUNBUFFERED="1", **extra)


@dataclass
class Worker:
    """``wirewatch worker`` as a subprocess, exactly as users run it."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0, wait: bool = True) -> Worker:
        env = {**self.env, "WIREWATCH_WEB_PORT": str(self.port)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if wait:
            wait_until(self._ready, ready_timeout, f"worker /ready (log: {self.log_tail()})")
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return self.get("/ready")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        _, body = self.get("/metrics")
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit; the hard way a worker dies."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return "<no log>"
        return "\n".join(" ".join(line.split()) for line in text.splitlines()[-lines:])


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    compression: str | None = None,
) -> int:
    async def go() -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=2,
            max_request_size=4_000_000,
            compression_type=compression,
        )
        await producer.start()
        n = 0
        try:
            for key, value in records:
                await producer.send(topic, value, key=key)
                n += 1
            await producer.flush()
        finally:
            await producer.stop()
        return n

    return asyncio.run(go())


def drain(
    bootstrap: str,
    topic: str,
    expect: int | None = None,
    timeout: float = 60.0,
    idle: float = 3.0,
    isolation_level: str = "read_uncommitted",
) -> list[Any]:
    """Every record of a topic from the beginning: until ``expect`` records or ``idle`` seconds of quiet."""

    async def go() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level=isolation_level,
        )
        await consumer.start()
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        out.append(orjson.loads(r.value) if r.value is not None else None)
                        last = time.monotonic()
                if expect is not None and len(out) >= expect and time.monotonic() - last > 0.5:
                    break
                if expect is None and time.monotonic() - last > idle:
                    break
        finally:
            await consumer.stop()
        return out

    return asyncio.run(go())


def tag() -> str:
    return "t" + uuid.uuid4().hex[:10]
