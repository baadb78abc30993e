"""Who wants which alerts: subscription rules, their file format and matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from streams.domain.model import SEVERITY_LEVELS, Evidence, SeverityLevel

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_ALPHA2 = re.compile(r"^[A-Z]{2}$")
_FIELDS = frozenset(
    ("id", "topic", "description", "countries", "regions", "threats", "min_severity", "keywords")
)


class SubscriptionError(ValueError):
    """A subscription document is malformed; the message says which field and why."""


@dataclass(slots=True, frozen=True)
class Match:
    """What of a subscription's rules a story met: shown to the subscriber with the alert."""

    places: tuple[str, ...]
    threats: tuple[str, ...]
    keywords: tuple[str, ...]
    keyword_evidence: tuple[Evidence, ...] = ()


@dataclass(slots=True, frozen=True)
class Subscription:
    """Any-of rules per dimension; an empty dimension does not constrain.

    A subscription only ever matches stories that report at least one threat: alerts are about threats.
    """

    id: str
    topic: str
    description: str = ""
    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    threats: frozenset[str] = frozenset()
    min_severity: SeverityLevel = "low"
    keywords: tuple[str, ...] = ()
    _keyword_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, topic_prefix: str = "alerts.") -> Subscription:
        if not isinstance(doc, Mapping):
            raise SubscriptionError(f"a subscription must be a mapping, got {type(doc).__name__}")
        unknown = set(doc) - _FIELDS
        if unknown:
            raise SubscriptionError(f"unknown subscription field(s): {', '.join(sorted(unknown))}")
        sub_id = doc.get("id")
        if not isinstance(sub_id, str) or not _ID.match(sub_id):
            raise SubscriptionError(f"subscription id must match {_ID.pattern}, got {sub_id!r}")
        topic = doc.get("topic") or f"{topic_prefix}{sub_id}"
        if not isinstance(topic, str) or not _TOPIC.match(topic):
            raise SubscriptionError(f"{sub_id}: invalid topic name {topic!r}")
        countries = _str_list(doc, "countries", sub_id)
        for code in countries:
            if not _ALPHA2.match(code):
                raise SubscriptionError(f"{sub_id}: country {code!r} is not an ISO 3166-1 alpha-2 code")
        min_severity = doc.get("min_severity", "low")
        if min_severity not in SEVERITY_LEVELS:
            raise SubscriptionError(
                f"{sub_id}: min_severity must be one of {', '.join(SEVERITY_LEVELS)}, got {min_severity!r}"
            )
        keywords = tuple(_str_list(doc, "keywords", sub_id))
        keyword_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b", re.IGNORECASE)
            if keywords
            else None
        )
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise SubscriptionError(f"{sub_id}: description must be a string")
        return cls(
            id=sub_id,
            topic=topic,
            description=description,
            countries=frozenset(countries),
            regions=frozenset(_str_list(doc, "regions", sub_id)),
            threats=frozenset(_str_list(doc, "threats", sub_id)),
            min_severity=min_severity,
            keywords=keywords,
            _keyword_re=keyword_re,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "topic": self.topic}
        if self.description:
            out["description"] = self.description
        for name in ("countries", "regions", "threats"):
            values = getattr(self, name)
            if values:
                out[name] = sorted(values)
        out["min_severity"] = self.min_severity
        if self.keywords:
            out["keywords"] = list(self.keywords)
        return out

    def match(
        self,
        countries: Iterable[str],
        regions: Iterable[str],
        threats: Iterable[str],
        severity: SeverityLevel,
        title: str,
        body: str,
    ) -> Match | None:
        """The rules met, or None when the story is not for this subscriber."""
        if SEVERITY_LEVELS.index(severity) < SEVERITY_LEVELS.index(self.min_severity):
            return None
        threat_list = list(threats)
        if not threat_list:
            return None
        matched_threats = tuple(t for t in threat_list if not self.threats or t in self.threats)
        if not matched_threats:
            return None
        places: tuple[str, ...] = ()
        if self.countries or self.regions:
            places = tuple(c for c in countries if c in self.countries) + tuple(
                r for r in regions if r in self.regions
            )
            if not places:
                return None
        keywords: tuple[str, ...] = ()
        spans: tuple[Evidence, ...] = ()
        if self._keyword_re is not None:
            found: list[Evidence] = []
            for name, text in (("title", title), ("body", body)):
                found.extend(
                    Evidence(name, m.start(), m.end(), m.group(0))  # type: ignore[arg-type]
                    for m in self._keyword_re.finditer(text)
                )
            if not found:
                return None
            keywords = tuple(dict.fromkeys(e.text.lower() for e in found))
            spans = tuple(found[:10])
        return Match(places, matched_threats, keywords, spans)


@dataclass(slots=True)
class SubscriptionBook:
    """The live set of subscriptions; changed at run time by the subscriptions topic."""

    _subs: dict[str, Subscription] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._subs.values()))

    def __len__(self) -> int:
        return len(self._subs)

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._subs

    def get(self, sub_id: str) -> Subscription | None:
        return self._subs.get(sub_id)

    def put(self, sub: Subscription) -> None:
        self._subs[sub.id] = sub

    def remove(self, sub_id: str) -> bool:
        return self._subs.pop(sub_id, None) is not None

    def topics(self) -> list[str]:
        return sorted({s.topic for s in self._subs.values()})


def load_subscriptions(path: str | Path | None = None, *, topic_prefix: str = "alerts.") -> SubscriptionBook:
    """Load a subscriptions YAML file (``subscriptions: [...]``); None loads the shipped default."""
    if path is None:
        text = resources.files("streams.domain").joinpath("data/subscriptions.yaml").read_text("utf-8")
        where = "default subscriptions"
    else:
        text = Path(path).read_text("utf-8")
        where = str(path)
    doc = yaml.safe_load(text) or {}
    items = doc.get("subscriptions") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise SubscriptionError(f"{where}: expected a top-level 'subscriptions:' list")
    book = SubscriptionBook()
    for item in items:
        sub = Subscription.from_dict(item, topic_prefix=topic_prefix)
        if sub.id in book:
            raise SubscriptionError(f"{where}: duplicate subscription id {sub.id!r}")
        book.put(sub)
    return book


def _str_list(doc: Mapping[str, Any], key: str, sub_id: str) -> list[str]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SubscriptionError(f"{sub_id}: '{key}' must be a list of non-empty strings")
    return list(value)
