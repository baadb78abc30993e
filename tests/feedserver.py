"""A feed server for poller tests: aiohttp.web on 127.0.0.1 only, in a thread, with scripted routes.

Routes serve RSS/Atom bytes with optional ETag / Last-Modified (answering 304 to a matching
conditional request), a status code, a delay (to trip timeouts) or a huge streamed body.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0
    stream_bytes: int = 0  # > 0: a chunked body of this many bytes, no Content-Length
    retry_after: str = ""  # Retry-After header of a non-200 answer


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, **route: object) -> str:
        self.routes[path] = Route(**route)  # type: ignore[arg-type]
        return self.url(path)

    def serve_file(self, path: str, name: str, **route: object) -> str:
        return self.serve(path, body=(FEEDS / name).read_bytes(), **route)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in list(self.requests) if p == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.status != 200:
            headers = {"Retry-After": route.retry_after} if route.retry_after else {}
            return web.Response(status=route.status, text="server trouble", headers=headers)
        validators = {}
        if route.etag:
            validators["ETag"] = route.etag
        if route.last_modified:
            validators["Last-Modified"] = route.last_modified
        if (route.etag and request.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and request.headers.get("If-Modified-Since") == route.last_modified
        ):
            return web.Response(status=304, headers=validators)
        if route.stream_bytes:
            resp = web.StreamResponse(headers={"Content-Type": route.content_type})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
            sent = 0
            try:
                while sent < route.stream_bytes:
                    await resp.write(chunk)
                    sent += len(chunk)
            except (ConnectionResetError, RuntimeError):
                return resp  # the client stopped reading, as it should
            await resp.write_eof()
            return resp
        return web.Response(body=route.body, headers={"Content-Type": route.content_type, **validators})

    def start(self) -> FeedServer:
        ready = threading.Event()

        async def boot() -> None:
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handle)
            # A short shutdown: a handler sleeping to trip a client timeout must not hold up teardown.
            self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
            await self._runner.setup()
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))  # loopback only, whatever the test asks
            self.port = sock.getsockname()[1]
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(boot())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="feed-server", daemon=True)
        self._thread.start()
        assert ready.wait(10), "feed server did not start"
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)

        async def cancel_handlers() -> None:  # handlers still sleeping for a timeout test
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_handlers(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
