"""The poll loop: fetch each feed on its schedule, publish new items to Kafka, remember them.

An item is marked seen (and the feed's validators stored) only after Kafka acknowledged it, so a
crash or a broker outage re-sends rather than loses; the worker folds an id re-send into its story.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import generate_latest

from streams.poller.feeds import Feed
from streams.poller.fetch import fetch_feed
from streams.poller.items import parse_feed
from streams.poller.metrics import PollerMetrics
from streams.poller.schedule import Schedule
from streams.poller.seen import SeenStore
from streams.service.connection import record_fits
from streams.settings import Settings

log = logging.getLogger("wirewatch.poller")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Publisher(Protocol):
    async def publish(self, articles: Sequence[dict[str, Any]]) -> None:
        """Return once every article is acknowledged; raise if any is not."""


class KafkaPublisher:
    """aiokafka producer to the articles topic, key = article id, with the service's security settings."""

    def __init__(self, settings: Settings) -> None:
        from aiokafka import AIOKafkaProducer

        from streams.service.connection import producer_options

        self.topic = settings.topic_articles
        self.producer = AIOKafkaProducer(acks="all", linger_ms=5, **producer_options(settings))

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, articles: Sequence[dict[str, Any]]) -> None:
        futures = [
            await self.producer.send(self.topic, orjson.dumps(a), key=str(a["id"]).encode()) for a in articles
        ]
        await asyncio.gather(*futures)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed: str
    status: str
    published: int = 0
    reason: str = ""
    detail: str = ""


class Poller:
    def __init__(
        self,
        feeds: Sequence[Feed],
        settings: Settings,
        *,
        store: SeenStore,
        publisher: Publisher,
        session: aiohttp.ClientSession,
        metrics: PollerMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.feeds = list(feeds)
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.session = session
        self.metrics = metrics or PollerMetrics.create()
        self.clock = clock
        self.rand = rand
        self.schedule = Schedule(settings.poll_jitter, settings.poll_max_backoff_seconds)
        self.failures: dict[str, int] = {f.name: 0 for f in self.feeds}
        for f in self.feeds:  # exported at 0 from the start: a rule or panel on it then has a series
            self.metrics.items_skipped.labels(f.name, "too_large")
        self.retry_after: dict[str, float] = {}

    async def poll(self, feed: Feed) -> PollOutcome:
        """One fetch of ``feed`` and its new items published; never raises for feed or broker trouble."""
        state = self.store.feed(feed.name)
        m = self.metrics
        started = time.perf_counter()
        fetched, detail = await fetch_feed(
            self.session,
            feed.url,
            etag=state.etag,
            last_modified=state.last_modified,
            timeout_seconds=self.settings.poll_timeout_seconds,
            max_bytes=self.settings.poll_max_bytes,
        )
        m.fetch_seconds.labels(feed.name).observe(time.perf_counter() - started)
        m.fetches.labels(feed.name, fetched.status).inc()
        self.retry_after[feed.name] = fetched.retry_after
        if not fetched.ok:
            return self._failed(feed, fetched.status, fetched.reason, detail)
        now = self.clock()
        if fetched.not_modified:
            self.store.touch_listed(feed.name, now)
            self.store.save()
            return self._succeeded(feed, PollOutcome(feed.name, fetched.status, detail=detail), now)
        try:
            parsed = parse_feed(fetched.body, feed, now=now, content_type=fetched.content_type or None)
        except Exception as exc:  # a parser bug on hostile input is this feed's problem, not the poller's
            return self._failed(
                feed, fetched.status, "malformed", f"parser error {type(exc).__name__}: {exc}"
            )
        if parsed.problem:
            return self._failed(feed, fetched.status, parsed.problem, parsed.detail)
        if parsed.detail:
            log.info(
                "feed %s: recovered %d items from a partly broken document (%s)",
                feed.name,
                len(parsed.articles),
                parsed.detail,
            )
        by_id = {a["id"]: a for a in parsed.articles}  # a feed listing one guid twice publishes it once
        new = self._publishable(feed, [by_id[i] for i in self.store.unseen(feed.name, by_id)])
        if new:
            try:
                await self.publisher.publish(new)
            except Exception as exc:  # broker trouble must not end the poller: retry on the next poll
                return self._failed(feed, fetched.status, "publish_failed", f"{type(exc).__name__}: {exc}")
        self.store.mark(feed.name, by_id, now)
        self.store.set_validators(feed.name, fetched.etag, fetched.last_modified)
        self.store.expire(now)
        self.store.save()
        m.items_published.labels(feed.name).inc(len(new))
        m.seen_entries.set(self.store.entries())
        skipped = f", {parsed.skipped} unusable" if parsed.skipped else ""
        outcome = PollOutcome(
            feed.name, fetched.status, len(new), detail=f"{len(new)} new of {len(by_id)} items{skipped}"
        )
        return self._succeeded(feed, outcome, now)

    def _publishable(self, feed: Feed, articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The articles a producer takes. One over ``WIREWATCH_MAX_MESSAGE_BYTES`` failed the
        feed's every poll (the producer refused it, so nothing was marked seen and it came again);
        it is now counted, logged and marked seen with the rest. Its text stays at its URL."""
        kept = []
        for article in articles:
            size = len(orjson.dumps(article))
            if record_fits(self.settings, str(article["id"]).encode(), size):
                kept.append(article)
                continue
            self.metrics.items_skipped.labels(feed.name, "too_large").inc()
            log.warning(
                "feed %s: item %s (%s) is %d bytes, over WIREWATCH_MAX_MESSAGE_BYTES; not published",
                feed.name,
                article["id"],
                article.get("url", ""),
                size,
            )
        return kept

    def _succeeded(self, feed: Feed, outcome: PollOutcome, now: float) -> PollOutcome:
        self.failures[feed.name] = 0
        self.metrics.last_success.labels(feed.name).set(now)
        log.info("feed %s: HTTP %s, %s", feed.name, outcome.status, outcome.detail)
        return outcome

    def _failed(self, feed: Feed, status: str, reason: str, detail: str) -> PollOutcome:
        self.failures[feed.name] = self.failures.get(feed.name, 0) + 1
        self.metrics.errors.labels(feed.name, reason).inc()
        log.warning(
            "feed %s (%s): %s: %s; failure %d in a row",
            feed.name,
            feed.url,
            reason,
            detail,
            self.failures[feed.name],
        )
        return PollOutcome(feed.name, status, reason=reason, detail=detail)

    def next_delay(self, feed: Feed) -> float:
        return self.schedule.next_delay(
            feed.interval_seconds,
            self.failures.get(feed.name, 0),
            self.rand(),
            at_least=self.retry_after.get(feed.name, 0.0),
        )

    async def run_once(self) -> list[PollOutcome]:
        return list(await asyncio.gather(*(self.poll(f) for f in self.feeds)))

    async def run(self, stop: asyncio.Event) -> None:
        """Each feed on its own schedule until ``stop`` is set."""
        await asyncio.gather(*(self._follow(feed, stop) for feed in self.feeds))

    async def _follow(self, feed: Feed, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll(feed)
            except Exception:  # never let one feed end the others: log it, count it, back off
                log.exception("feed %s: unexpected error", feed.name)
                self.failures[feed.name] = self.failures.get(feed.name, 0) + 1
                self.metrics.errors.labels(feed.name, "internal").inc()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.next_delay(feed))
            except TimeoutError:
                continue


# --- HTTP: /metrics, /health ---------------------------------------------------------------------
def web_app(poller: Poller) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        body = generate_latest(poller.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "feeds": len(poller.feeds), "failing": poller.failures})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


# --- command ---------------------------------------------------------------------------------------
async def ensure_articles_topic(settings: Settings) -> None:
    """The input topic with the configured partitions: broker auto-creation would pick its own count."""
    from aiokafka.admin import NewTopic

    from streams.service.topics import ensure_topic_list

    await ensure_topic_list(
        settings, [NewTopic(settings.topic_articles, settings.partitions, settings.replication)]
    )


async def run_poller(settings: Settings, feeds: Sequence[Feed], *, once: bool = False) -> int:
    store = SeenStore.open(
        settings.poll_state_dir,
        ttl_seconds=settings.poll_seen_ttl_seconds,
        max_per_feed=settings.poll_seen_max_per_feed,
    )
    await ensure_articles_topic(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    runner: web.AppRunner | None = None
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": settings.poll_user_agent}) as session:
            poller = Poller(feeds, settings, store=store, publisher=publisher, session=session)
            poller.metrics.seen_entries.set(store.entries())
            if once:
                outcomes = await poller.run_once()
                return 0 if all(not o.reason for o in outcomes) else 1
            runner = web.AppRunner(web_app(poller))
            await runner.setup()
            await web.TCPSite(runner, settings.web_host, settings.poll_web_port).start()
            log.info(
                "polling %d feeds to %s; metrics on http://%s:%d/metrics",
                len(feeds),
                settings.topic_articles,
                settings.web_host,
                settings.poll_web_port,
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await poller.run(stop)
            log.info("poller stopped")
            return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        await publisher.stop()
