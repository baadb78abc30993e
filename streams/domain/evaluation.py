"""Classification quality on a labelled set: precision, recall and F1 per label, micro and macro.

Quality is measured, not asserted: ``wirewatch eval`` prints this, ``docs/quality.md`` records it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LabelScores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(slots=True)
class Dimension:
    """Multi-label scores for one dimension (countries or threats)."""

    labels: dict[str, LabelScores] = field(default_factory=dict)

    def add(self, expected: Iterable[str], predicted: Iterable[str]) -> None:
        exp, pred = set(expected), set(predicted)
        for label in exp | pred:
            s = self.labels.setdefault(label, LabelScores())
            if label in exp and label in pred:
                s.tp += 1
            elif label in pred:
                s.fp += 1
            else:
                s.fn += 1

    @property
    def micro(self) -> LabelScores:
        total = LabelScores()
        for s in self.labels.values():
            total.tp += s.tp
            total.fp += s.fp
            total.fn += s.fn
        return total

    @property
    def macro_f1(self) -> float:
        """Mean F1 over labels that occur in the gold labels (predicted-only labels count via micro)."""
        scored = [s.f1 for s in self.labels.values() if s.support]
        return sum(scored) / len(scored) if scored else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "micro": self.micro.to_dict(),
            "macro_f1": round(self.macro_f1, 4),
            "per_label": {k: v.to_dict() for k, v in sorted(self.labels.items())},
        }


@dataclass(slots=True)
class Evaluation:
    countries: Dimension = field(default_factory=Dimension)
    threats: Dimension = field(default_factory=Dimension)
    articles: int = 0
    no_threat_articles: int = 0
    false_alerts: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    confusions: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        article_id: str,
        gold_countries: list[str],
        gold_threats: list[str],
        countries: list[str],
        threats: list[str],
    ) -> None:
        self.articles += 1
        self.countries.add(gold_countries, countries)
        self.threats.add(gold_threats, threats)
        if not gold_threats:
            self.no_threat_articles += 1
            if threats:
                self.false_alerts += 1
        if set(gold_countries) != set(countries) or set(gold_threats) != set(threats):
            self.errors.append(
                {
                    "id": article_id,
                    "countries": {
                        "missed": sorted(set(gold_countries) - set(countries)),
                        "extra": sorted(set(countries) - set(gold_countries)),
                    },
                    "threats": {
                        "missed": sorted(set(gold_threats) - set(threats)),
                        "extra": sorted(set(threats) - set(gold_threats)),
                    },
                }
            )

    @property
    def false_alert_rate(self) -> float:
        return self.false_alerts / self.no_threat_articles if self.no_threat_articles else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "countries": self.countries.to_dict(),
            "threats": self.threats.to_dict(),
            "no_threat_articles": self.no_threat_articles,
            "false_alerts": self.false_alerts,
            "false_alert_rate": round(self.false_alert_rate, 4),
            "errors": self.errors,
        }

    def render(self) -> str:
        """A plain-text report for people."""
        lines = [f"articles: {self.articles}", ""]
        for name, dim in (("countries", self.countries), ("threats", self.threats)):
            micro = dim.micro
            lines.append(
                f"{name}: micro P={micro.precision:.3f} R={micro.recall:.3f} F1={micro.f1:.3f}"
                f"  macro F1={dim.macro_f1:.3f}"
            )
            lines.append(f"  {'label':<20} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}")
            for label, s in sorted(dim.labels.items(), key=lambda kv: (-kv[1].support, kv[0])):
                lines.append(f"  {label:<20} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.support:4d}")
            lines.append("")
        lines.append(
            f"false alerts on no-threat articles: {self.false_alerts}/{self.no_threat_articles}"
            f" = {self.false_alert_rate:.1%}"
        )
        return "\n".join(lines)
