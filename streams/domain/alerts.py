"""Alert routing: which subscribers a classified story goes to, and the alert documents they get."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from streams.domain.model import Article, Evidence, RegionResult, ThreatResult
from streams.domain.subscriptions import Subscription, SubscriptionBook


def alert_id(subscription_id: str, story_id: str) -> str:
    """Deterministic in (subscription, story): a redelivered article re-emits the same alert id,
    so a consumer deduplicating on ``alert_id`` sees one alert per story per subscriber."""
    return xxhash.xxh3_128_hexdigest(f"{subscription_id}\x00{story_id}".encode())


@dataclass(slots=True, frozen=True)
class Alert:
    subscription: Subscription
    document: dict[str, Any]

    @property
    def topic(self) -> str:
        return self.subscription.topic


def route(
    book: SubscriptionBook,
    article: Article,
    story_id: str,
    regions: RegionResult,
    threats: ThreatResult,
    created_at: str,
    rendered: Rendered | None = None,
) -> list[Alert]:
    """Alerts for every subscription the story matches.

    Stateless on purpose: the pipeline routes only the first article of a story, and ids are
    deterministic, so no alert bookkeeping has to survive a restart. ``rendered`` reuses the JSON
    form of the labels the classified document already built.
    """
    if not threats.threats or threats.severity.level == "none":
        return []
    codes = [c.code for c in regions.countries]
    types = [t.type for t in threats.threats]
    alerts: list[Alert] = []
    for sub in book:
        match = sub.match(codes, regions.regions, types, threats.severity.level, article.title, article.body)
        if match is None:
            continue
        r = rendered or Rendered.of(regions, threats)
        places = set(match.places)
        matched_countries = [c for c in r.countries if c["code"] in places] or r.countries
        evidence = [e for c in matched_countries for e in c["evidence"][:3]]
        evidence += [e for t in r.threats if t["type"] in match.threats for e in t["evidence"][:3]]
        evidence += [e.to_dict() for e in match.keyword_evidence]
        doc: dict[str, Any] = {
            "alert_id": alert_id(sub.id, story_id),
            "subscription": sub.id,
            "topic": sub.topic,
            "story_id": story_id,
            "article": {
                "id": article.id,
                "title": article.title,
                "source": article.source,
                "url": article.url,
                "published_at": article.published_at,
            },
            "countries": r.countries,
            "primary_country": regions.primary_country,
            "regions": list(regions.regions),
            "threats": r.threats,
            "severity": r.severity,
            "matched": {
                "places": list(match.places),
                "threats": list(match.threats),
                "keywords": list(match.keywords),
            },
            "evidence": evidence,
            "published_at": article.published_at,
            "ingested_at": article.ingested_at,
            "created_at": created_at,
        }
        alerts.append(Alert(sub, doc))
    return alerts


@dataclass(slots=True, frozen=True)
class Rendered:
    """Labels in their JSON form, built once per article and shared by every document about it."""

    countries: list[dict[str, Any]]
    threats: list[dict[str, Any]]
    severity: dict[str, Any]

    @classmethod
    def of(cls, regions: RegionResult, threats: ThreatResult) -> Rendered:
        return cls(
            [_label(c.code, "code", c.name, c.score, c.evidence) for c in regions.countries],
            [_label(t.type, "type", None, t.score, t.evidence) for t in threats.threats],
            threats.severity.to_dict(),
        )


#: Spans kept per label in emitted documents: the strongest (title, dateline, lead) come first, and
#: five are enough for a person to see why; more only grows every message.
MAX_EVIDENCE = 5


def _label(
    ident: str, key: str, name: str | None, score: float, evidence: tuple[Evidence, ...]
) -> dict[str, Any]:
    doc: dict[str, Any] = {key: ident}
    if name is not None:
        doc["name"] = name
    doc["score"] = round(score, 4)
    doc["evidence"] = [
        {"field": e.field, "start": e.start, "end": e.end, "text": e.text} for e in evidence[:MAX_EVIDENCE]
    ]
    return doc
