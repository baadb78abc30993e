"""Alert routing: which subscribers a classified story goes to, and the alert documents they get."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from streams.domain.labels import Labels
from streams.domain.model import Article
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
    book: SubscriptionBook, article: Article, story_id: str, labels: Labels, created_at: str
) -> list[Alert]:
    """Alerts for every subscription the story matches.

    Stateless on purpose: the pipeline routes only the first article of a story, and ids are
    deterministic, so no alert bookkeeping has to survive a restart.
    """
    if not labels.threats or labels.level == "none":
        return []
    codes = [c["code"] for c in labels.countries]
    types = [t["type"] for t in labels.threats]
    alerts: list[Alert] = []
    for sub in book:
        match = sub.match(codes, labels.regions, types, labels.level, article.title, article.body)
        if match is None:
            continue
        places = set(match.places)
        matched_countries = [c for c in labels.countries if c["code"] in places] or labels.countries
        evidence = [e for c in matched_countries for e in c["evidence"][:3]]
        evidence += [e for t in labels.threats if t["type"] in match.threats for e in t["evidence"][:3]]
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
            "countries": labels.countries,
            "primary_country": labels.primary_country,
            "regions": labels.regions,
            "threats": labels.threats,
            "severity": labels.severity,
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
