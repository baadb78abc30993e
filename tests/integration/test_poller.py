"""``wirewatch poll`` against the real broker and a loopback feed server, as users run it.

Checks what matters across processes: every record on the topic is a schema-valid article keyed by
its id, a restarted poller publishes nothing it already published, conditional requests are sent and
304s are handled, broken feeds are logged and counted while the good ones flow.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from deploy_files import referenced_metrics, unexported
from feedserver import FEEDS, FeedServer
from prometheus_client.parser import text_string_to_metric_families
from support import ROOT, free_port, service_env, tag, wait_until

pytestmark = pytest.mark.integration

LAST_MODIFIED = "Tue, 12 May 2026 09:00:00 GMT"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


def records(bootstrap: str, topic: str, idle: float = 2.0) -> list[tuple[bytes | None, Any]]:
    """(key, decoded value) of every record of the topic, until ``idle`` seconds of quiet."""

    async def go() -> list[tuple[bytes | None, Any]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        out: list[tuple[bytes | None, Any]] = []
        last = time.monotonic()
        try:
            while time.monotonic() - last < idle:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    out.extend((r.key, orjson.loads(r.value)) for r in batch)
                    last = time.monotonic() if batch else last
        finally:
            await consumer.stop()
        return out

    return asyncio.run(go())


def partitions(bootstrap: str, topic: str) -> int:
    async def go() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
            return len(described["partitions"])
        finally:
            await admin.close()

    return asyncio.run(go())


def write_feeds(path: Path, feeds: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"feeds": feeds}))
    return path


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_poll_once_publishes_each_item_once_across_restarts(
    kafka_bootstrap: str, server: FeedServer, tmp_path: Path, contract: Callable[[str, object], None]
) -> None:
    t = tag()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_POLL_STATE_DIR=str(tmp_path / "state"), WIREWATCH_LOG_LEVEL="info",
        WIREWATCH_PARTITIONS="2",
    )  # fmt: skip
    created = cli(env, "topics")
    assert created.returncode == 0 and f"{t}.articles" in created.stdout, created.stderr
    rss = server.serve_file("/world.rss", "world_rss2.xml", etag='"w-1"')
    atom = server.serve_file(
        "/mideast.atom", "region_atom.xml", last_modified=LAST_MODIFIED, content_type="application/atom+xml"
    )
    plain = server.serve_file("/plain.rss", "world_rss2.xml")  # no validators: the seen-state must dedup
    feeds = write_feeds(
        tmp_path / "feeds.yaml",
        [
            {"name": "world", "url": rss, "interval": 60, "source": "Wire Test"},
            {"name": "mideast", "url": atom, "interval": 60},
            {"name": "plain", "url": plain, "interval": 60, "source": "Plain"},
        ],
    )

    first = cli(env, "poll", "--once", "--feeds", str(feeds))
    assert first.returncode == 0, first.stderr
    got = records(kafka_bootstrap, f"{t}.articles")
    assert len(got) == 3 + 2 + 3
    for key, doc in got:
        contract("article", doc)
        assert key == doc["id"].encode()
    assert {doc["source"] for _, doc in got} == {"Wire Test", "mideast", "Plain"}
    assert "feed world: HTTP 200, 3 new of 3 items" in first.stderr

    second = cli(env, "poll", "--once", "--feeds", str(feeds))  # a new process: state from disk only
    assert second.returncode == 0, second.stderr
    assert "feed world: HTTP 304" in second.stderr and "feed mideast: HTTP 304" in second.stderr
    assert "feed plain: HTTP 200, 0 new of 3 items" in second.stderr
    assert server.hits("/world.rss")[-1]["If-None-Match"] == '"w-1"'
    assert server.hits("/mideast.atom")[-1]["If-Modified-Since"] == LAST_MODIFIED
    assert len(records(kafka_bootstrap, f"{t}.articles", idle=1.0)) == 8

    # The publisher adds one item and changes its ETag: exactly that item is published.
    body = (
        (FEEDS / "world_rss2.xml")
        .read_text()
        .replace(
            "<item>",
            "<item><title>Cyberattack hits port systems</title><guid>wire-2026-04-15-0099</guid>"
            "<description>ROTTERDAM -- A cyberattack disrupted port systems.</description></item><item>",
            1,
        )
    )
    server.serve("/world.rss", body=body.encode(), etag='"w-2"')
    third = cli(env, "poll", "--once", "--feeds", str(feeds))
    assert "feed world: HTTP 200, 1 new of 4 items" in third.stderr, third.stderr
    after = records(kafka_bootstrap, f"{t}.articles", idle=1.0)
    new = {doc["id"]: doc["title"] for _, doc in after}.keys() - {doc["id"] for _, doc in got}
    assert len(after) == 9 and [d["title"] for _, d in after if d["id"] in new] == [
        "Cyberattack hits port systems"
    ]
    assert partitions(kafka_bootstrap, f"{t}.articles") == 2  # `wirewatch topics` honoured the setting


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_poller_keeps_running_through_bad_feeds_and_exports_metrics(
    kafka_bootstrap: str, server: FeedServer, tmp_path: Path
) -> None:
    t = tag()
    port = free_port()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_POLL_STATE_DIR=str(tmp_path / "state"), WIREWATCH_LOG_LEVEL="info",
        WIREWATCH_POLL_WEB_PORT=str(port), WIREWATCH_POLL_TIMEOUT_SECONDS="1",
        WIREWATCH_POLL_MAX_BYTES="500000", WIREWATCH_POLL_JITTER="0",
    )  # fmt: skip
    feeds = write_feeds(
        tmp_path / "feeds.yaml",
        [
            {
                "name": "good",
                "url": server.serve_file("/good.rss", "world_rss2.xml", etag='"g"'),
                "interval": 1,
            },
            {"name": "broken", "url": server.serve_file("/broken.xml", "broken.xml"), "interval": 1},
            {"name": "down", "url": server.serve("/down.xml", status=500), "interval": 1},
            {"name": "slow", "url": server.serve("/slow.xml", delay=5.0), "interval": 1},
            {"name": "huge", "url": server.serve("/huge.xml", stream_bytes=20_000_000), "interval": 1},
        ],
    )
    log = tmp_path / "poller.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "poll", "--feeds", str(feeds)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def value(name: str, **labels: str) -> float:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return scrape(port).get((name, tuple(sorted(labels.items()))), 0.0)
            except OSError:
                return 0.0

        wait_until(
            lambda: value("wirewatch_poller_fetches_total", feed="good", status="304") >= 4, 60, "four 304s"
        )
        # Backoff: by now the 1 s feed that always fails was fetched at ~0 s and ~2 s (next at ~6 s).
        assert value("wirewatch_poller_fetches_total", feed="down", status="500") <= 3
        assert value("wirewatch_poller_items_published_total", feed="good") == 3
        for feed, reason in [("broken", "malformed"), ("down", "http_error"), ("huge", "too_large")]:
            assert value("wirewatch_poller_errors_total", feed=feed, reason=reason) >= 1, feed
        wait_until(
            lambda: value("wirewatch_poller_errors_total", feed="slow", reason="timeout") >= 1,
            30,
            "a timeout",
        )
        assert value("wirewatch_poller_last_success_timestamp_seconds", feed="good") > time.time() - 60
        assert value("wirewatch_poller_last_success_timestamp_seconds", feed="down") == 0
        # Backoff: a feed failing every time is fetched less often than the one that answers.
        assert (
            value("wirewatch_poller_fetches_total", feed="down", status="500")
            < value("wirewatch_poller_fetches_total", feed="good", status="304") + 1
        )
        assert len(records(kafka_bootstrap, f"{t}.articles", idle=1.0)) == 3
        # Every poller series the Grafana dashboard and the alert rules use is on this running poller.
        _worker, used = referenced_metrics()
        assert used and not unexported(used, {name for name, _ in scrape(port)})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "feed down (" in text and "http_error: HTTP 500" in text
    assert "poller stopped" in text
