"""Alert routing: which subscribers a classified story goes to, and the alert documents they get."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import xxhash

from streams.domain.labels import Labels
from streams.domain.model import Article, SeverityLevel
from streams.domain.subscriptions import Subscription, SubscriptionBook


def alert_id(subscription_id: str, story_id: str) -> str:
    """Deterministic in (subscription, story): a redelivered article re-emits the same alert id,
    so a consumer deduplicating on ``alert_id`` sees one alert per story per subscriber."""
    return xxhash.xxh3_128_hexdigest(f"{subscription_id}\x00{story_id}".encode())


@dataclass(slots=True, frozen=True)
class Alert:
    subscription: Subscription
    document: dict[str, Any]  # the labels in it are ``orjson.Fragment``s: serialize it with orjson
    level: SeverityLevel

    @property
    def topic(self) -> str:
        return self.subscription.topic


def route(
    book: SubscriptionBook, article: Article, story_id: str, labels: Labels, created_at: str
) -> list[Alert]:
    """Alerts for every subscription the story matches.

    Stateless on purpose: the pipeline routes only the first article of a story, and ids are
    deterministic, so no alert bookkeeping has to survive a restart.
    """
    if not labels.types or labels.level == "none":
        return []
    countries = orjson.Fragment(labels.countries)
    threats = orjson.Fragment(labels.threats)
    severity = orjson.Fragment(labels.severity)
    alerts: list[Alert] = []
    for sub in book:
        match = sub.match(
            labels.codes, labels.regions, labels.types, labels.level, article.title, article.body
        )
        if match is None:
            continue
        # The first spans of each matched label (of every country when the match named none), then
        # the keywords': joined from the labels' JSON pieces, not decoded and encoded again.
        places = set(match.places)
        pieces = [e for code, e in zip(labels.codes, labels.country_evidence, strict=True) if code in places]
        pieces = pieces or list(labels.country_evidence)
        pieces += [e for t, e in zip(labels.types, labels.threat_evidence, strict=True) if t in match.threats]
        pieces += [orjson.dumps(e.to_dict()) for e in match.keyword_evidence]
        evidence = orjson.Fragment(b"[" + b",".join([e for e in pieces if e]) + b"]")
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
            "countries": countries,
            "primary_country": labels.primary_country,
            "regions": labels.regions,
            "threats": threats,
            "severity": severity,
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
        alerts.append(Alert(sub, doc, labels.level))
    return alerts
