"""The bench broker's memory cgroup, against a fake cgroup tree (the real one needs root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.bench.cgroup import cap_memory, release

pytestmark = pytest.mark.unit


def test_v1_moves_the_process_into_a_capped_group(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    group = cap_memory(4242, 2 << 30, root=tmp_path)
    assert group == tmp_path / "memory" / "wirewatch-bench-broker-4242"
    assert (group / "memory.limit_in_bytes").read_text() == str(2 << 30)
    assert (group / "cgroup.procs").read_text() == "4242"


def test_v2_writes_memory_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    group = cap_memory(7, 1 << 30, root=tmp_path)
    assert group is not None and (group / "memory.max").read_text() == str(1 << 30)
    assert (group / "cgroup.procs").read_text() == "7"


@pytest.mark.parametrize("tree", ["v2 without memory", "no memory hierarchy"])
def test_no_memory_controller_leaves_the_broker_uncapped(tmp_path: Path, tree: str) -> None:
    if tree == "v2 without memory":
        (tmp_path / "cgroup.controllers").write_text("cpu io pids\n")
    assert cap_memory(7, 1 << 30, root=tmp_path) is None
    assert not any(tmp_path.glob("**/wirewatch-bench-broker-*"))


def test_a_group_that_cannot_be_written_is_removed_again(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "wirewatch-bench-broker-9").mkdir()  # taken: mkdir fails
    assert cap_memory(9, 1 << 30, root=tmp_path) is None
    blocked = tmp_path / "memory" / "wirewatch-bench-broker-10" / "memory.limit_in_bytes"
    blocked.mkdir(parents=True)  # writing the limit fails
    assert cap_memory(10, 1 << 30, root=tmp_path) is None


def test_release_removes_an_empty_group_and_gives_up_on_a_busy_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    release(empty)
    assert not empty.exists()
    busy = tmp_path / "busy"
    (busy / "member").mkdir(parents=True)  # rmdir fails, as for a group whose process still exits
    release(busy, within=0.2)
    assert busy.exists()
    release(tmp_path / "gone")  # already removed: nothing to do


@pytest.mark.parametrize(("value", "expected"), [(None, 2048), ("", 2048), ("0", 0), (" 4096 ", 4096)])
def test_the_broker_memory_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int) -> None:
    from streams.bench.e2e import broker_memory_mb

    if value is None:
        monkeypatch.delenv("WIREWATCH_BENCH_BROKER_MEMORY_MB", raising=False)
    else:
        monkeypatch.setenv("WIREWATCH_BENCH_BROKER_MEMORY_MB", value)
    assert broker_memory_mb() == expected


@pytest.mark.parametrize("value", ["2g", "-1", "1.5"])
def test_a_broker_memory_setting_that_is_no_size_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from streams.bench.e2e import broker_memory_mb

    monkeypatch.setenv("WIREWATCH_BENCH_BROKER_MEMORY_MB", value)
    with pytest.raises(ValueError, match="WIREWATCH_BENCH_BROKER_MEMORY_MB"):
        broker_memory_mb()
