"""``wirewatch poll``: argument parsing only; the I/O stack (aiohttp, aiokafka) loads when it runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from streams.poller.feeds import FeedsFileError, load_feeds
from streams.settings import Settings


def add_poll_parser(sub: Any) -> None:
    p = sub.add_parser("poll", help="poll RSS/Atom feeds and publish new items to the articles topic")
    p.add_argument("--feeds", help="feeds YAML (default: WIREWATCH_FEEDS_FILE)")
    p.add_argument("--once", action="store_true", help="poll every feed once, then exit (cron, tests)")
    p.set_defaults(func=cmd_poll)


def cmd_poll(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="[%(asctime)s] %(levelname)s %(message)s")
    path = args.feeds or settings.feeds_file
    if not path:
        print("error: no feeds file: pass --feeds PATH or set WIREWATCH_FEEDS_FILE", file=sys.stderr)
        return 2
    try:
        feeds = load_feeds(path)
    except FeedsFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from streams.poller.runner import run_poller

    return asyncio.run(run_poller(settings, feeds, once=args.once))
