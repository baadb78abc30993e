"""The feed poller's core (feeds file, items, ids, seen-state, schedule) and its HTTP fetch against a
local loopback server: every way a feed can misbehave is a logged, counted outcome, never a crash."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from feedserver import FEEDS, FeedServer

from streams.poller.feeds import Feed, FeedsFileError, load_feeds, parse_feeds
from streams.poller.fetch import fetch_feed, retry_after
from streams.poller.items import html_to_text, parse_feed
from streams.poller.metrics import PollerMetrics
from streams.poller.runner import Poller
from streams.poller.schedule import Schedule
from streams.poller.seen import SeenStore
from streams.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORLD = Feed("world", "http://127.0.0.1/world.xml", 60, "Wire Test")
NOW = 1_776_240_000.0


# --- feeds file ----------------------------------------------------------------------------------
def test_shipped_feeds_file_loads() -> None:
    feeds = load_feeds(ROOT / "deploy" / "feeds.yaml")
    assert len(feeds) >= 3 and all(f.url.startswith("https://") for f in feeds)
    assert {f.label for f in feeds} >= {"UPI"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty `feeds:` list"),
        ({"feeds": [{"name": "Bad Name", "url": "http://x"}]}, "name must match"),
        ({"feeds": [{"name": "a", "url": "ftp://x"}]}, "url must be http"),
        ({"feeds": [{"name": "a", "url": "http://x", "interval": 0.1}]}, "interval must be >= 1"),
        ({"feeds": [{"name": "a", "url": "http://x", "interval": "5m"}]}, "interval must be seconds"),
        ({"feeds": [{"name": "a", "url": "http://x", "every": 5}]}, "unknown keys"),
        ({"feeds": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]}, "duplicate"),
    ],
)
def test_feeds_file_errors_name_the_entry(raw: Any, message: str) -> None:
    with pytest.raises(FeedsFileError, match=message):
        parse_feeds(raw, source="f.yaml")


def test_feed_defaults() -> None:
    (feed,) = parse_feeds({"feeds": [{"name": "a", "url": "https://x"}]})
    assert feed.interval_seconds == 300 and feed.label == "a"


# --- items ---------------------------------------------------------------------------------------
def parse(name: str, feed: Feed = WORLD, now: float = NOW) -> Any:
    return parse_feed((FEEDS / name).read_bytes(), feed, now=now)


def test_rss2_items_are_schema_valid_articles(contract: Callable[[str, object], None]) -> None:
    parsed = parse("world_rss2.xml")
    assert parsed.problem is None and parsed.skipped == 0
    assert len(parsed.articles) == 3
    for article in parsed.articles:
        contract("article", article)
        assert article["source"] == "Wire Test" and article["language"] == "en-us"
        assert article["ingested_at"] == "2026-04-15T08:00:00Z"
    first, second, third = parsed.articles
    assert first["title"] == "North Korea fires ballistic missile into the sea, Seoul says"
    assert first["body"].startswith("SEOUL, April 15 -- North Korea fired a ballistic missile")
    assert first["published_at"] == "2026-04-15T06:12:00Z"
    assert second["published_at"] == "2026-04-15T05:30:00Z"  # +0200 normalised to UTC
    assert second["title"] == "Protesters clash with police in Caracas & other cities"
    assert "tear gas" in second["body"]  # the longer content:encoded wins over the description
    assert "alert(1)" not in second["body"]
    assert third["url"] == "http://127.0.0.1/world/2026/04/15/grain-corridor"
    assert "published_at" not in third


def test_atom_entries_are_schema_valid_articles(contract: Callable[[str, object], None]) -> None:
    parsed = parse("region_atom.xml", Feed("mideast", "http://x", 60))
    assert [a["title"] for a in parsed.articles] == [
        "Drone strike hits tanker off Aden",
        "Talks on ceasefire resume in Cairo",
    ]
    for article in parsed.articles:
        contract("article", article)
        assert article["source"] == "mideast" and article["language"] == "en"
    assert parsed.articles[0]["body"].startswith("ADEN, May 12 -- A drone struck an oil tanker")
    assert parsed.articles[0]["published_at"] == "2026-05-12T08:41:00Z"


def test_ids_are_stable_across_polls_and_distinct_across_feeds() -> None:
    first = [a["id"] for a in parse("world_rss2.xml").articles]
    later = [a["id"] for a in parse("world_rss2.xml", now=NOW + 3600).articles]
    other = [a["id"] for a in parse("world_rss2.xml", replace(WORLD, name="mirror")).articles]
    assert first == later
    assert len(set(first)) == 3 and not set(first) & set(other)
    assert all(i.startswith("world-") and len(i) == len("world-") + 32 for i in first)


def test_guid_wins_over_a_changed_link_and_title() -> None:
    text = (FEEDS / "world_rss2.xml").read_text()
    edited = text.replace("nk-missile</link>", "nk-missile?updated=1</link>").replace(
        "fires ballistic missile", "fires two ballistic missiles"
    )
    before = parse("world_rss2.xml").articles[0]
    after = parse_feed(edited.encode(), WORLD, now=NOW).articles[0]
    assert before["id"] == after["id"] and before["title"] != after["title"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ((FEEDS / "broken.xml").read_bytes(), "malformed"),
        ((FEEDS / "not_a_feed.html").read_bytes(), "malformed"),
        (b'<?xml version="1.0"?><root><a>x</a></root>', "not_a_feed"),
        (b"", "not_a_feed"),
    ],
)
def test_bad_documents_have_a_problem_not_an_exception(body: bytes, problem: str) -> None:
    parsed = parse_feed(body, WORLD, now=NOW)
    assert parsed.problem == problem and parsed.articles == []


def test_an_empty_feed_is_no_problem() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title></channel></rss>'
    parsed = parse_feed(body, WORLD, now=NOW)
    assert parsed.problem is None and parsed.articles == []


def test_items_without_id_or_text_are_skipped() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><description>   </description></item>"
        b"<item><guid>g1</guid><title>kept</title></item></channel></rss>"
    )
    parsed = parse_feed(body, WORLD, now=NOW)
    assert [a["title"] for a in parsed.articles] == ["kept"] and parsed.skipped == 1


def test_feed_bytes_are_never_taken_for_a_path(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes((FEEDS / "world_rss2.xml").read_bytes())
    parsed = parse_feed(str(secret).encode(), WORLD, now=NOW)  # a body that happens to be a path
    assert parsed.articles == [] and parsed.problem is not None


def test_html_to_text() -> None:
    assert html_to_text("<p>A&amp;B</p><p>C<br/>D</p><style>x{}</style>") == "A&B C D"
    assert html_to_text("  plain \n text ") == "plain text"


# --- seen-state ----------------------------------------------------------------------------------
def open_store(path: Path, ttl: float = 1000.0, cap: int = 100) -> SeenStore:
    return SeenStore.open(path, ttl_seconds=ttl, max_per_feed=cap)


def test_seen_state_survives_a_restart(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.unseen("a", ["x", "y"]) == ["x", "y"]
    store.mark("a", ["x", "y"], NOW)
    store.set_validators("a", '"v1"', "Wed, 15 Apr 2026 06:12:00 GMT")
    store.save()
    again = open_store(tmp_path)
    assert again.unseen("a", ["x", "y", "z"]) == ["z"]
    assert again.feed("a").etag == '"v1"' and again.feed("a").last_modified.endswith("GMT")
    assert again.unseen("b", ["x"]) == ["x"]  # per feed


def test_seen_state_is_bounded_by_ttl_since_last_sighting_and_by_count(tmp_path: Path) -> None:
    store = open_store(tmp_path, ttl=100.0, cap=3)
    store.mark("a", ["old", "listed"], NOW)
    store.mark("a", ["listed"], NOW + 90)  # still in the feed: refreshed
    assert store.expire(NOW + 150) == 1
    assert store.unseen("a", ["old", "listed"]) == ["old"]
    store.mark("a", ["n1", "n2", "n3"], NOW + 160)
    store.expire(NOW + 160)
    assert store.entries() == 3 and store.unseen("a", ["listed"]) == ["listed"]  # the oldest went


def test_the_cap_never_drops_items_still_listed(tmp_path: Path) -> None:
    store = open_store(tmp_path, ttl=1000.0, cap=3)
    store.mark("a", ["gone1", "gone2"], NOW)
    store.mark("a", ["l1", "l2", "l3", "l4"], NOW + 10)  # the feed lists more items than the cap
    store.expire(NOW + 10)
    assert store.unseen("a", ["l1", "l2", "l3", "l4"]) == []
    assert store.unseen("a", ["gone1", "gone2"]) == ["gone1", "gone2"]
    store.mark("a", ["x"], NOW + 20)
    store.mark("a", ["y", "z"], NOW + 30)
    store.expire(NOW + 30)
    assert store.unseen("a", ["x", "y", "z"]) == [] and store.entries() == 3  # room left: newest older kept


def test_a_304_counts_as_a_sighting_of_the_listed_items(tmp_path: Path) -> None:
    store = open_store(tmp_path, ttl=100.0)
    store.mark("a", ["old"], NOW)
    store.mark("a", ["listed1", "listed2"], NOW + 50)
    store.touch_listed("a", NOW + 140)  # 304s since the last full fetch
    store.expire(NOW + 200)
    assert store.unseen("a", ["old", "listed1", "listed2"]) == ["old"]


def test_unreadable_state_is_set_aside_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "seen.json").write_text("{not json")
    store = open_store(tmp_path)
    assert store.entries() == 0 and (tmp_path / "seen.corrupt").exists()
    store.mark("a", ["x"], NOW)
    store.save()
    assert json.loads((tmp_path / "seen.json").read_text())["feeds"]["a"]["seen"] == {"x": NOW}


# --- schedule ------------------------------------------------------------------------------------
def test_schedule_jitter_and_backoff() -> None:
    s = Schedule(jitter=0.1, max_backoff_seconds=1000.0)
    assert s.next_delay(60, 0, 0.5) == pytest.approx(60)
    assert s.next_delay(60, 0, 0.0) == pytest.approx(54) and s.next_delay(60, 0, 0.999999) == pytest.approx(
        66
    )
    assert [Schedule(0.0, 1000.0).next_delay(60, n, 0.3) for n in range(1, 6)] == [120, 240, 480, 960, 1000]
    assert Schedule(0.0, 30.0).next_delay(60, 3, 0.3) == 60  # the cap never undercuts the interval
    assert Schedule(0.1, 1000.0).next_delay(60, 1, 0.5, at_least=600) == 600  # Retry-After wins
    assert Schedule(0.1, 1000.0).next_delay(60, 1, 0.5, at_least=86_400) == 1000  # but within the bound


def test_retry_after_header() -> None:
    assert retry_after("120", NOW) == 120
    assert retry_after("Wed, 15 Apr 2026 08:05:00 GMT", NOW) == 300  # NOW is 08:00:00 UTC
    assert retry_after("Wed, 15 Apr 2026 07:00:00 GMT", NOW) == 0
    assert retry_after("soon", NOW) == 0 and retry_after("", NOW) == 0


# --- HTTP fetch against a loopback server --------------------------------------------------------
@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


LAST_MODIFIED = "Wed, 15 Apr 2026 06:12:00 GMT"


async def test_fetch_conditional_get_with_etag(server: FeedServer, session: aiohttp.ClientSession) -> None:
    url = server.serve_file("/rss.xml", "world_rss2.xml", etag='"abc"')
    first, _ = await fetch_feed(session, url, timeout_seconds=5, max_bytes=1_000_000)
    assert first.status == "200" and first.ok and first.etag == '"abc"' and b"<rss" in first.body
    second, detail = await fetch_feed(session, url, etag=first.etag, timeout_seconds=5, max_bytes=1_000_000)
    assert second.not_modified and second.ok and second.body == b"" and detail == "not modified"
    assert server.hits("/rss.xml")[1]["If-None-Match"] == '"abc"'


async def test_fetch_conditional_get_with_last_modified(
    server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = server.serve_file(
        "/atom.xml", "region_atom.xml", last_modified=LAST_MODIFIED, content_type="application/atom+xml"
    )
    first, _ = await fetch_feed(session, url, timeout_seconds=5, max_bytes=1_000_000)
    assert first.last_modified == LAST_MODIFIED and first.content_type == "application/atom+xml"
    second, _ = await fetch_feed(
        session, url, last_modified=first.last_modified, timeout_seconds=5, max_bytes=1_000_000
    )
    assert second.status == "304"


@pytest.mark.parametrize(
    ("route", "status", "reason"),
    [
        ({"status": 500}, "500", "http_error"),
        ({"status": 404}, "404", "http_error"),
        ({"delay": 3.0}, "timeout", "timeout"),
        ({"body": b"<rss>" + b" " * 300_000}, "200", "too_large"),  # Content-Length over the cap
        ({"stream_bytes": 5_000_000}, "200", "too_large"),  # chunked, no Content-Length
    ],
)
async def test_fetch_failures_are_results(
    server: FeedServer, session: aiohttp.ClientSession, route: dict[str, Any], status: str, reason: str
) -> None:
    url = server.serve("/bad.xml", **route)
    fetched, detail = await fetch_feed(session, url, timeout_seconds=1.0, max_bytes=200_000)
    assert (fetched.status, fetched.reason, fetched.body) == (status, reason, b"")
    assert detail


async def test_fetch_of_a_closed_port_is_unreachable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetched, detail = await fetch_feed(
        session, f"http://127.0.0.1:{port}/x", timeout_seconds=2, max_bytes=1000
    )
    assert fetched.reason == "unreachable" and "Connect" in detail


# --- one poll, end to end in-process (publisher recorded; the Kafka path is the integration test) -
class Recorder:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = False

    async def publish(self, articles: Sequence[dict[str, Any]]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.published.extend(articles)


def poller_for(
    tmp_path: Path, feeds: list[Feed], session: aiohttp.ClientSession, recorder: Recorder, **env: str
) -> Poller:
    settings = Settings.from_env(
        {"WIREWATCH_POLL_TIMEOUT_SECONDS": "1", "WIREWATCH_POLL_MAX_BYTES": "200000", **env}
    )
    store = SeenStore.open(tmp_path / "state", ttl_seconds=3600, max_per_feed=100)
    return Poller(
        feeds, settings, store=store, publisher=recorder, session=session,
        metrics=PollerMetrics.create(), clock=lambda: NOW, rand=lambda: 0.5,
    )  # fmt: skip


async def test_poll_publishes_new_items_once_and_counts(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed = Feed("world", server.serve_file("/rss.xml", "world_rss2.xml", etag='"v1"'), 60, "Wire Test")
    rec = Recorder()
    poller = poller_for(tmp_path, [feed], session, rec)
    outcome = await poller.poll(feed)
    assert (outcome.status, outcome.published, outcome.reason) == ("200", 3, "")
    assert (await poller.poll(feed)).status == "304"
    # The server forgets its ETag: a full 200 again, but nothing is re-published.
    server.routes["/rss.xml"].etag = ""
    again = await poller.poll(feed)
    assert (again.status, again.published) == ("200", 0)
    assert len(rec.published) == 3
    reg = poller.metrics.registry
    assert reg.get_sample_value("wirewatch_poller_fetches_total", {"feed": "world", "status": "200"}) == 2
    assert reg.get_sample_value("wirewatch_poller_fetches_total", {"feed": "world", "status": "304"}) == 1
    assert reg.get_sample_value("wirewatch_poller_items_published_total", {"feed": "world"}) == 3
    assert reg.get_sample_value("wirewatch_poller_last_success_timestamp_seconds", {"feed": "world"}) == NOW
    assert reg.get_sample_value("wirewatch_poller_seen_entries") == 3


async def test_a_failed_publish_is_retried_not_lost(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed = Feed("world", server.serve_file("/rss.xml", "world_rss2.xml", etag='"v1"'), 60)
    rec = Recorder()
    rec.fail = True
    poller = poller_for(tmp_path, [feed], session, rec)
    assert (await poller.poll(feed)).reason == "publish_failed"
    rec.fail = False
    retried = await poller.poll(feed)  # the ETag was not stored: a full fetch, every item still new
    assert (retried.status, retried.published) == ("200", 3)
    assert server.hits("/rss.xml")[1].get("If-None-Match") is None


async def test_bad_feeds_are_counted_and_backed_off(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    feeds = [
        Feed("broken", server.serve_file("/broken.xml", "broken.xml"), 60),
        Feed("down", server.serve("/down.xml", status=503), 60),
        Feed("slow", server.serve("/slow.xml", delay=3.0), 60),
        Feed("huge", server.serve("/huge.xml", stream_bytes=2_000_000), 60),
        Feed("good", server.serve_file("/atom.xml", "region_atom.xml"), 60),
    ]
    rec = Recorder()
    poller = poller_for(tmp_path, feeds, session, rec)
    caplog.set_level("INFO", logger="wirewatch.poller")
    outcomes = {o.feed: o for o in await poller.run_once()}
    assert {name: o.reason for name, o in outcomes.items()} == {
        "broken": "malformed", "down": "http_error", "slow": "timeout", "huge": "too_large", "good": "",
    }  # fmt: skip
    assert len(rec.published) == 2
    reg = poller.metrics.registry
    for name, reason in [
        ("broken", "malformed"),
        ("down", "http_error"),
        ("slow", "timeout"),
        ("huge", "too_large"),
    ]:
        assert reg.get_sample_value("wirewatch_poller_errors_total", {"feed": name, "reason": reason}) == 1
        assert any(f"feed {name} (" in r.getMessage() and reason in r.getMessage() for r in caplog.records)
    await poller.poll(feeds[1])
    assert poller.failures["down"] == 2 and poller.failures["good"] == 0
    assert poller.next_delay(feeds[1]) == pytest.approx(240)  # 60 s doubled twice
    assert poller.next_delay(feeds[4]) == pytest.approx(60)


def test_poller_core_does_no_io() -> None:
    """Feeds file, items, seen-state and schedule are plain Python: no HTTP or Kafka client."""
    import ast

    core = ROOT / "streams" / "poller"
    for name in ("feeds.py", "items.py", "seen.py", "schedule.py"):
        tree = ast.parse((core / name).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        bad = {
            m for m in imported if m.split(".")[0] in ("aiohttp", "aiokafka", "faust", "prometheus_client")
        }
        assert not bad, f"{name} imports {bad}"


async def test_a_parser_crash_is_a_counted_malformed_feed(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.poller.runner as runner

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(runner, "parse_feed", explode)
    feed = Feed("world", server.serve_file("/rss.xml", "world_rss2.xml"), 60)
    poller = poller_for(tmp_path, [feed], session, Recorder())
    outcome = await poller.poll(feed)
    assert outcome.reason == "malformed" and "RecursionError" in outcome.detail


async def test_a_503_with_retry_after_is_honoured(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession
) -> None:
    feed = Feed("busy", server.serve("/busy.xml", status=503, retry_after="900"), 60)
    poller = poller_for(tmp_path, [feed], session, Recorder())
    outcome = await poller.poll(feed)
    assert outcome.reason == "http_error" and "retry after 900s" in outcome.detail
    assert poller.next_delay(feed) == pytest.approx(900)  # not the 120 s of one doubling


def test_poll_command_explains_a_missing_or_bad_feeds_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.cli import main

    monkeypatch.delenv("WIREWATCH_FEEDS_FILE", raising=False)
    assert main(["poll"]) == 2
    assert "pass --feeds PATH or set WIREWATCH_FEEDS_FILE" in capsys.readouterr().err
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x\n")
    assert main(["poll", "--feeds", str(bad)]) == 2
    assert f"error: {bad}: feeds[0] (x): url must be http(s)" in capsys.readouterr().err


async def test_an_item_too_large_for_a_record_is_skipped_counted_and_not_retried(
    tmp_path: Path, server: FeedServer, session: aiohttp.ClientSession
) -> None:
    """The producer refuses a record over ``WIREWATCH_MAX_MESSAGE_BYTES``; the publish failed, nothing
    was marked seen, and every later poll of the feed failed on the same item."""
    huge = "<p>" + "North Korea fired a missile. " * 4_000 + "</p>"  # ~116 KB as a record
    item = (
        '<item><title>Long read</title><guid isPermaLink="false">wire-huge</guid>'
        f"<description><![CDATA[{huge}]]></description></item>"
    )
    body = (FEEDS / "world_rss2.xml").read_text().replace("</channel>", item + "</channel>")
    feed = Feed("world", server.serve("/rss.xml", body=body.encode()), 60)
    rec = Recorder()
    poller = poller_for(tmp_path, [feed], session, rec, WIREWATCH_MAX_MESSAGE_BYTES="100000")
    first = await poller.poll(feed)
    assert (first.status, first.published, first.reason) == ("200", 3, "")
    assert (await poller.poll(feed)).published == 0  # marked seen: not tried again
    assert len(rec.published) == 3 and all(a["id"] != "wire-huge" for a in rec.published)
    skipped = {"feed": "world", "reason": "too_large"}
    assert poller.metrics.registry.get_sample_value("wirewatch_poller_items_skipped_total", skipped) == 1
