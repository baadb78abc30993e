"""Dedup settings, in one place: every knob that changes what counts as "the same story"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class DedupConfig:
    """Tuning of the story index; defaults were tuned on ``tests/data/dedup_pairs.jsonl``."""

    #: State older than this (seconds of ``now``) is dropped; also the longest a story stays open.
    window_seconds: float = 172_800.0
    #: Estimated Jaccard (3-shingles) at or above which a candidate is the same story. Fixture
    #: rewrites measure 0.18-0.52, same-day different stories at most 0.12; missing a merge costs a
    #: repeated alert, a wrong merge a lost one, hence a threshold nearer the rewrites.
    threshold: float = 0.25
    #: Signature length (one-permutation MinHash bins); a power of two. More bins, finer estimate.
    num_perm: int = 128
    #: LSH bands x rows, taken from the first ``bands * rows`` bins. 16 x 2 finds ~78% of pairs at
    #: J=0.3, ~93% at 0.4 and ~99% at 0.5 (updates, re-sends); recent rewrites at lower J are found
    #: by the second signal too. Every band is a store write per article and another at expiry.
    bands: int = 16
    rows: int = 2
    #: Second signal, for rewrites that keep the facts but not the sentences (3-shingle Jaccard
    #: 0.13-0.25). Candidates: recent articles sharing names/numbers of title and lead, found
    #: through one posting list per fact (``f:<fact>``); a fact listed by ``max_band_ids`` live
    #: articles is common ("Tuesday", "Reuters"), not salient, and is not counted. Verified by the
    #: Jaccard of the sets of salient words (5+ letters or numbers, no function words), estimated
    #: by a MinHash of ``word_perm`` bins (a power of two).
    word_perm: int = 64
    #: Estimated salient-word Jaccard at or above which a *recent* candidate is the same story.
    #: Fixture rewrites under the shingle threshold estimate 0.39+, different stories published
    #: within the window at most 0.28 (tests/bench/report_dedup_pairs.py).
    word_threshold: float = 0.34
    #: The second signal only joins articles published (or offered) at most this far apart:
    #: a topic's vocabulary recurs over days, one event's facts are reported within hours.
    word_window_seconds: float = 43_200.0
    #: Uncommon facts two articles must share to be compared on salient words.
    min_shared_facts: int = 3
    #: Facts indexed per article (the longest, i.e. most specific, first).
    max_facts: int = 8
    #: Characters of the body searched for facts.
    fact_chars: int = 400
    #: Words per shingle.
    shingle_size: int = 3
    #: Granularity of expiry: state lives between ``window`` and ``window + bucket`` seconds.
    bucket_seconds: float = 600.0
    #: Articles whose ``published_at`` differ by more than this never merge (same template, new event).
    max_gap_seconds: float = 172_800.0
    #: Dateline dates ("April 15") in title/lead further apart than this veto a near-duplicate match.
    date_tolerance_days: int = 1
    #: Characters of the body searched for dateline dates.
    lead_chars: int = 160
    #: Most recent article ids kept per LSH bucket; bounds work on boilerplate-heavy buckets.
    max_band_ids: int = 16
    #: Expired articles an ``offer`` forgets while a bucket is due (more than arrive, so it drains):
    #: expiry is spread over the stream, not a pause when a busy bucket falls due; 32 amortises
    #: numpy's per-call cost (a drain step is ~1 ms).
    expire_per_offer: int = 32

    def __post_init__(self) -> None:
        if self.num_perm < 8 or self.num_perm > 1024 or self.num_perm & (self.num_perm - 1):
            raise ValueError("num_perm must be a power of two in [8, 1024]")
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise ValueError("need bands >= 1, rows >= 1 and bands * rows <= num_perm")
        if self.word_perm < 8 or self.word_perm > 1024 or self.word_perm & (self.word_perm - 1):
            raise ValueError("word_perm must be a power of two in [8, 1024]")
        if self.max_facts < 1 or self.min_shared_facts < 1:
            raise ValueError("max_facts and min_shared_facts must be >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.shingle_size < 1:
            raise ValueError("shingle_size must be >= 1")
        if self.window_seconds <= 0 or self.bucket_seconds <= 0:
            raise ValueError("window_seconds and bucket_seconds must be > 0")
        if self.max_band_ids < 1 or self.expire_per_offer < 1:
            raise ValueError("max_band_ids and expire_per_offer must be >= 1")

    @property
    def state_version(self) -> str:
        """Identifies the stored layout; state written under another version cannot be reused."""
        return "dedup-v3" + self._state_settings

    @property
    def layout2_state_version(self) -> str:
        """The version that state of the previous layout with these settings carries: the story
        index reads it (records of both layouts, until the old ones expire) and marks it current."""
        return "dedup-v2" + self._state_settings

    @property
    def _state_settings(self) -> str:
        return (
            f":{self.num_perm}:{self.bands}x{self.rows}:{self.shingle_size}:"
            f"{self.word_perm}:{self.max_facts}:{self.fact_chars}:{self.bucket_seconds:g}"
        )
