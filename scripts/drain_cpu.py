"""Experiment (not CI): one target drains a pre-loaded backlog; where did the CPU go?

Prints the drain rate (``streams/bench/e2e.py``'s saturation measure) and the CPU seconds the broker,
each thread of the target and each of its child processes spent meanwhile, the seconds each thread
and child waited in the run queue for a core, the machine's idle share, and RSS at the end: what
showed the worker's main thread idle behind aiokafka's 16 KB producer batches, how much of the second
core the classifier process uses, and that the main thread is runnable nearly all of a drain.

    .venv/bin/wirewatch kafka start
    .venv/bin/python scripts/drain_cpu.py --records 12000 --target wirewatch
    .venv/bin/python scripts/drain_cpu.py --target wirewatch WIREWATCH_CLASSIFIER_PROCESSES=0
    .venv/bin/python scripts/drain_cpu.py --target faust_passthrough
    .venv/bin/python scripts/drain_cpu.py --private --rounds 6 --target faust_passthrough,wirewatch  # own broker
    .venv/bin/python scripts/drain_cpu.py --records 30000 --profile /tmp/worker.raw  # py-spy on PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: str) -> float:
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def usage(pid: int) -> tuple[float, float, int]:
    """(user s, system s, minor page faults) of a process: on this VM a fault that must zero a fresh
    page is costly, and the system share says how much of a process's CPU went there."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK, int(fields[7])


def queued_seconds(pid: int | str, tid: int | str | None = None) -> float:
    """Time a thread (the main one by default) was runnable but waiting for a core
    (``schedstat``). CPU time alone cannot tell a thread that waits for work from one that waits for
    a core; a worker's main thread was runnable 91-99% of a drain, 10-36% of it queued."""
    fields = Path(f"/proc/{pid}/task/{tid or pid}/schedstat").read_text().split()
    return int(fields[1]) / 1e9


def idle_ticks() -> tuple[int, int]:
    """(idle + iowait, all) clock ticks of the machine so far, from ``/proc/stat``."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


def threads(pid: int) -> dict[str, tuple[float, float]]:
    """Per thread (``"<tid> <name>"``): CPU seconds, and seconds queued for a core."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            out[f"{tid} {name}"] = (cpu_seconds(f"/proc/{pid}/task/{tid}/stat"), queued_seconds(pid, tid))
        except OSError:  # the thread ended meanwhile
            continue
    return out


def thread_kinds(pid: int) -> dict[str, float]:
    """CPU seconds per kind of thread (its name less the number): for the broker, what its JIT
    compiler ("C2 CompilerThre") and collector ("G1 Conc", "GC Thread") took against the threads
    serving requests ("data-plane-kafk"). The C2 compiler was still a third of the broker's CPU
    after twelve drains, more in the Faust passthrough's (docs/benchmarks.md)."""
    out: dict[str, float] = {}
    for thread, (seconds, _) in threads(pid).items():
        kind = thread.split(" ", 1)[1].rstrip("0123456789#-")
        out[kind] = out.get(kind, 0.0) + seconds
    return out


def children(pid: int) -> dict[str, tuple[float, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out[entry] = (cpu_seconds(f"/proc/{entry}/stat"), queued_seconds(entry))
            except (OSError, ValueError):
                continue
    return out


def rss_mb(pid: str | int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    """Free memory and page cache (MB) and the kernel's dirty pages: what a run leaves behind."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0]) // 1024
    return f"free {info['MemFree']:,} MB, cached {info['Cached']:,} MB, dirty {info['Dirty']:,} MB"


def drain(
    bootstrap: str,
    broker: int,
    target: Any,
    records: list[bytes],
    logs: Path,
    label: str,
    profile: str | None = None,
) -> float:
    """One target drains ``records`` pre-loaded on its input topic; prints where the CPU went, and
    with ``profile`` records the target's main process with py-spy meanwhile (raw, ``--native``)."""
    from streams.bench import e2e

    values = e2e._preload(bootstrap, target, records)
    with e2e.running(target, logs) as proc:
        asyncio.run(target.collect(bootstrap, 20, wait_s=60))  # started
        spy = None
        if profile:
            argv = [
                "py-spy",
                "record",
                "-p",
                str(proc.pid),
                "-o",
                profile,
                "-f",
                "raw",
                "-r",
                "200",
                "--native",
            ]
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        u0 = {"broker": usage(broker), "target": usage(proc.pid)}
        k0 = thread_kinds(broker)
        b0, t0, c0, w0, i0 = (
            cpu_seconds(f"/proc/{broker}/stat"),
            threads(proc.pid),
            children(proc.pid),
            time.time(),
            idle_ticks(),
        )
        rate = e2e._drain_rate(bootstrap, target, len(values), logs)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes the profile when interrupted
            spy.wait(60)
        u1 = {"broker": usage(broker), "target": usage(proc.pid)}
        k1 = thread_kinds(broker)
        b1, t1, c1, w1, i1 = (
            cpu_seconds(f"/proc/{broker}/stat"),
            threads(proc.pid),
            children(proc.pid),
            time.time(),
            idle_ticks(),
        )
        idle = (i1[0] - i0[0]) / max(1, i1[1] - i0[1])
        print(
            f"{label}: {rate:,.0f} records/s; {w1 - w0:.1f} s wall, broker {b1 - b0:.1f} s CPU, "
            f"machine {idle:.0%} idle"
        )
        for name, (seconds, queued) in t1.items():
            before, queued_before = t0.get(name, (0.0, 0.0))
            if seconds - before >= 0.05:
                print(f"  thread {name}: {seconds - before:.1f} s CPU, {queued - queued_before:.1f} s queued")
        for pid, (seconds, queued) in c1.items():
            before, queued_before = c0.get(pid, (0.0, 0.0))
            print(
                f"  child {pid}: {seconds - before:.1f} s CPU, {queued - queued_before:.1f} s queued, "
                f"RSS {rss_mb(pid):.0f} MB"
            )
        print(f"  RSS of the target: {rss_mb(proc.pid):.0f} MB, of the broker {rss_mb(broker):.0f} MB")
        for who, (user, system, faults) in u1.items():
            du, ds, df = user - u0[who][0], system - u0[who][1], faults - u0[who][2]
            print(f"  {who}: user {du:.1f} s, system {ds:.1f} s, {df / len(values):.2f} page faults a record")
        kinds = sorted(((k1[k] - k0.get(k, 0.0), k) for k in k1), reverse=True)
        print("  broker threads: " + ", ".join(f"{k} {d:.2f} s" for d, k in kinds if d >= 0.05))
        print(f"  machine: {machine()}", flush=True)
    return rate


def main() -> None:
    from streams.bench import e2e
    from streams.bench.corpus import CORPORA, articles, corpus_name

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=12_000)
    p.add_argument("--corpus", choices=CORPORA, default="news", help="news: the bench's (default)")
    p.add_argument(
        "--target",
        default="wirewatch",
        help="wirewatch, faust_passthrough or raw_aiokafka; comma-separated drain in turn",
    )
    p.add_argument(
        "--rounds", type=int, default=1, help="drain every target this many times, new topics each"
    )
    p.add_argument(
        "--private",
        action="store_true",
        help="on a broker of its own, as the bench starts it (full JIT, 1 GB heap, 2 GiB memory cgroup), not --bootstrap",
    )
    p.add_argument("--profile", help="py-spy raw profile of the target's main process here (py-spy on PATH)")
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--broker-pid-file", default=str(ROOT / ".kafka" / "kafka.pid"))
    p.add_argument("env", nargs="*", type=e2e.env_assignment, help="KEY=VALUE for the target's environment")
    args = p.parse_args()
    names = args.target.split(",")
    records = list(articles(args.records, corpus=args.corpus))
    # Without `make bench-corpus` the labelled wire set stands in, and drains differ (a whole
    # session's figures were taken on it unnoticed).
    print(f"corpus: {corpus_name(corpus=args.corpus)}, {len(records):,} records", flush=True)
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    with contextlib.ExitStack() as stack:
        if args.private:
            kafka = stack.enter_context(e2e.private_broker())
            bootstrap, found = kafka.bootstrap, kafka.live_pid()
            if found is None:
                raise SystemExit("the private broker exited")
            broker = found
        else:
            bootstrap = args.bootstrap
            broker = int(Path(args.broker_pid_file).read_text().split()[0])
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            by_name = {t.name: t for t in e2e.targets(bootstrap)}
            for name in names:
                target = by_name[name]
                target.env.update(args.env)
                label = f"round {r + 1} {name} {' '.join(f'{k}={v}' for k, v in args.env)}"
                profile = (
                    f"{args.profile}.{r + 1}.{name}" if args.profile and args.rounds > 1 else args.profile
                )
                rates[name].append(drain(bootstrap, broker, target, records, logs, label, profile))
        for name, got in rates.items():
            print(f"{name}: " + ", ".join(f"{x:,.0f}" for x in got) + " records/s")


if __name__ == "__main__":
    main()
