"""Time ``RegionClassifier.classify`` on a ~3 KB wire article (the seed UPI story padded to size)."""

from __future__ import annotations

import json
import time
import timeit
from pathlib import Path

from streams.domain.model import Article
from streams.domain.regions import RegionClassifier


def main() -> None:
    t0 = time.perf_counter()
    rc = RegionClassifier.default()
    build = time.perf_counter() - t0
    seed = json.loads((Path(__file__).resolve().parents[1] / "tests/data/seed_upi.json").read_text())
    body = seed["body"]
    while len(body) < 3000:
        body += "\n\n" + seed["body"].split("\n\n", 1)[1]
    article = Article(id="bench", title=seed["title"], body=body[:3000])
    rc.classify(article)
    n = 20_000
    per = min(timeit.repeat(lambda: rc.classify(article), number=n, repeat=5)) / n
    print(
        f"build {build:.3f} s; classify {per * 1e6:.1f} us/article on {len(article.body)} chars "
        f"({1 / per:,.0f} articles/s)"
    )


if __name__ == "__main__":
    main()
