"""Threat-only evaluation on a labelled JSONL set (no region classifier needed).

    python scripts/eval_threats.py tests/data/eval/labelled.jsonl [--half odd|even] [--errors] [--scores]

Prints P/R/F1 per threat type, micro/macro and the false-alert rate on articles labelled ``threats: []``.
``--half`` keeps only odd- or even-numbered ids (eval-001 is odd), for tuning on one half and holding out
the other.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.domain.evaluation import Evaluation
from streams.domain.model import Article
from streams.domain.threats import ThreatClassifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path)
    parser.add_argument("--half", choices=("odd", "even", "all"), default="all")
    parser.add_argument("--errors", action="store_true", help="list misclassified articles")
    parser.add_argument("--scores", action="store_true", help="with --errors: scores and evidence")
    args = parser.parse_args(argv)

    classifier = ThreatClassifier.default()
    ev = Evaluation()
    details: dict[str, str] = {}
    for line in args.path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        number = int(doc["id"].rsplit("-", 1)[-1])
        if args.half != "all" and (number % 2 == 1) != (args.half == "odd"):
            continue
        article = Article(doc["id"], doc["title"], doc["body"])
        result = classifier.classify(article)
        ev.add(article.id, [], list(doc["labels"]["threats"]), [], [t.type for t in result.threats])
        details[article.id] = "\n".join(
            f"    {t.type} {t.score:.2f}: " + " | ".join(e.text for e in t.evidence) for t in result.threats
        )
    print(ev.render().split("\n\n", 2)[2])
    if args.errors:
        for err in ev.errors:
            print(err["id"], json.dumps(err["threats"]))
            if args.scores and details[err["id"]]:
                print(details[err["id"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
