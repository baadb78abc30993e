"""Print true and estimated Jaccard and the verdict for every pair in tests/data/dedup_pairs.jsonl.

Run: ``PYTHONPATH=. /work/main/.venv/bin/python tests/bench/report_dedup_pairs.py``; used to tune DedupConfig.
"""

from __future__ import annotations

import json
from pathlib import Path

from streams.domain.dedup import DedupConfig, StoryIndex, estimate_jaccard, fingerprint
from streams.domain.dedup.fingerprints import _combine, _word_buffer, _word_hashes, parse_published
from streams.domain.model import Article

PAIRS = Path(__file__).parents[1] / "data" / "dedup_pairs.jsonl"


def shingles(a: Article, size: int) -> set[int]:
    return set(_combine(_word_hashes(_word_buffer(a.title, a.body)), size).tolist())


def main() -> None:
    cfg = DedupConfig()
    same: list[float] = []
    different: list[float] = []
    vetoed_pairs: list[float] = []
    words_same: list[tuple[float, int]] = []  # rewrites below the shingle threshold
    words_diff: list[tuple[float, int]] = []  # different stories within the second signal's window
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        a, b = Article(**pair["a"]), Article(**pair["b"])
        sa, sb = shingles(a, cfg.shingle_size), shingles(b, cfg.shingle_size)
        true = len(sa & sb) / len(sa | sb)
        fa, fb = fingerprint(a, cfg), fingerprint(b, cfg)
        est = west = 0.0
        if fa.signature is not None and fb.signature is not None:
            est = estimate_jaccard(fa.signature, fb.signature)
        if fa.word_signature is not None and fb.word_signature is not None:
            west = estimate_jaccard(fa.word_signature, fb.word_signature)
        n_facts = len(set(fa.facts) & set(fb.facts))
        index = StoryIndex(cfg)
        index.offer(a, fa, now=parse_published(a.published_at) or 0.0)
        verdict = index.offer(b, fb, now=max(parse_published(b.published_at) or 60.0, 60.0))
        vetoed = (
            fa.published is not None
            and fb.published is not None
            and abs(fa.published - fb.published) > cfg.max_gap_seconds
        ) or (bool(fa.lead_dates and fb.lead_dates) and not set(fa.lead_dates) & set(fb.lead_dates))
        if a.id != b.id:
            (same if pair["same_story"] else vetoed_pairs if vetoed else different).append(true)
            recent = fa.published is not None and fb.published is not None
            recent = recent and abs(fa.published - fb.published) <= cfg.word_window_seconds  # type: ignore[operator]
            if pair["same_story"] and true < cfg.threshold:
                words_same.append((west, n_facts))
            elif not pair["same_story"] and recent:
                words_diff.append((west, n_facts))
        print(
            f"{pair['name']:46s} same={pair['same_story']!s:5} J={true:.3f} est={est:.3f} "
            f"words={west:.3f} facts={n_facts:2d} -> {verdict.method}"
        )
    print(f"same story: min J {min(same):.3f}")
    print(f"different stories the time/date vetoes cannot separate: max J {max(different):.3f}")
    print(f"different stories separated by the vetoes: max J {max(vetoed_pairs):.3f}")
    print(
        f"second signal, rewrites under the shingle threshold: min salient-word est "
        f"{min(w for w, _ in words_same):.3f}, min shared facts {min(f for _, f in words_same)}"
    )
    print(
        f"second signal, different stories <= {cfg.word_window_seconds / 3600:g} h apart: "
        f"max salient-word est {max(w for w, _ in words_diff):.3f}, "
        f"max shared facts {max(f for _, f in words_diff)}"
    )


if __name__ == "__main__":
    main()
