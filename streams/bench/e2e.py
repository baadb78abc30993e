"""End-to-end benchmarks through a real local broker: Wirewatch against two passthrough baselines.

Every target reads the same pre-built records from its own input topic and writes one output record
per input (Wirewatch: its outcome topics), keyed by the input key. Throughput comes from the output
records' broker timestamps (first to last), latency from output timestamp minus the input's publish
timestamp, so the measuring consumer's own delays do not count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.bench.cgroup import cap_memory, release
from streams.localkafka import KafkaConfig, LocalKafka
from streams.localkafka.admin import create_topics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: Memory the private broker may use, its 1 GB heap and its page cache included (MiB; 0: no cap),
#: unless ``WIREWATCH_BENCH_BROKER_MEMORY_MB`` says otherwise. ``streams/bench/cgroup.py`` says why.
BROKER_MEMORY_MB = 2048


def broker_memory_mb() -> int:
    """``WIREWATCH_BENCH_BROKER_MEMORY_MB``, or :data:`BROKER_MEMORY_MB`."""
    raw = os.environ.get("WIREWATCH_BENCH_BROKER_MEMORY_MB", "").strip()
    if not raw:
        return BROKER_MEMORY_MB
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"WIREWATCH_BENCH_BROKER_MEMORY_MB: a whole number of MiB (0: no cap), not {raw!r}")
    return value


@contextmanager
def local_broker(facts: dict[str, Any] | None = None) -> Iterator[str]:
    """WIREWATCH_BENCH_BROKER if set, else a private broker (``private_broker``); ``facts`` gets
    ``broker_memory_mb``, the private broker's memory cap (None: none)."""
    external = os.environ.get("WIREWATCH_BENCH_BROKER")
    if external:
        if facts is not None:
            facts["broker_memory_mb"] = None
        yield external
        return
    with private_broker() as kafka:
        if facts is not None:
            facts["broker_memory_mb"] = kafka.memory_cap_mb
        yield kafka.bootstrap


class PrivateKafka(LocalKafka):
    """The bench's own broker, which knows whether its memory is capped (the bench reports it)."""

    #: The memory cgroup's cap in MiB, once applied.
    memory_cap_mb: int | None = None


@contextmanager
def private_broker(memory_mb: int | None = None) -> Iterator[PrivateKafka]:
    """A broker of the bench's own: full JIT (the development broker's is C1 only, for a quick
    start), a 1 GB heap, at most ``memory_mb`` of memory with its page cache (default
    :func:`broker_memory_mb`; where cgroups cannot be written, uncapped), free ports, and its data
    deleted when it stops."""
    memory_mb = broker_memory_mb() if memory_mb is None else memory_mb
    with tempfile.TemporaryDirectory(prefix="wirewatch-bench-") as tmp:
        config = replace(
            KafkaConfig.from_env(),
            data_dir=Path(tmp),
            port=_free_port(),
            controller_port=_free_port(),
            jvm_opts=(),
            heap="1g",
        )
        kafka = PrivateKafka(config)
        kafka.start(wait=120.0)
        group: Path | None = None
        try:
            pid = kafka.live_pid()
            group = cap_memory(pid, memory_mb << 20) if memory_mb > 0 and pid is not None else None
            kafka.memory_cap_mb = memory_mb if group is not None else None
            yield kafka
        finally:
            kafka.stop()
            if group is not None:
                release(group)


@dataclass
class Target:
    name: str
    input_topic: str
    output_topics: list[str]
    argv: list[str]
    env: dict[str, str]
    #: Count outputs only once committed (``read_committed``), as a consumer of exactly-once would.
    read_committed: bool = False
    #: Time outputs when the collector receives them, not by broker timestamp: a transaction's records
    #: carry the time they were written, not the later time they became visible.
    reader_time: bool = False

    def collect(
        self, bootstrap: str, expect: int, wait_s: float, keys: set[bytes] | None = None,
        positioned: asyncio.Event | None = None,
    ) -> Coroutine[Any, Any, list[tuple[bytes, int]]]:  # fmt: skip
        """``_collect`` of this target's outputs, read as the target asks."""
        isolation = "read_committed" if self.read_committed else "read_uncommitted"
        return _collect(
            bootstrap, self.output_topics, expect, wait_s, keys, positioned, isolation, self.reader_time
        )


def env_assignment(item: str) -> tuple[str, str]:
    """``KEY=VALUE`` from a command line (the experiment scripts' target environments), as an argparse
    ``type``: an item without ``=`` or with an empty key is a usage error, not a traceback."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
    return key, value


def private_worker_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment of a ``wirewatch worker`` whose group and topics (``<prefix>.articles``, ...) are its
    own, so runs sharing a broker never see each other's records; ``extra`` variables win."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(
        WIREWATCH_BROKER=bootstrap,
        WIREWATCH_APP_ID=f"ww-{prefix}",
        WIREWATCH_TOPIC_ARTICLES=f"{prefix}.articles",
        WIREWATCH_TOPIC_CLASSIFIED=f"{prefix}.classified",
        WIREWATCH_TOPIC_DUPLICATES=f"{prefix}.duplicates",
        WIREWATCH_TOPIC_DEADLETTER=f"{prefix}.deadletter",
        WIREWATCH_TOPIC_ALERTS=f"{prefix}.alerts",
        WIREWATCH_TOPIC_SUBSCRIPTIONS=f"{prefix}.subscriptions",
        WIREWATCH_ALERT_TOPIC_PREFIX=f"{prefix}.alerts.",
        WIREWATCH_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def targets(bootstrap: str) -> list[Target]:
    tag = uuid.uuid4().hex[:8]
    py = sys.executable
    raw_in, raw_out = f"bench.{tag}.raw.in", f"bench.{tag}.raw.out"
    faust_in, faust_out = f"bench.{tag}.faust.in", f"bench.{tag}.faust.out"
    ww = f"bench.{tag}.ww"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    ww_env = private_worker_env(
        bootstrap,
        ww,
        WIREWATCH_APP_ID=f"bench-ww-{tag}",
        WIREWATCH_STORE="memory://",
        WIREWATCH_DATA_DIR="state",  # in the target's own working directory (``running``)
        WIREWATCH_WEB_PORT=str(_free_port()),
    )
    return [
        Target(
            "raw_aiokafka",
            raw_in,
            [raw_out],
            [py, "-m", "streams.bench.passthrough", "raw", raw_in, raw_out, bootstrap],
            env,
        ),
        Target(
            "faust_passthrough",
            faust_in,
            [faust_out],
            [py, "-m", "streams.bench.passthrough", "faust", faust_in, faust_out, bootstrap],
            env,
        ),
        Target(
            "wirewatch",
            f"{ww}.articles",
            [f"{ww}.classified", f"{ww}.duplicates", f"{ww}.deadletter"],
            [py, "-m", "streams.cli", "worker"],
            ww_env,
        ),
    ]


async def _produce(
    bootstrap: str, topic: str, records: Sequence[bytes], rate: float = 0.0, prefix: str = "r"
) -> dict[bytes, int]:
    """Publish records keyed ``<prefix><i>``; returns key -> publish timestamp (ms)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=1 if rate else 20, max_batch_size=262144
    )
    await producer.start()
    sent: dict[bytes, int] = {}
    pre = prefix.encode()
    start = time.perf_counter()
    try:
        for i, value in enumerate(records):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            key = b"%s%d" % (pre, i)
            ts = int(time.time() * 1000)
            sent[key] = ts
            await producer.send(topic, value, key=key, timestamp_ms=ts)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _collect(
    bootstrap: str,
    topics: list[str],
    expect: int,
    wait_s: float,
    keys: set[bytes] | None = None,
    positioned: asyncio.Event | None = None,
    isolation_level: str = "read_uncommitted",
    reader_time: bool = False,
) -> list[tuple[bytes, int]]:
    """``(key, broker timestamp)`` of the outputs, only those keyed by one of ``keys`` when given;
    with ``reader_time``, the time this reader got the record instead of the broker's.

    From the start of ``topics``; or, with ``positioned``, from their current end, setting the event
    once every partition's position is fixed. A warm target's topics hold its earlier outputs, and
    reading thousands of them in this process would stall the producer sharing its event loop,
    which then measures its own delay as the target's latency (seen: seconds at 100/s).
    """
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    out: list[tuple[bytes, int]] = []
    try:
        if positioned is not None:
            await _at_end(consumer, topics)
            positioned.set()
        deadline = time.monotonic() + wait_s
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            now_ms = int(time.time() * 1000)
            for records in batch.values():
                out.extend(
                    (r.key or b"", now_ms if reader_time else r.timestamp)
                    for r in records
                    if keys is None or r.key in keys
                )
    finally:
        await consumer.stop()
    return out


async def _at_end(consumer: AIOKafkaConsumer, topics: list[str], within: float = 30.0) -> None:
    """Position a group-less consumer at the end of every partition of ``topics`` (all pre-created)."""
    deadline = time.monotonic() + within
    while {tp.topic for tp in consumer.assignment()} != set(topics):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no partitions of {topics} assigned within {within:.0f} s")
        await asyncio.sleep(0.05)
    tps = sorted(consumer.assignment())
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)


def _rekey(records: Sequence[bytes], target: Target, prefix: str = "r") -> list[bytes]:
    """Wirewatch keys its outputs by article id: make the ids the benchmark keys (``<prefix><i>``)."""
    if target.name != "wirewatch":
        return list(records)
    import orjson

    out = []
    for i, raw in enumerate(records):
        doc = orjson.loads(raw)
        doc["id"] = f"{prefix}{i}"
        out.append(orjson.dumps(doc))
    return out


def _create(bootstrap: str, target: Target) -> None:
    """Topics exist before anyone subscribes: a group-less consumer would not see them for minutes."""
    asyncio.run(create_topics(bootstrap, [target.input_topic, *target.output_topics]))


@contextmanager
def running(target: Target, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The target started in a working directory of its own, deleted once it stopped: Faust writes
    ``<app id>-data/`` there (a new one per run; they piled up in the caller's directory)."""
    log = (log_dir / f"{target.name}.log").open("wb")
    with tempfile.TemporaryDirectory(prefix=f"wirewatch-bench-{target.name}-") as cwd:
        proc = subprocess.Popen(
            target.argv,
            env=target.env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_group(proc)
            log.close()


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM a process started with ``start_new_session`` and its children; SIGKILL after ``grace``.

    A group that is gone already (the target crashed and took its children) is no error here: the
    caller reports the crash from the target's log."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def saturation(bootstrap: str, target: Target, records: Sequence[bytes], log_dir: Path) -> float:
    """Records/s when the whole backlog is waiting in the input topic before the target starts."""
    values = _preload(bootstrap, target, records)
    with running(target, log_dir):
        return _drain_rate(bootstrap, target, len(values), log_dir)


def _preload(bootstrap: str, target: Target, records: Sequence[bytes]) -> list[bytes]:
    values = _rekey(records, target)
    _create(bootstrap, target)
    asyncio.run(_produce(bootstrap, target.input_topic, values))
    return values


def _drain_rate(bootstrap: str, target: Target, n: int, log_dir: Path) -> float:
    """Throughput of a started target over a backlog of ``n``: outputs over first-to-last output time."""
    outputs = asyncio.run(target.collect(bootstrap, n, wait_s=600))
    if len(outputs) < n:
        raise RuntimeError(f"{target.name}: {len(outputs)}/{n} outputs (see {log_dir})")
    stamps = sorted(ts for _, ts in outputs)
    span = max((stamps[-1] - stamps[0]) / 1000.0, 1e-3)
    return (len(stamps) - 1) / span


def latency(
    bootstrap: str, target: Target, records: Sequence[bytes], rate: float, log_dir: Path
) -> dict[str, float]:
    """Publish-to-output latency percentiles (ms) at a fixed offered load, on a target already running
    and warm (start-up, group join and recovery must not count as latency)."""
    prefix = f"l{uuid.uuid4().hex[:6]}-"  # unique per run: the collector reads the topics from the start
    values = _rekey(records, target, prefix=prefix)
    keys = {b"%s%d" % (prefix.encode(), i) for i in range(len(values))}

    async def go() -> tuple[dict[bytes, int], list[tuple[bytes, int]]]:
        positioned = asyncio.Event()
        collector = asyncio.create_task(
            target.collect(bootstrap, len(values), len(values) / rate + 120, keys, positioned)
        )
        await positioned.wait()  # every output partition's position fixed before the first record
        sent = await _produce(bootstrap, target.input_topic, values, rate=rate, prefix=prefix)
        return sent, await collector

    sent, outputs = asyncio.run(go())
    lat = sorted(ts - sent[key] for key, ts in outputs if key in sent)
    if not lat:
        raise RuntimeError(f"{target.name}: no outputs at {rate}/s (see {log_dir})")

    def pct(p: float) -> float:
        return float(lat[min(len(lat) - 1, int(p * len(lat)))])

    return {"rate": rate, "n": len(lat), "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def latency_sizes(rates: Sequence[float], seconds: float) -> list[int]:
    """Records offered at each rate: ``seconds`` of it, at least 200."""
    return [max(int(rate * seconds), 200) for rate in rates]


def run(
    records: Sequence[bytes],
    rates: Sequence[float],
    seconds: float,
    fresh: Sequence[bytes],
    rounds: int = 1,
    every_round: float = 500.0,
    warm_up: bool = False,
) -> dict[str, Any]:
    """Saturation throughput of the baselines and Wirewatch over ``records``, ``rounds`` times, each
    round on fresh topics and groups; then, on each round's warm Wirewatch worker, latency at the
    ``every_round`` load, and on the last round's at each of ``rates``, over ``fresh`` records (other
    stories than ``records``: repeats would be exact duplicates, cheaper than what a live wire sends).

    Rounds alternate the order (baselines first, then Wirewatch first): this VM has slow phases of a
    minute or more (fresh memory costs ~10x more to fault in, for the worker and the broker alike), and
    one target drained in a slow phase and the others in a fast one gave ratios from 0.59 to 1.44.
    The three targets of a round run within a minute of each other, so per-round ratios compare like
    with like; ``run.py`` reports their median, and the median of the rounds' p99 at ``every_round``.

    ``warm_up``: first every target drains ``records`` once, unmeasured. On a fresh broker the JIT
    compiler takes a third to a half of the broker's CPU for minutes, most in the drains of the
    record-by-record passthrough, so early rounds favour batched traffic (docs/benchmarks.md).
    """
    result: dict[str, Any] = {"rounds": [], "latency": [], "latency_rounds": []}
    with (
        local_broker(result) as bootstrap,
        tempfile.TemporaryDirectory(prefix="wirewatch-bench-logs-") as logs,
    ):
        log_dir = Path(logs)
        if warm_up:
            for target in targets(bootstrap):
                saturation(bootstrap, target, records, log_dir)
        for r in range(rounds):
            last = r == rounds - 1
            *others, wirewatch = targets(bootstrap)  # new topics and groups every round
            order = [*others, wirewatch] if r % 2 == 0 else [wirewatch, *reversed(others)]
            drained: dict[str, float] = {}
            for target in order:
                if target is not wirewatch:
                    drained[target.name] = saturation(bootstrap, target, records, log_dir)
                    continue
                offered = list(rates) if last else [x for x in rates if x == every_round]
                runs: list[dict[str, float]] = []
                drained[target.name] = _drain_then_latency(
                    bootstrap, target, records, offered, seconds, fresh, log_dir, runs
                )
                result["latency_rounds"].extend(x for x in runs if x["rate"] == every_round)
                if last:
                    result["latency"] = runs
            result["rounds"].append({name: round(rate, 1) for name, rate in drained.items()})
    return result


def _drain_then_latency(
    bootstrap: str,
    target: Target,
    records: Sequence[bytes],
    rates: Sequence[float],
    seconds: float,
    fresh: Sequence[bytes],
    log_dir: Path,
    out: list[dict[str, float]],
) -> float:
    """Saturation throughput, then, on the same warm worker, latency at each rate (into ``out``)."""
    values = _preload(bootstrap, target, records)
    with running(target, log_dir):
        rate = _drain_rate(bootstrap, target, len(values), log_dir)
        at = 0
        for offered, n in zip(rates, latency_sizes(rates, seconds), strict=True):
            if at + n > len(fresh):
                raise ValueError(f"need {at + n} fresh records for the latency runs, got {len(fresh)}")
            out.append(latency(bootstrap, target, fresh[at : at + n], offered, log_dir))
            at += n
    return rate
