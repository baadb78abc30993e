"""Story deduplication: exact re-sends and agency rewrites of one story collapse onto its first article.

Usage::

    cfg = DedupConfig()
    index = StoryIndex(cfg, store)          # store: MutableMapping[str, bytes] holding all state
    verdict = index.offer(article, fingerprint(article, cfg), now=time.time())
"""

from streams.domain.dedup.config import DedupConfig
from streams.domain.dedup.fingerprints import (
    Fingerprint,
    estimate_jaccard,
    fingerprint,
    fingerprint_many,
    normalise,
)
from streams.domain.dedup.index import StoryIndex

__all__ = [
    "DedupConfig",
    "Fingerprint",
    "StoryIndex",
    "estimate_jaccard",
    "fingerprint",
    "fingerprint_many",
    "normalise",
]
