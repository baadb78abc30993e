"""Soak: hold a fixed article rate through a real broker and a real worker, then account for every record.

Not a CI test (it runs for minutes). It starts a private loopback broker (full JIT) unless
WIREWATCH_BENCH_BROKER is set, runs ``wirewatch worker`` as users do, publishes ``--rate`` articles/s
for ``--seconds`` and reads the three outcome topics while it publishes. It stops by itself: the
drain after publishing is bounded by ``--drain-seconds``.

Reports throughput (outputs per second over the run, and the achieved publish rate), latency
percentiles (output broker timestamp minus publish timestamp, overall and per minute), the worker's
RSS sampled every ``--rss-every`` seconds, and loss (published keys without an outcome; must be 0).

    .venv/bin/python scripts/soak.py --rate 500 --seconds 600 --json soak-500.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.bench.corpus import articles, corpus_name  # noqa: E402
from streams.bench.e2e import _free_port, env_assignment, local_broker, private_worker_env  # noqa: E402
from streams.localkafka.admin import create_topics  # noqa: E402


def rss_mb(pid: int) -> float | None:
    """Current resident set of a process (not ru_maxrss, which is inherited across exec)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def wait_ready(port: int, proc: Any, timeout: float) -> None:
    """Start-up (group join, recovery, subscriptions) must not count as latency."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("worker not ready in time")


def worker_env(bootstrap: str, tag: str, store: str, state_dir: str) -> dict[str, str]:
    return private_worker_env(
        bootstrap,
        tag,
        WIREWATCH_APP_ID=f"soak-{tag}",
        WIREWATCH_STORE=store,
        WIREWATCH_DATA_DIR=state_dir,
        WIREWATCH_WEB_PORT=str(_free_port()),
    )


class Soak:
    def __init__(self, args: argparse.Namespace, bootstrap: str) -> None:
        self.args = args
        self.bootstrap = bootstrap
        self.tag = f"soak{int(time.time())}"
        self.sent: dict[bytes, int] = {}  # key -> publish timestamp (ms)
        self.seen: dict[bytes, int] = {}  # key -> first output timestamp (ms)
        self.received: dict[bytes, int] = {}  # key -> when this reader got it (ms)
        self.outputs = 0
        self.rss: list[tuple[float, float | None]] = []
        self.publish_started = 0.0
        self.publish_ended = 0.0
        self.first_output_ms = 0
        self.last_output_ms = 0
        self.end = "running"

    @property
    def outcome_topics(self) -> list[str]:
        return [f"{self.tag}.classified", f"{self.tag}.duplicates", f"{self.tag}.deadletter"]

    async def publish(self, records: Iterator[bytes], n: int) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=1)
        await producer.start()
        rate = self.args.rate
        self.publish_started = time.perf_counter()
        try:
            for i, value in enumerate(records):
                delay = self.publish_started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = b"bench-%d" % i
                ts = int(time.time() * 1000)
                self.sent[key] = ts
                await producer.send(f"{self.tag}.articles", value, key=key, timestamp_ms=ts)
                if i + 1 >= n:
                    break
            await producer.flush()
        finally:
            await producer.stop()
            self.publish_ended = time.perf_counter()

    async def warm_up(self, count: int = 300) -> None:
        """First batches pay for lazy start-up (JIT in the broker, first fetches): keep them out of the
        figures by sending distinct warm-up articles first and waiting for their outcomes."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await producer.start()
        try:
            for i, value in enumerate(articles(count, seed=99, size=self.args.size)):
                doc = json.loads(value)
                doc["id"] = f"warm-{i}"
                await producer.send(f"{self.tag}.articles", json.dumps(doc).encode(), key=b"warm-%d" % i)
            await producer.flush()
        finally:
            await producer.stop()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(k.startswith(b"warm-") for k in self.seen) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # polling a count the collector task updates
        self.seen = {k: v for k, v in self.seen.items() if not k.startswith(b"warm-")}
        self.received = {k: v for k, v in self.received.items() if not k.startswith(b"warm-")}
        self.outputs = 0
        self.first_output_ms = 0

    async def collect(self, done: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self.outcome_topics,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            while not done.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                received = int(time.time() * 1000)
                for recs in batch.values():
                    for r in recs:
                        self.outputs += 1
                        key = r.key or b""
                        if key not in self.seen:
                            self.seen[key] = r.timestamp
                            self.received[key] = received
                        if not self.first_output_ms:
                            self.first_output_ms = r.timestamp
                        self.last_output_ms = max(self.last_output_ms, r.timestamp)
        finally:
            await consumer.stop()

    async def sample_rss(self, pid: int, done: asyncio.Event, started: float) -> None:
        while not done.is_set():
            self.rss.append((round(time.perf_counter() - started, 1), rss_mb(pid)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.args.rss_every)

    async def run(self, pid: int) -> None:
        n = int(self.args.rate * self.args.seconds)
        done = asyncio.Event()
        started = time.perf_counter()
        collector = asyncio.create_task(self.collect(done))
        sampler = asyncio.create_task(self.sample_rss(pid, done, started))
        await asyncio.sleep(3.0)  # collector assigned before the first record
        await self.warm_up()
        await self.publish(articles(n, size=self.args.size), n)
        deadline = time.monotonic() + self.args.drain_seconds
        progress, last_change = len(self.seen), time.monotonic()
        self.end = "drained"
        while len(self.seen) < len(self.sent):
            await asyncio.sleep(0.5)  # polling a count the collector task updates
            if len(self.seen) != progress:
                progress, last_change = len(self.seen), time.monotonic()
            elif time.monotonic() - last_change > 60:
                self.end = "stalled"  # no outcome for a minute with records missing: those are lost
                break
            if time.monotonic() > deadline:
                self.end = "deadline"  # still progressing: a backlog, not a loss
                break
        done.set()
        await asyncio.gather(collector, sampler)

    def report(self) -> dict[str, Any]:
        lat = [float(self.seen[k] - ts) for k, ts in self.sent.items() if k in self.seen]
        visible = [float(self.received[k] - ts) for k, ts in self.sent.items() if k in self.received]
        by_minute: dict[int, list[float]] = {}
        t0 = min(self.sent.values()) if self.sent else 0
        for k, ts in self.sent.items():
            if k in self.seen:
                by_minute.setdefault((ts - t0) // 60_000, []).append(float(self.seen[k] - ts))
        span = max((self.last_output_ms - self.first_output_ms) / 1000.0, 1e-3)
        pub_span = max(self.publish_ended - self.publish_started, 1e-3)
        return {
            "corpus": corpus_name(),
            "offered_rate": self.args.rate,
            "seconds": self.args.seconds,
            "store": self.args.store,
            "published": len(self.sent),
            "achieved_publish_rate": round(len(self.sent) / pub_span, 1),
            "outcomes_distinct": len(self.seen),
            "outcome_records": self.outputs,
            "end": self.end,
            "missing_at_end": len(self.sent) - len(self.seen),
            "lost": len(self.sent) - len(self.seen) if self.end != "deadline" else None,
            "throughput_per_s": round(len(self.seen) / span, 1),
            "latency_ms": {
                "p50": pct(lat, 0.50),
                "p95": pct(lat, 0.95),
                "p99": pct(lat, 0.99),
                "max": max(lat) if lat else float("nan"),
            },
            # What a consumer experiences: the output's broker timestamp is when the worker sent it,
            # the reader gets it once the broker's high watermark passes it.
            "visible_latency_ms": {
                "p50": pct(visible, 0.50),
                "p95": pct(visible, 0.95),
                "p99": pct(visible, 0.99),
                "max": max(visible) if visible else float("nan"),
            },
            "p99_ms_by_minute": {str(m): pct(v, 0.99) for m, v in sorted(by_minute.items())},
            "worker_rss_mb": [(t, round(r, 1) if r else None) for t, r in self.rss],
        }


def render(r: dict[str, Any]) -> str:
    rss = [x for _, x in r["worker_rss_mb"] if x is not None]
    lines = [
        f"offered {r['offered_rate']}/s for {r['seconds']} s ({r['corpus']}, store {r['store']})",
        f"published {r['published']} (achieved {r['achieved_publish_rate']}/s), "
        f"outcomes {r['outcomes_distinct']} distinct / {r['outcome_records']} records; ended {r['end']}, "
        f"missing {r['missing_at_end']}, LOST {r['lost'] if r['lost'] is not None else 'unknown (backlog at deadline)'}",
        f"throughput {r['throughput_per_s']}/s; latency p50 {r['latency_ms']['p50']:.0f} ms, "
        f"p95 {r['latency_ms']['p95']:.0f} ms, p99 {r['latency_ms']['p99']:.0f} ms, max {r['latency_ms']['max']:.0f} ms",
        f"visible to a reader: p50 {r['visible_latency_ms']['p50']:.0f} ms, p95 {r['visible_latency_ms']['p95']:.0f} ms, "
        f"p99 {r['visible_latency_ms']['p99']:.0f} ms",
        "p99 by minute (ms): " + ", ".join(f"{m}:{v:.0f}" for m, v in r["p99_ms_by_minute"].items()),
    ]
    if rss:
        lines.append(
            f"worker RSS MB: start {rss[0]:.0f}, min {min(rss):.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}"
        )
        step = max(1, len(r["worker_rss_mb"]) // 12)
        lines.append(
            "RSS over time: " + ", ".join(f"{t:.0f}s:{x}" for t, x in r["worker_rss_mb"][::step] if x)
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=500.0, help="articles per second offered (default 500)")
    p.add_argument("--seconds", type=float, default=600.0, help="publishing time (default 600)")
    p.add_argument(
        "--drain-seconds", type=float, default=900.0, help="max wait for the backlog after publishing"
    )
    p.add_argument("--size", type=int, default=3000, help="article body characters (default 3000)")
    p.add_argument("--store", default="rocksdb://", help="worker table store (default rocksdb://)")
    p.add_argument("--rss-every", type=float, default=10.0, help="RSS sampling interval, seconds")
    p.add_argument("--json", help="also write the report to this file")
    p.add_argument("env", nargs="*", type=env_assignment, help="KEY=VALUE for the worker's environment")
    args = p.parse_args()

    import subprocess

    with local_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="wirewatch-soak-") as tmp:
        soak = Soak(args, bootstrap)
        asyncio.run(
            create_topics(bootstrap, [f"{soak.tag}.articles", *soak.outcome_topics, f"{soak.tag}.alerts"])
        )
        env = worker_env(bootstrap, soak.tag, args.store, str(Path(tmp) / "state"))
        env.update(args.env)
        log = (Path(tmp) / "worker.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(int(env["WIREWATCH_WEB_PORT"]), proc, 120.0)
            asyncio.run(soak.run(proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()
            if proc.returncode not in (0, -15, None):
                print((Path(tmp) / "worker.log").read_text()[-3000:], file=sys.stderr)
        result = soak.report()
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if result["lost"] == 0 else 1  # a backlog at the deadline is not a pass either


if __name__ == "__main__":
    sys.exit(main())
