"""A realistic benchmark corpus: ~3 KB wire-style articles, ~10% exact re-sends, ~10% rewrites.

Built deterministically from a labelled JSONL set of wire-style stories (no download). Each new article
keeps one story's title and lead, then adds sentences drawn from the whole set until it reaches the
size: classification does real work on every article, while two new articles share few 3-shingles
(as distinct stories do), so dedup sees realistic candidate rates.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "tests" / "data" / "eval" / "labelled.jsonl"


def load_stories(path: Path = DEFAULT_SOURCE) -> list[dict[str, Any]]:
    stories = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    for story in stories:
        story.pop("labels", None)
    return stories


def rewrite(body: str, rng: random.Random) -> str:
    """An agency-style rewrite: paragraphs reordered, one dropped, sentences trimmed."""
    paras = [p for p in body.split("\n\n") if p.strip()]
    if len(paras) > 2:
        paras.pop(rng.randrange(1, len(paras)))
        head, rest = paras[0], paras[1:]
        rng.shuffle(rest)
        paras = [head, *rest]
    return "\n\n".join(paras)


def articles(n: int, *, seed: int = 7, size: int = 3000, source: Path = DEFAULT_SOURCE) -> Iterator[bytes]:
    """``n`` article records (JSON bytes); about 80% new stories, 10% exact re-sends, 10% rewrites."""
    rng = random.Random(seed)
    stories = load_stories(source)
    sentences = [
        s.strip() + "." for st in stories for s in st["body"].replace("\n", " ").split(". ") if len(s) > 40
    ]
    recent: list[dict[str, Any]] = []
    for i in range(n):
        roll = rng.random()
        if recent and roll < 0.10:
            doc = {**rng.choice(recent), "id": f"bench-{i}"}
        elif recent and roll < 0.20:
            base = rng.choice(recent)
            doc = {**base, "id": f"bench-{i}", "source": "rewrite", "body": rewrite(base["body"], rng)}
        else:
            first = rng.choice(stories)
            paras = [first["body"].split("\n\n")[0]]
            length = len(paras[0])
            while length < size:
                picked = " ".join(rng.choice(sentences) for _ in range(3))
                paras.append(picked)
                length += len(picked) + 2
            doc = {**first, "id": f"bench-{i}", "body": "\n\n".join(paras)}
            recent.append(doc)
            if len(recent) > 500:
                recent.pop(0)
        yield orjson.dumps(doc)
