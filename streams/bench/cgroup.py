"""A memory cgroup for the bench's private broker, so its page cache recycles its own pages.

A long-running broker's page cache is full and recycles its pages. The bench's private broker starts
empty and every round writes new topics (~250 MB a round), so its page cache keeps growing into free
memory; on this VM (Firecracker, virtio-balloon free page reporting) free memory has been handed back
to the host, and each fresh page costs the host a fault on first touch. Measured (fourteenth session,
eight interleaved rounds, twice): the broker's kernel time for a Wirewatch drain rose from 0.2 to
0.6-0.9 s from round 6 (page zeroing and the write's copy, 41% of its samples against 2% in round 1),
and not at all with the broker held to 2 GiB; the Faust passthrough writes less than half the bytes
and moved less. Capped, the bench measures the steady state a production broker runs in.

cgroup v2 (``memory.max``) or v1 (``memory/…/memory.limit_in_bytes``); where neither can be written
(not root, no memory controller delegated) the broker runs uncapped, and the bench says so.
"""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def cap_memory(pid: int, limit_bytes: int, root: Path = ROOT) -> Path | None:
    """Move ``pid`` into a new memory cgroup of ``limit_bytes`` (page cache included); its directory,
    or None when cgroups cannot be written here."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():  # v2: one hierarchy, the memory controller enabled for children
        try:
            enabled = controllers.read_text().split()
        except OSError:
            return None
        if "memory" not in enabled:
            return None
        base, limit_file = root, "memory.max"
    else:
        base, limit_file = root / "memory", "memory.limit_in_bytes"
        if not base.is_dir():
            return None
    group = base / f"wirewatch-bench-broker-{pid}"
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        (group / limit_file).write_text(str(limit_bytes))
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        release(group)
        return None
    return group


def release(group: Path, within: float = 10.0) -> None:
    """Remove the cgroup once its process has exited (one with members cannot be removed: the kernel
    takes a moment after the exit)."""
    deadline = time.monotonic() + within
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
