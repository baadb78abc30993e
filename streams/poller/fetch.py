"""One conditional HTTP GET of a feed: ETag / Last-Modified, a whole-request timeout, a size cap.

Never raises for what a remote server can do (refuse, stall, 5xx, send gigabytes): every failure is a
:class:`Fetched` with a ``reason`` the runner logs and counts.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import aiohttp

CHUNK_BYTES = 64 * 1024


def retry_after(value: str, now: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); 0 when absent or invalid."""
    value = value.strip()
    if not value:
        return 0.0
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - now) if when.tzinfo else 0.0


@dataclass(frozen=True, slots=True)
class Fetched:
    status: str  # HTTP status code as text, or "timeout" / "error" when there was no response
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    reason: str = ""  # empty on success (200, 304); else timeout | unreachable | http_error | too_large
    retry_after: float = 0.0  # seconds the server asked us to wait (429/503 Retry-After), else 0

    @property
    def ok(self) -> bool:
        return not self.reason

    @property
    def not_modified(self) -> bool:
        return self.status == "304"


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout_seconds: float,
    max_bytes: int,
) -> tuple[Fetched, str]:
    """(result, human-readable detail for the log line)."""
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with session.get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=True,
            max_redirects=5,
        ) as resp:
            status = str(resp.status)
            if resp.status == 304:
                return Fetched(status, etag=etag, last_modified=last_modified), "not modified"
            if resp.status != 200:
                wait = retry_after(resp.headers.get("Retry-After", ""), time.time())
                detail = f"HTTP {resp.status} {resp.reason or ''}".strip()
                return Fetched(status, reason="http_error", retry_after=wait), detail + (
                    f", retry after {wait:g}s" if wait else ""
                )
            declared = resp.content_length
            if declared is not None and declared > max_bytes:
                return Fetched(status, reason="too_large"), f"Content-Length {declared} > {max_bytes} bytes"
            body = bytearray()
            async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                body.extend(chunk)
                if len(body) > max_bytes:  # stop reading: a lying or absent Content-Length
                    return Fetched(status, reason="too_large"), f"body over {max_bytes} bytes, dropped"
            return (
                Fetched(
                    status,
                    body=bytes(body),
                    etag=resp.headers.get("ETag", ""),
                    last_modified=resp.headers.get("Last-Modified", ""),
                    content_type=resp.headers.get("Content-Type", ""),
                ),
                f"{len(body)} bytes",
            )
    except TimeoutError:
        return Fetched("timeout", reason="timeout"), f"no complete response within {timeout_seconds:g}s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Fetched("error", reason="unreachable"), f"{type(exc).__name__}: {exc}"
