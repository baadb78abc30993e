"""Throughput of fingerprint() + StoryIndex.offer() on ~3 KB articles with ~100k live articles.

CPU time (process_time), so other processes on a shared box inflate the figures less.

Run: ``PYTHONPATH=. /work/main/.venv/bin/python tests/bench/bench_dedup.py [--window N] [--measure N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from streams.domain.dedup import DedupConfig, StoryIndex, fingerprint, fingerprint_many
from streams.domain.model import Article

_BOILERPLATE = [
    "the ministry said in a statement on",
    "officials did not immediately respond to a request for comment",
    "the united nations security council is expected to meet",
    "reporting by staff writers editing by the desk",
]


def synthetic_articles(n: int, seed: int = 7, words: int = 520) -> list[Article]:
    """Zipf-Mandelbrot words (the top word ~3%, like "the") plus wire boilerplate, 5-6 chars a word;
    the rarest words (~14% of tokens) are capitalised, like names, so the fact index sees work."""
    rng = np.random.default_rng(seed)
    vocab = np.array(
        [
            f"{chr(97 + i % 26)}w{i}".title() if i >= 10_000 else f"{chr(97 + i % 26)}w{i}"
            for i in range(50_000)
        ]
    )
    weights = 1.0 / (np.arange(vocab.size) + 2.7)
    ranks = rng.choice(vocab.size, size=(n, words), p=weights / weights.sum())
    out = []
    for i in range(n):
        body = " ".join(vocab[ranks[i]].tolist())
        body = f"{_BOILERPLATE[i % 4]} {body} {_BOILERPLATE[(i + 1) % 4]}."
        out.append(Article(id=f"syn-{i}", title=" ".join(vocab[ranks[i, :9]].tolist()), body=body))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=int, default=100_000, help="live articles before measuring")
    parser.add_argument("--measure", type=int, default=20_000, help="articles timed")
    args = parser.parse_args()

    cfg = DedupConfig()
    step = cfg.window_seconds / args.window  # time per article so the window holds --window articles
    articles = synthetic_articles(args.window + args.measure)
    print(f"mean article size: {np.mean([len(a.body) + len(a.title) for a in articles[:1000]]):.0f} chars")
    index = StoryIndex(cfg)
    t0 = 1_750_000_000.0
    for i, a in enumerate(articles[: args.window]):
        index.offer(a, fingerprint(a, cfg), now=t0 + i * step)
    print(f"live articles: {index.size}, store keys: {len(index.store)}")

    timed = articles[args.window :]
    start = time.process_time()
    fps = [fingerprint(a, cfg) for a in timed]
    t_fp = time.process_time() - start
    start = time.process_time()
    fingerprint_many(timed, cfg)
    t_many = time.process_time() - start
    base = t0 + args.window * step
    start = time.process_time()
    dups = 0
    for i, (a, fp) in enumerate(zip(timed, fps, strict=True)):
        dups += index.offer(a, fp, now=base + i * step).is_duplicate
    t_offer = time.process_time() - start
    n = len(timed)

    def us(seconds: float) -> str:
        return f"{seconds / n * 1e6:6.1f} us/article"

    print(f"fingerprint (one by one):  {us(t_fp)}")
    print(f"fingerprint_many:          {us(t_many)}")
    print(f"offer:                     {us(t_offer)}  (duplicates found: {dups})")
    print(f"fingerprint + offer:       {us(t_fp + t_offer)}")
    print(f"fingerprint_many + offer:  {us(t_many + t_offer)}  -> {n / (t_many + t_offer):,.0f} articles/s")
    print(f"live articles after: {index.size}, store keys: {len(index.store)}")


if __name__ == "__main__":
    main()
