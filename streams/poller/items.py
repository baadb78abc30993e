"""Feed bytes to schema-valid article dicts, with ids that stay the same every time an item is seen.

feedparser does the format work (RSS 0.9x/1.0/2.0, Atom, broken encodings); this module decides what
an article is: a stable id, plain-text title and body, the feed's source label, RFC 3339 times.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import feedparser

from streams.poller.feeds import Feed

#: Well under the article schema's 512: "<feed name>-<32 hex digits>".
ID_DIGEST_CHARS = 32


@dataclass(slots=True)
class ParsedFeed:
    """The articles of one feed document; ``problem`` says why there are none when the feed is bad."""

    articles: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    problem: str | None = None  # "malformed" | "not_a_feed"
    detail: str = ""


def item_id(feed_name: str, entry: Any) -> str | None:
    """``<feed>-<hash>`` of the entry's guid/id, else its link, else title + date: stable across polls.

    Hashed with the feed name so two feeds that reuse a guid never collide, and so that ids are short
    and safe as Kafka keys whatever the publisher puts in a guid.
    """
    key = _text(entry.get("id")) or _text(entry.get("link"))
    if not key:
        title = _text(entry.get("title"))
        stamp = _text(entry.get("published")) or _text(entry.get("updated"))
        if not title:
            return None
        key = f"{title}\x1f{stamp}"
    digest = hashlib.sha256(f"{feed_name}\x00{key}".encode()).hexdigest()[:ID_DIGEST_CHARS]
    return f"{feed_name}-{digest}"


def parse_feed(body: bytes, feed: Feed, *, now: float, content_type: str | None = None) -> ParsedFeed:
    """Every usable entry of ``body`` as an article dict (``ingested_at`` = ``now``)."""
    headers = {"content-type": content_type} if content_type else {}
    # A stream, never bytes or str: feedparser would treat those as a path or URL to open itself.
    doc = feedparser.parse(io.BytesIO(body), response_headers=headers)
    entries = list(doc.get("entries") or [])
    out = ParsedFeed()
    if not entries:
        if doc.get("bozo"):
            out.problem = "malformed"
            out.detail = _describe(doc.get("bozo_exception"))
        elif not doc.get("version"):
            out.problem = "not_a_feed"
            out.detail = "no RSS or Atom document found"
        return out
    language = _text(doc.get("feed", {}).get("language"))
    ingested = utc_iso(now)
    for entry in entries:
        article = entry_article(entry, feed, ingested_at=ingested, language=language)
        if article is None:
            out.skipped += 1
        else:
            out.articles.append(article)
    if doc.get("bozo"):  # entries were recovered from a partly broken document: say so, keep them
        out.detail = _describe(doc.get("bozo_exception"))
    return out


def entry_article(entry: Any, feed: Feed, *, ingested_at: str, language: str = "") -> dict[str, Any] | None:
    """One entry as an article (schemas/article.json), or None when it has neither id nor text."""
    article_id = item_id(feed.name, entry)
    title = html_to_text(_text(entry.get("title")))
    body = _entry_body(entry)
    if article_id is None or not (title or body):
        return None
    article: dict[str, Any] = {
        "id": article_id,
        "title": title,
        "body": body,
        "source": feed.label,
        "ingested_at": ingested_at,
    }
    link = _text(entry.get("link"))
    if link:
        article["url"] = link
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if stamp:
        article["published_at"] = utc_iso(calendar.timegm(stamp))
    if language:
        article["language"] = language
    return article


def _entry_body(entry: Any) -> str:
    """The longest of the entry's full content and its summary, as plain text."""
    candidates = [_text(entry.get("summary"))]
    candidates.extend(_text(c.get("value")) for c in entry.get("content") or [] if isinstance(c, dict))
    texts = [html_to_text(c) for c in candidates if c]
    return max(texts, key=len, default="")


def utc_iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class _TextCollector(HTMLParser):
    BLOCKS = frozenset(("p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"))
    SKIP = frozenset(("script", "style"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Feed titles and summaries are HTML fragments: the classifier wants the words, not the tags."""
    if "<" not in value and "&" not in value:
        return " ".join(value.split())
    collector = _TextCollector()
    collector.feed(value)
    collector.close()
    return " ".join("".join(collector.parts).split())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _describe(exc: Any) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if exc is not None else ""
