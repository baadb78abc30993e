"""Time ``RegionClassifier.classify`` on 3 KB wire articles (CPU time, best of 7 runs).

Run: ``PYTHONPATH=. python scripts/bench_regions.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from streams.domain.model import Article
from streams.domain.regions import RegionClassifier

ROOT = Path(__file__).resolve().parents[1]


def _dense_articles() -> list[Article]:
    """Worst case: the seed UPI story padded by repeating its place-heavy paragraphs (~70 matches)."""
    seed = json.loads((ROOT / "tests/data/seed_upi.json").read_text())
    body = seed["body"]
    while len(body) < 3000:
        body += "\n\n" + seed["body"]
    return [Article(id="dense", title=seed["title"], body=body[:3000])]


#: Context paragraphs of the kind that fill the second half of real wire stories: quotes, procedure,
#: numbers, the odd organisation, few place names.
_FILLER = (
    "Officials said the investigation was continuing and that more details would be released once "
    "families had been informed. A spokesperson declined to comment on the number of people detained, "
    "citing the ongoing operation, but said authorities were working around the clock.\n\n"
    "\u201cWe are doing everything we can to bring those responsible to justice,\u201d the spokesperson "
    "told reporters on Tuesday evening, adding that a task force of more than 200 officers had been set up. "
    "Analysts said the episode was likely to weigh on negotiations that have stalled since the spring.\n\n"
    "The United Nations said humanitarian access remained limited and appealed for $1.2 billion in aid, "
    "of which less than a third has been funded. Aid groups warned that the coming weeks would be critical "
    "as supplies of food, fuel and medicine run low and prices continue to rise in local markets.\n\n"
)


def _wire_articles() -> list[Article]:
    """Typical case: each labelled wire sample topped up to 3,000 chars with context paragraphs."""
    samples = json.loads((ROOT / "tests/data/regions_wire_samples.json").read_text())
    out = []
    for sample in samples:
        body = sample["body"]
        while len(body) < 3000:
            body += "\n\n" + _FILLER
        out.append(Article(id=sample["id"], title=sample["title"], body=body[:3000]))
    return out


def _cpu_per_article(rc: RegionClassifier, articles: list[Article], rounds: int = 300) -> float:
    for a in articles:
        rc.classify(a)
    best = float("inf")
    for _ in range(7):
        start = time.process_time()
        for _ in range(rounds):
            for a in articles:
                rc.classify(a)
        best = min(best, (time.process_time() - start) / (rounds * len(articles)))
    return best


def main() -> None:
    t0 = time.perf_counter()
    rc = RegionClassifier.default()
    print(f"build {time.perf_counter() - t0:.3f} s")
    for label, articles in (("typical", _wire_articles()), ("dense", _dense_articles())):
        per = _cpu_per_article(rc, articles)
        print(f"{label}: {per * 1e6:.1f} us/article (CPU, 3,000-char bodies) = {1 / per:,.0f} articles/s")


if __name__ == "__main__":
    main()
