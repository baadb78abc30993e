"""Value types shared by every domain stage.

Plain slotted dataclasses: cheap to build on the hot path and trivially turned into the JSON
documents described in ``schemas/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Field = Literal["title", "body"]
SeverityLevel = Literal["none", "low", "medium", "high", "critical"]

#: Threat types every taxonomy must define: the identifiers subscribers and the contracts rely on.
REQUIRED_THREAT_TYPES: frozenset[str] = frozenset(
    (
        "nuclear",
        "missile",
        "military_exercise",
        "armed_conflict",
        "airstrike",
        "terrorism",
        "cyber",
        "sanctions",
        "diplomatic_tension",
        "civil_unrest",
        "coup",
        "maritime_incident",
    )
)

#: Ordered from least to most severe; subscriptions compare levels by index.
SEVERITY_LEVELS: tuple[SeverityLevel, ...] = ("none", "low", "medium", "high", "critical")


def round4(x: float) -> float:
    """``round(x, 4)``, as documents carry scores and milliseconds, in ~5% of its instructions.

    ``round(x, 4)`` goes through a decimal string (dtoa, snprintf, strtod: ~3k instructions) and a
    document carries about ten such numbers, ~3% of an article's instructions in all. Scaling and
    rounding to an integer picks the same last digit unless the scaled value lies within the
    product's rounding error of a tie; those few go the slow way, so the result is always equal.
    """
    scaled = x * 10_000.0
    if -1e15 < scaled < 1e15:  # finite, and exact once rounded to an integer
        k = round(scaled)
        if abs(abs(scaled - k) - 0.5) > 1e-15 * abs(scaled) + 1e-12:
            return k / 10_000.0
    return round(x, 4)


@dataclass(slots=True, frozen=True, init=False)
class Article:
    """A validated input article; ``extra`` keeps unknown fields so nothing a producer sent is lost."""

    id: str
    title: str
    body: str
    source: str | None = None
    url: str | None = None
    published_at: str | None = None
    language: str | None = None
    ingested_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        id: str,
        title: str,
        body: str,
        source: str | None = None,
        url: str | None = None,
        published_at: str | None = None,
        language: str | None = None,
        ingested_at: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "published_at", published_at)
        object.__setattr__(self, "language", language)
        object.__setattr__(self, "ingested_at", ingested_at)
        object.__setattr__(self, "extra", {} if extra is None else extra)

    def text(self, which: Field) -> str:
        return self.title if which == "title" else self.body

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than a loop of getattr: compiled, each is a direct slot read.
        out: dict[str, Any] = dict(self.extra)
        out["id"] = self.id
        out["title"] = self.title
        out["body"] = self.body
        if self.source is not None:
            out["source"] = self.source
        if self.url is not None:
            out["url"] = self.url
        if self.published_at is not None:
            out["published_at"] = self.published_at
        if self.language is not None:
            out["language"] = self.language
        if self.ingested_at is not None:
            out["ingested_at"] = self.ingested_at
        return out


@dataclass(slots=True, frozen=True, init=False)
class Evidence:
    """A span ``[start, end)`` of ``article.<field>`` (Python str indices) that supports a label."""

    field: Field
    start: int
    end: int
    text: str

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, field: Field, start: int, end: int, text: str) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "text", text)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "start": self.start, "end": self.end, "text": self.text}


@dataclass(slots=True, frozen=True, init=False)
class CountryLabel:
    code: str  # ISO 3166-1 alpha-2
    name: str
    score: float  # 0..1, relative weight of the country in this article
    evidence: tuple[Evidence, ...]

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, code: str, name: str, score: float, evidence: tuple[Evidence, ...]) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "evidence", evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "score": round4(self.score),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(slots=True, frozen=True, init=False)
class RegionResult:
    """Where an article is about: countries it is substantially about, best first."""

    countries: tuple[CountryLabel, ...]
    primary_country: str | None
    #: M49 sub-regions (e.g. "Eastern Asia") and geopolitical groups (e.g. "Korean Peninsula").
    regions: tuple[str, ...]

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        countries: tuple[CountryLabel, ...],
        primary_country: str | None,
        regions: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "countries", countries)
        object.__setattr__(self, "primary_country", primary_country)
        object.__setattr__(self, "regions", regions)


@dataclass(slots=True, frozen=True, init=False)
class ThreatLabel:
    type: str  # taxonomy identifier, e.g. "missile"
    score: float  # 0..1 confidence that the article reports this kind of threat
    evidence: tuple[Evidence, ...]

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, type: str, score: float, evidence: tuple[Evidence, ...]) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "evidence", evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "score": round4(self.score),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(slots=True, frozen=True, init=False)
class Severity:
    score: float  # 0..1
    level: SeverityLevel
    #: Intensity cues (e.g. "killed", "test-fired", "12 dead") that raised the score.
    evidence: tuple[Evidence, ...] = ()

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, score: float, level: SeverityLevel, evidence: tuple[Evidence, ...] = ()) -> None:
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "evidence", evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round4(self.score),
            "level": self.level,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(slots=True, frozen=True, init=False)
class ThreatResult:
    threats: tuple[ThreatLabel, ...]  # best first
    severity: Severity
    taxonomy_version: str

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, threats: tuple[ThreatLabel, ...], severity: Severity, taxonomy_version: str) -> None:
        object.__setattr__(self, "threats", threats)
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "taxonomy_version", taxonomy_version)


@dataclass(slots=True, frozen=True, init=False)
class DedupVerdict:
    """Outcome of offering an article to the story index."""

    story_id: str  # id of the first article of the story (the article itself when new)
    duplicate_of: str | None  # None when the article starts a new story
    similarity: float  # 1.0 for exact, estimated Jaccard for near, 0.0 for new
    method: Literal["new", "exact", "near"]

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        story_id: str,
        duplicate_of: str | None,
        similarity: float,
        method: Literal["new", "exact", "near"],
    ) -> None:
        object.__setattr__(self, "story_id", story_id)
        object.__setattr__(self, "duplicate_of", duplicate_of)
        object.__setattr__(self, "similarity", similarity)
        object.__setattr__(self, "method", method)

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None
