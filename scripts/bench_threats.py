"""Timing of ThreatClassifier.classify on ~3 KB articles: PYTHONPATH=. python scripts/bench_threats.py"""

import functools
import json
import time
import timeit
from pathlib import Path

from streams.domain.model import Article
from streams.domain.threats import ThreatClassifier

d = json.loads(Path("tests/data/seed_upi.json").read_text(encoding="utf-8"))
body = d["body"]
body3k = (body + "\n\n" + body)[:3000]
tc = ThreatClassifier.default()
neutral = (
    "Shares of technology companies rose on Tuesday after quarterly earnings beat expectations, "
    "with investors betting on continued growth in cloud computing and chip demand. "
) * 18
arts = {
    "seed_3k": Article("a", d["title"], body3k),
    "neutral_3k": Article("b", "Markets close higher on tech earnings", neutral),
}
for name, article in arts.items():
    # Many short runs, keep the fastest, timed in CPU time of this thread: on a shared machine wall time
    # always includes someone else's work.
    n = 200
    t = (
        min(
            timeit.repeat(
                functools.partial(tc.classify, article), number=n, repeat=150, timer=time.thread_time
            )
        )
        / n
    )
    print(f"{name}: len={len(article.body)} {t * 1e6:.1f} us/article")
