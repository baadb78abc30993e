"""The threat taxonomy: a versioned YAML file of threat types, weighted phrases and matching rules.

Loading validates the file strictly (unknown keys, wrong types and dangling references are errors) so a
typo in a hand-edited taxonomy fails at start-up instead of silently weakening detection.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from streams.domain.model import REQUIRED_THREAT_TYPES, Field, SeverityLevel


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message names the offending key path."""


@dataclass(slots=True, frozen=True)
class Phrase:
    """A lowercased phrase; ``prefix`` lets it match any word ending ("missile*" -> "missiles")."""

    text: str
    prefix: bool

    @property
    def key(self) -> str:
        return self.text + ("*" if self.prefix else "")


@dataclass(slots=True, frozen=True)
class WeightedPhrase:
    phrase: Phrase
    weight: float
    #: Name of a context group that must occur near the hit for it to count (None = always counts).
    requires: str | None = None


@dataclass(slots=True, frozen=True)
class Modifier:
    """Phrases that scale hits they overlap or sit within ``window`` chars of (``None`` = whole article)."""

    name: str
    phrases: tuple[Phrase, ...]
    window: int | None
    factor: float
    field: Field | None = None  # only cues found in this field count
    types: tuple[str, ...] | None = None  # None = every type


@dataclass(slots=True, frozen=True)
class ContextGroup:
    name: str
    phrases: tuple[Phrase, ...]
    window: int | None


@dataclass(slots=True, frozen=True)
class Domain:
    """A non-news register (sport, entertainment) whose vocabulary makes threat words metaphorical."""

    name: str
    phrases: tuple[Phrase, ...]
    min_distinct: int
    factor: float


@dataclass(slots=True, frozen=True)
class ThreatType:
    id: str
    description: str
    base_severity: float
    alignment: Mapping[str, tuple[str, ...]]
    phrases: tuple[WeightedPhrase, ...]


@dataclass(slots=True, frozen=True)
class Settings:
    threshold: float = 0.5
    saturation: float = 2.5
    repeat_decay: float = 0.5
    max_evidence: int = 10
    lead_chars: int = 600
    deep_chars: int = 1500
    title_weight: float = 1.8
    lead_weight: float = 1.3
    body_weight: float = 1.0
    deep_weight: float = 0.7
    weak_below: float = 1.0
    weak_cap: float = 1.2
    #: Only this many leading body characters are scanned: a wire story's threat is in its first
    #: screens, and it bounds the cost of pathological 100 KB bodies.
    max_body_chars: int = 12000


@dataclass(slots=True, frozen=True)
class SeveritySpec:
    levels: tuple[tuple[SeverityLevel, float], ...]  # (level, min score), most severe first
    cues: tuple[tuple[Phrase, float], ...]
    cue_cap: float
    multi_type_bonus: float
    multi_type_cap: float
    casualty_per_decade: float
    casualty_cap: float
    wounded_factor: float


@dataclass(slots=True, frozen=True)
class ThreatTaxonomy:
    version: str
    settings: Settings
    threat_types: tuple[ThreatType, ...]
    contexts: Mapping[str, ContextGroup]
    modifiers: tuple[Modifier, ...]
    domains: tuple[Domain, ...]
    severity: SeveritySpec

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.threat_types)

    def type(self, type_id: str) -> ThreatType:
        for t in self.threat_types:
            if t.id == type_id:
                return t
        raise KeyError(type_id)

    @classmethod
    def load(cls, path: str | Path) -> ThreatTaxonomy:
        """Parse and validate a taxonomy YAML file."""
        text = Path(path).read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), source=str(path))

    @classmethod
    def default(cls) -> ThreatTaxonomy:
        """The taxonomy shipped with the package (``streams/domain/data/threats/taxonomy.yaml``)."""
        ref = resources.files("streams.domain").joinpath("data", "threats", "taxonomy.yaml")
        return cls.from_dict(yaml.safe_load(ref.read_text(encoding="utf-8")), source="taxonomy.yaml")

    @classmethod
    def from_dict(cls, raw: Any, source: str = "taxonomy") -> ThreatTaxonomy:
        taxonomy = _Parser(source).taxonomy(raw)
        missing = REQUIRED_THREAT_TYPES - {t.id for t in taxonomy.threat_types}
        if missing:  # subscriptions and consumers rely on these identifiers
            raise TaxonomyError(f"{source}: missing required threat types: {', '.join(sorted(missing))}")
        return taxonomy


_LEVELS: tuple[SeverityLevel, ...] = ("low", "medium", "high", "critical")
_ALIGNMENT_KEYS = ("cameo", "plover", "acled")


class _Parser:
    """Turns the raw YAML tree into dataclasses, reporting errors with their key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> TaxonomyError:
        return TaxonomyError(f"{self.source}: {where}: {message}")

    def mapping(
        self, raw: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"expected a mapping, got {type(raw).__name__}")
        unknown = sorted(str(k) for k in raw if k not in allowed)
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        missing = [k for k in required if k not in raw]
        if missing:
            raise self.fail(where, f"missing required key(s) {missing}")
        return raw

    def number(self, raw: Any, where: str, lo: float = 0.0, hi: float = math.inf) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not lo <= raw <= hi:
            raise self.fail(where, f"expected a number in [{lo}, {hi}], got {raw!r}")
        return float(raw)

    def integer(self, raw: Any, where: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise self.fail(where, f"expected a non-negative integer, got {raw!r}")
        return raw

    def window(self, raw: Any, where: str) -> int | None:
        return None if raw is None else self.integer(raw, where)

    def phrase(self, raw: Any, where: str) -> Phrase:
        if not isinstance(raw, str) or not raw.strip("* "):
            raise self.fail(where, f"expected a non-empty phrase, got {raw!r}")
        text = raw.strip()
        prefix = text.endswith("*")
        text = text.rstrip("*").rstrip()
        if text != text.lower():
            raise self.fail(where, f"phrase {raw!r} must be lowercase")
        if "*" in text:
            raise self.fail(where, f"phrase {raw!r}: '*' is only allowed at the end")
        return Phrase(text, prefix)

    def phrases(self, raw: Any, where: str) -> tuple[Phrase, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(where, "expected a non-empty list of phrases")
        return tuple(self.phrase(p, f"{where}[{i}]") for i, p in enumerate(raw))

    def weighted(self, raw: Any, where: str, requires: str | None) -> list[WeightedPhrase]:
        if not isinstance(raw, dict) or not raw:
            raise self.fail(where, "expected a non-empty mapping of phrase: weight")
        return [
            WeightedPhrase(self.phrase(p, where), self.number(w, f"{where}.{p}", 0.0, 10.0), requires)
            for p, w in raw.items()
        ]

    def strings(self, raw: Any, where: str) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
            raise self.fail(where, "expected a list of strings")
        return tuple(raw)

    def modifier(self, raw: Any, where: str, name: str, types: tuple[str, ...] | None) -> Modifier:
        m = self.mapping(raw, where, ("name", "phrases", "window", "factor", "field", "types"), ("phrases",))
        field = m.get("field")
        if field not in (None, "title", "body"):
            raise self.fail(f"{where}.field", f"expected 'title' or 'body', got {field!r}")
        if "types" in m:
            types = self.strings(m["types"], f"{where}.types")
        return Modifier(
            name=str(m.get("name", name)),
            phrases=self.phrases(m["phrases"], f"{where}.phrases"),
            window=self.window(m.get("window", 0), f"{where}.window"),
            factor=self.number(m.get("factor", 0.0), f"{where}.factor", 0.0, 1.0),
            field=field,
            types=types,
        )

    def settings(self, raw: Any) -> Settings:
        s = self.mapping(
            raw or {},
            "settings",
            (
                "threshold",
                "saturation",
                "repeat_decay",
                "max_evidence",
                "lead_chars",
                "deep_chars",
                "position_weights",
                "weak_below",
                "weak_cap",
                "max_body_chars",
            ),
        )
        pw = self.mapping(
            s.get("position_weights", {}), "settings.position_weights", ("title", "lead", "body", "deep")
        )
        d = Settings()
        return Settings(
            threshold=self.number(s.get("threshold", d.threshold), "settings.threshold", 0.0, 1.0),
            saturation=self.number(s.get("saturation", d.saturation), "settings.saturation", 1e-6),
            repeat_decay=self.number(
                s.get("repeat_decay", d.repeat_decay), "settings.repeat_decay", 0.0, 1.0
            ),
            max_evidence=self.integer(s.get("max_evidence", d.max_evidence), "settings.max_evidence"),
            lead_chars=self.integer(s.get("lead_chars", d.lead_chars), "settings.lead_chars"),
            deep_chars=self.integer(s.get("deep_chars", d.deep_chars), "settings.deep_chars"),
            title_weight=self.number(pw.get("title", d.title_weight), "settings.position_weights.title"),
            lead_weight=self.number(pw.get("lead", d.lead_weight), "settings.position_weights.lead"),
            body_weight=self.number(pw.get("body", d.body_weight), "settings.position_weights.body"),
            deep_weight=self.number(pw.get("deep", d.deep_weight), "settings.position_weights.deep"),
            weak_below=self.number(s.get("weak_below", d.weak_below), "settings.weak_below"),
            weak_cap=self.number(s.get("weak_cap", d.weak_cap), "settings.weak_cap"),
            max_body_chars=self.integer(s.get("max_body_chars", d.max_body_chars), "settings.max_body_chars"),
        )

    def severity(self, raw: Any) -> SeveritySpec:
        keys = (
            "levels",
            "cues",
            "cue_cap",
            "multi_type_bonus",
            "multi_type_cap",
            "casualty_per_decade",
            "casualty_cap",
            "wounded_factor",
        )
        s = self.mapping(raw, "severity", keys, ("levels",))
        lv = self.mapping(s["levels"], "severity.levels", _LEVELS, _LEVELS)
        cuts = [(name, self.number(lv[name], f"severity.levels.{name}", 0.0, 1.0)) for name in _LEVELS]
        if any(a[1] >= b[1] for a, b in itertools.pairwise(cuts)):
            raise self.fail("severity.levels", "cut points must increase from low to critical")
        cues_raw = s.get("cues", {})
        if not isinstance(cues_raw, dict):
            raise self.fail("severity.cues", "expected a mapping of phrase: boost")
        cues = tuple(
            (self.phrase(p, "severity.cues"), self.number(b, f"severity.cues.{p}", 0.0, 1.0))
            for p, b in cues_raw.items()
        )
        return SeveritySpec(
            levels=tuple(reversed(cuts)),
            cues=cues,
            cue_cap=self.number(s.get("cue_cap", 0.2), "severity.cue_cap", 0.0, 1.0),
            multi_type_bonus=self.number(
                s.get("multi_type_bonus", 0.03), "severity.multi_type_bonus", 0.0, 1.0
            ),
            multi_type_cap=self.number(s.get("multi_type_cap", 0.06), "severity.multi_type_cap", 0.0, 1.0),
            casualty_per_decade=self.number(
                s.get("casualty_per_decade", 0.12), "severity.casualty_per_decade", 0.0, 1.0
            ),
            casualty_cap=self.number(s.get("casualty_cap", 0.3), "severity.casualty_cap", 0.0, 1.0),
            wounded_factor=self.number(s.get("wounded_factor", 0.3), "severity.wounded_factor", 0.0, 1.0),
        )

    def threat_type(
        self, tid: str, raw: Any, contexts: Mapping[str, ContextGroup]
    ) -> tuple[ThreatType, list[Modifier]]:
        where = f"types.{tid}"
        t = self.mapping(
            raw,
            where,
            ("description", "base_severity", "alignment", "phrases", "contextual", "blockers"),
            ("base_severity", "alignment", "phrases"),
        )
        al = self.mapping(t["alignment"], f"{where}.alignment", _ALIGNMENT_KEYS, _ALIGNMENT_KEYS)
        alignment = {k: self.strings(al[k], f"{where}.alignment.{k}") for k in _ALIGNMENT_KEYS}
        phrases = self.weighted(t["phrases"], f"{where}.phrases", None)
        for i, group in enumerate(t.get("contextual", []) or []):
            gw = f"{where}.contextual[{i}]"
            g = self.mapping(group, gw, ("requires", "phrases"), ("requires", "phrases"))
            if g["requires"] not in contexts:
                raise self.fail(f"{gw}.requires", f"unknown context group {g['requires']!r}")
            phrases.extend(self.weighted(g["phrases"], f"{gw}.phrases", str(g["requires"])))
        blockers = [
            self.modifier(b, f"{where}.blockers[{i}]", f"{tid}_blocker_{i}", (tid,))
            for i, b in enumerate(t.get("blockers", []) or [])
        ]
        tt = ThreatType(
            id=tid,
            description=str(t.get("description", "")),
            base_severity=self.number(t["base_severity"], f"{where}.base_severity", 0.0, 1.0),
            alignment=alignment,
            phrases=tuple(phrases),
        )
        return tt, blockers

    def taxonomy(self, raw: Any) -> ThreatTaxonomy:
        top = self.mapping(
            raw,
            "<top>",
            ("version", "settings", "contexts", "modifiers", "domains", "severity", "types"),
            ("version", "severity", "types"),
        )
        version = top["version"]
        if not isinstance(version, str) or not version.strip():
            raise self.fail("version", f"expected a non-empty string (quote it in YAML), got {version!r}")
        contexts: dict[str, ContextGroup] = {}
        for name, c in (top.get("contexts") or {}).items():
            cm = self.mapping(c, f"contexts.{name}", ("window", "phrases"), ("phrases",))
            contexts[name] = ContextGroup(
                name,
                self.phrases(cm["phrases"], f"contexts.{name}.phrases"),
                self.window(cm.get("window"), f"contexts.{name}.window"),
            )
        types_raw = top["types"]
        if not isinstance(types_raw, dict) or not types_raw:
            raise self.fail("types", "expected a non-empty mapping of type id -> definition")
        threat_types: list[ThreatType] = []
        modifiers = [
            self.modifier(m, f"modifiers[{i}]", f"modifier_{i}", None)
            for i, m in enumerate(top.get("modifiers") or [])
        ]
        for tid, traw in types_raw.items():
            tt, blockers = self.threat_type(str(tid), traw, contexts)
            threat_types.append(tt)
            modifiers.extend(blockers)
        ids = {t.id for t in threat_types}
        for m in modifiers:
            for t in m.types or ():
                if t not in ids:
                    raise self.fail(f"modifier {m.name}", f"unknown threat type {t!r}")
        domains = []
        for name, d in (top.get("domains") or {}).items():
            dm = self.mapping(d, f"domains.{name}", ("min_distinct", "factor", "phrases"), ("phrases",))
            domains.append(
                Domain(
                    name,
                    self.phrases(dm["phrases"], f"domains.{name}.phrases"),
                    max(1, self.integer(dm.get("min_distinct", 3), f"domains.{name}.min_distinct")),
                    self.number(dm.get("factor", 0.2), f"domains.{name}.factor", 0.0, 1.0),
                )
            )
        return ThreatTaxonomy(
            version=version,
            settings=self.settings(top.get("settings")),
            threat_types=tuple(threat_types),
            contexts=contexts,
            modifiers=tuple(modifiers),
            domains=tuple(domains),
            severity=self.severity(top["severity"]),
        )
