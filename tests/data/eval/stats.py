"""Print label statistics for ``labelled.jsonl`` (used to fill in README.md).

Run: python tests/data/eval/stats.py
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "labelled.jsonl").read_text(encoding="utf-8").splitlines()]
    threats = Counter(t for r in rows for t in r["labels"]["threats"])
    countries = Counter(c for r in rows for c in r["labels"]["countries"])
    sources = Counter(r["source"] for r in rows)
    words = sorted(len(r["body"].split()) for r in rows)
    print(f"articles: {len(rows)}")
    print(f"no-threat articles: {sum(1 for r in rows if not r['labels']['threats'])}")
    print(f"multi-threat articles: {sum(1 for r in rows if len(r['labels']['threats']) > 1)}")
    print(f"multi-country articles: {sum(1 for r in rows if len(r['labels']['countries']) > 1)}")
    print(f"body words: min {words[0]}, median {words[len(words) // 2]}, max {words[-1]}")
    print("threat counts:")
    for name, n in sorted(threats.items()):
        print(f"  {name}: {n}")
    print(f"distinct countries: {len(countries)}")
    print("  " + ", ".join(f"{c} {n}" for c, n in sorted(countries.items())))
    print(f"sources: {len(sources)}: " + ", ".join(f"{s} {n}" for s, n in sources.most_common()))


if __name__ == "__main__":
    main()
