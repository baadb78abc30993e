"""An article's labels as the documents carry them, and the labelling of a batch of articles.

:class:`Labels` is built once per article and shared by the classified document and every alert.
What routing reads (codes, regions, threat types, level) is plain Python; every label's evidence is
kept as the JSON the documents carry, and goes into them as an ``orjson.Fragment``, copied, not
serialized again. It is also what crosses a process boundary when the service classifies in a child
process: a small orjson header and the JSON pieces as they are (:func:`encode_labelled`). Decoded
whole, as dicts, they cost the worker's thread ~30 us an article (~40 small dicts built, then
freed) of the ~240 us it spent on one; the evidence's JSON costs the child ~20k instructions.
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
#: Spans an alert's ``evidence`` takes from each label its subscription matched.
ALERT_EVIDENCE = 3


class RegionsClassifier(Protocol):
    """What labelling needs of a region classifier (``RegionClassifier``, or a test's double: the
    compiled classes cannot be subclassed from interpreted code)."""

    def classify(self, article: Article) -> RegionResult: ...


class ThreatsClassifier(Protocol):
    """What labelling needs of a threat classifier (``ThreatClassifier``, or a test's double)."""

    def classify(self, article: Article) -> ThreatResult: ...


@dataclass(slots=True, frozen=True, init=False)
class Labels:
    """Countries, regions, threats and severity, with the evidence behind each (see the module
    docstring for why the evidence stays JSON)."""

    codes: list[str]  # the countries' ISO codes, best first
    primary_country: str | None
    regions: list[str]
    types: list[str]  # the threat types, best first
    level: SeverityLevel
    taxonomy_version: str
    countries: bytes  # JSON array, best first: {"code", "name", "score", "evidence"}
    threats: bytes  # JSON array, best first: {"type", "score", "evidence"}
    severity: bytes  # JSON object: {"score", "level", "evidence"}
    country_evidence: list[bytes]  # per country: its first ALERT_EVIDENCE spans, JSON items joined by ","
    threat_evidence: list[bytes]  # the same per threat

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        codes: list[str],
        primary_country: str | None,
        regions: list[str],
        types: list[str],
        level: SeverityLevel,
        taxonomy_version: str,
        countries: bytes,
        threats: bytes,
        severity: bytes,
        country_evidence: list[bytes],
        threat_evidence: list[bytes],
    ) -> None:
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "primary_country", primary_country)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "taxonomy_version", taxonomy_version)
        object.__setattr__(self, "countries", countries)
        object.__setattr__(self, "threats", threats)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "country_evidence", country_evidence)
        object.__setattr__(self, "threat_evidence", threat_evidence)

    @staticmethod
    def of(regions: RegionResult, threats: ThreatResult) -> Labels:
        # ``Labels(...)``, not ``cls(...)``: compiled, a direct constructor call, not argument parsing.
        countries = [_label(c.code, "code", c.name, c.score, c.evidence) for c in regions.countries]
        threat_docs = [_label(t.type, "type", None, t.score, t.evidence) for t in threats.threats]
        return Labels(
            [c.code for c in regions.countries],
            regions.primary_country,
            list(regions.regions),
            [t.type for t in threats.threats],
            threats.severity.level,
            threats.taxonomy_version,
            orjson.dumps(countries),
            orjson.dumps(threat_docs),
            orjson.dumps(threats.severity.to_dict()),
            [_items(doc["evidence"][:ALERT_EVIDENCE]) for doc in countries],
            [_items(doc["evidence"][:ALERT_EVIDENCE]) for doc in threat_docs],
        )

    def to_dict(self) -> dict[str, Any]:
        """The labels decoded, as a document carries them: for tests and tools, not the hot path."""
        return {
            "countries": orjson.loads(self.countries),
            "primary_country": self.primary_country,
            "regions": self.regions,
            "threats": orjson.loads(self.threats),
            "severity": orjson.loads(self.severity),
            "taxonomy_version": self.taxonomy_version,
        }

    def _head(self) -> list[Any]:
        """What :func:`encode_labelled` writes as JSON; the byte fields follow it as they are."""
        return [self.codes, self.primary_country, self.regions, self.types, self.level, self.taxonomy_version]

    def _pieces(self) -> list[bytes]:
        return [self.countries, self.threats, self.severity, *self.country_evidence, *self.threat_evidence]


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


def _items(spans: list[dict[str, Any]]) -> bytes:
    """The JSON of ``spans`` without its brackets: an alert joins those of the labels it matched."""
    return orjson.dumps(spans)[1:-1]


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
    """The wire form of :meth:`Labeler.label_many`'s results: a 4-byte length, an orjson header
    (per article the plain fields, the stage seconds, the failure, and the byte pieces' lengths),
    then the pieces, back to back."""
    head: list[Any] = []
    pieces: list[bytes] = []
    for r in results:
        labels = r.labels
        if labels is None:
            head.append([None, r.seconds, r.failed])
            continue
        mine = labels._pieces()
        head.append([labels._head(), r.seconds, r.failed, [len(x) for x in mine]])
        pieces += mine
    header = orjson.dumps(head)
    return len(header).to_bytes(4, "little") + header + b"".join(pieces)


def decode_labelled(raw: bytes) -> list[Labelled]:
    size = int.from_bytes(raw[:4], "little")
    at = 4 + size
    out: list[Labelled] = []
    for entry in orjson.loads(raw[4:at]):
        if entry[0] is None:
            out.append(Labelled(None, entry[1], entry[2]))
            continue
        codes, primary, regions, types, level, version = entry[0]
        pieces: list[bytes] = []
        for n in entry[3]:
            pieces.append(raw[at : at + n])
            at += n
        k = 3 + len(codes)
        labels = Labels(
            codes,
            primary,
            regions,
            types,
            level,
            version,
            pieces[0],
            pieces[1],
            pieces[2],
            pieces[3:k],
            pieces[k:],
        )
        out.append(Labelled(labels, entry[1], entry[2]))
    return out
