"""An article's labels as the documents carry them, and the labelling of a batch of articles.

:class:`Labels` is the one JSON form of a classification, built once per article and shared by the
classified document and every alert. It is also what crosses a process boundary when the service
classifies in a child process: as orjson it costs ~10 us an article each way, where pickling the
classifiers' result objects measured ~45 us to load.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from streams.domain.model import Article, Evidence, RegionResult, SeverityLevel, ThreatResult, round4

#: Spans kept per label in emitted documents: the strongest (title, dateline, lead) come first, and
#: five are enough for a person to see why; more only grows every message.
MAX_EVIDENCE = 5


class RegionsClassifier(Protocol):
    """What labelling needs of a region classifier (``RegionClassifier``, or a test's double: the
    compiled classes cannot be subclassed from interpreted code)."""

    def classify(self, article: Article) -> RegionResult: ...


class ThreatsClassifier(Protocol):
    """What labelling needs of a threat classifier (``ThreatClassifier``, or a test's double)."""

    def classify(self, article: Article) -> ThreatResult: ...


@dataclass(slots=True, frozen=True, init=False)
class Labels:
    """Countries, regions, threats and severity in their JSON form, with the evidence behind each."""

    countries: list[dict[str, Any]]  # best first: {"code", "name", "score", "evidence"}
    primary_country: str | None
    regions: list[str]
    threats: list[dict[str, Any]]  # best first: {"type", "score", "evidence"}
    severity: dict[str, Any]  # {"score", "level", "evidence"}
    taxonomy_version: str

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        countries: list[dict[str, Any]],
        primary_country: str | None,
        regions: list[str],
        threats: list[dict[str, Any]],
        severity: dict[str, Any],
        taxonomy_version: str,
    ) -> None:
        object.__setattr__(self, "countries", countries)
        object.__setattr__(self, "primary_country", primary_country)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "threats", threats)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "taxonomy_version", taxonomy_version)

    @staticmethod
    def of(regions: RegionResult, threats: ThreatResult) -> Labels:
        # ``Labels(...)``, not ``cls(...)``: compiled, a direct constructor call, not argument parsing.
        return Labels(
            [_label(c.code, "code", c.name, c.score, c.evidence) for c in regions.countries],
            regions.primary_country,
            list(regions.regions),
            [_label(t.type, "type", None, t.score, t.evidence) for t in threats.threats],
            threats.severity.to_dict(),
            threats.taxonomy_version,
        )

    @property
    def level(self) -> SeverityLevel:
        level: SeverityLevel = self.severity["level"]
        return level

    def to_list(self) -> list[Any]:
        return [
            self.countries,
            self.primary_country,
            self.regions,
            self.threats,
            self.severity,
            self.taxonomy_version,
        ]

    @classmethod
    def from_list(cls, doc: list[Any]) -> Labels:
        return cls(*doc)


def _label(
    ident: str, key: str, name: str | None, score: float, evidence: tuple[Evidence, ...]
) -> dict[str, Any]:
    doc: dict[str, Any] = {key: ident}
    if name is not None:
        doc["name"] = name
    doc["score"] = round4(score)
    doc["evidence"] = [
        {"field": e.field, "start": e.start, "end": e.end, "text": e.text} for e in evidence[:MAX_EVIDENCE]
    ]
    return doc


@dataclass(slots=True, init=False)
class Labelled:
    """One article's labelling: its labels, or the stage that failed and why; seconds per stage."""

    labels: Labels | None
    seconds: dict[str, float]
    failed: str | None = None  # "regions failed: ValueError: ..." when a classifier raised

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, labels: Labels | None, seconds: dict[str, float], failed: str | None = None) -> None:
        self.labels = labels
        self.seconds = seconds
        self.failed = failed


class Labeler:
    """Both classifiers over a batch, stage by stage: every article's regions, then every article's
    threats, while each classifier's automaton and tables are still in cache (the threat automaton's
    time per article measured 31.9 us interleaved, 27.6 staged). A classifier that raises fails
    that article alone."""

    def __init__(self, regions: RegionsClassifier, threats: ThreatsClassifier) -> None:
        self.regions = regions
        self.threats = threats

    def label_many(self, articles: Sequence[Article]) -> list[Labelled]:
        region_results: list[RegionResult | None] = []
        out = [Labelled(None, {}) for _ in articles]
        for article, done in zip(articles, out, strict=True):
            t0 = time.perf_counter()
            try:
                region_results.append(self.regions.classify(article))
            except Exception as exc:
                region_results.append(None)
                done.failed = f"regions failed: {type(exc).__name__}: {exc}"
                continue
            done.seconds["regions"] = time.perf_counter() - t0
        for article, regions, done in zip(articles, region_results, out, strict=True):
            if regions is None:
                continue
            t0 = time.perf_counter()
            try:
                done.labels = Labels.of(regions, self.threats.classify(article))
            except Exception as exc:
                done.failed = f"threats failed: {type(exc).__name__}: {exc}"
                continue
            done.seconds["threats"] = time.perf_counter() - t0
        return out


def encode_labelled(results: Sequence[Labelled]) -> bytes:
    """The wire form of :meth:`Labeler.label_many`'s results (see the module docstring)."""
    return orjson.dumps(
        [[None if r.labels is None else r.labels.to_list(), r.seconds, r.failed] for r in results]
    )


def decode_labelled(raw: bytes) -> list[Labelled]:
    return [
        Labelled(None if labels is None else Labels.from_list(labels), seconds, failed)
        for labels, seconds, failed in orjson.loads(raw)
    ]
