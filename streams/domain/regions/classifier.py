"""Which countries, sub-regions and groups an article is substantially about.

A mention counts more where editors put what matters: the title, the dateline ("SEOUL, April 15 (UPI)
--") and the lead paragraph. Countries far behind the leader, or seen only in passing, are dropped.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from streams.domain.model import Article, CountryLabel, Evidence, RegionResult
from streams.domain.regions.ambiguity import resolve
from streams.domain.regions.gazetteer import Gazetteer, build_gazetteer
from streams.domain.regions.matching import Hit, scan_article

TITLE_WEIGHT: Final = 3.0
DATELINE_WEIGHT: Final = 4.0
LEAD_WEIGHT: Final = 2.0
BODY_WEIGHT: Final = 1.0
#: Background paragraphs at the end of long stories rarely name what the story is about.
TAIL_WEIGHT: Final = 0.7
LEAD_CHARS: Final = 400
TAIL_START: Final = 2500
#: A country needs this share of the top score and this absolute score to be listed: one mention in
#: the body (1.0) is not enough, one in the title (3.0) or lead (2.0) is.
RELATIVE_MIN: Final = 0.2
ABSOLUTE_MIN: Final = 1.5
#: Spans kept per listed country: enough to show why, and each one is an object per article.
MAX_EVIDENCE: Final = 5
#: Members of a list of three or more places count this much: listed countries are usually bystanders.
LIST_FACTOR: Final = 0.5

#: "SEOUL, April 15 (UPI) --", "KYIV, Ukraine (AP) —", "WASHINGTON (Reuters) -", "BEIRUT, Lebanon —".
_DATELINE: Final = re.compile(
    r"\s*[A-Z][A-Z'’.\-]+(?: [A-Z][A-Z'’.\-]+)*(?=[ ,(:—–-])[^\n]{0,80}?"
    r"(?:\)\s*(?:--|—|–|-)?|\s(?:--|—|–|-)\s|:\s)"
)


def dateline_end(body: str) -> int:
    """Index just past the dateline at the start of ``body``, or 0 when there is none."""
    if not body[:160].lstrip()[:2].isupper():  # the pattern needs two capitals first; most bodies fail here
        return 0
    m = _DATELINE.match(body, 0, 160)
    return m.end() if m else 0


def lead_end(body: str, start: int) -> int:
    """End of the lead: the first paragraph break after ``start``, at most ``LEAD_CHARS`` later."""
    brk = body.find("\n", start + 80, start + LEAD_CHARS)
    return brk if brk != -1 else start + LEAD_CHARS


#: Sign-off lines ("AP writers in Berlin contributed to this report.", "(Reporting by X in Seoul; Editing
#: by Y)") name where reporters sat, not what the story is about.
_CREDIT_MARKERS: Final = (
    "contributed to this report",
    "contributed reporting",
    "Reporting by",
    "Writing by",
    "Editing by",
    "Compiled by",
)
_CREDITS_WINDOW: Final = 600
_CREDIT_PROBES: Final = ("ing by", "contributed", "Compiled by")


def credits_start(body: str) -> int:
    """Index where the closing credits start (``len(body)`` when there are none)."""
    floor = max(len(body) - _CREDITS_WINDOW, 0)
    cut = len(body)
    # Every marker contains one of these: three scans of the window instead of six on the common path
    # (a regex alternation is slower than either).
    if all(body.find(probe, floor) == -1 for probe in _CREDIT_PROBES):
        return cut
    for marker in _CREDIT_MARKERS:
        i = body.find(marker, floor)
        if i != -1:
            sentence = max(body.rfind("\n", 0, i) + 1, body.rfind(". ", 0, i) + 2, body.rfind("(", 0, i), 0)
            cut = min(cut, sentence)
    return cut


#: Words that join the names of a list ("Britain, France, Germany and the United States").
_LIST_JOINS: Final = frozenset(
    {", ", " and ", ", and ", " and the ", ", and the ", " or ", ", or ", ", the "}
)
_LONGEST_JOIN: Final = max(len(j) for j in _LIST_JOINS)


def _enumerated(text: str, hits: list[Hit], body_start: int) -> set[int]:
    """Indices of body hits inside lists of three or more places: sponsors, reactions, neighbours."""
    out: set[int] = set()
    if len(hits) < 3:
        return out
    run = 0
    prev_end = -100
    for k, (start, end, _) in enumerate(hits):
        # The length test keeps the slice (and the set lookup) off the common path; the joiner between
        # title and body is no list join, so runs never cross into the body.
        if start - prev_end <= _LONGEST_JOIN and start >= body_start and text[prev_end:start] in _LIST_JOINS:
            run += 1
            if run == 2:
                out.update(range(k - 2, k + 1))
            elif run > 2:  # the run's earlier members are in already: re-adding them was quadratic
                out.add(k)
        else:
            run = 0
        prev_end = end
    return out


class RegionClassifier:
    """Scores countries mentioned in an article; stateless after construction, safe to share."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self._gaz = gazetteer

    @classmethod
    def default(cls) -> RegionClassifier:
        """The classifier over the packaged data, built once per process."""
        return _default()

    @property
    def gazetteer(self) -> Gazetteer:
        return self._gaz

    def classify(self, article: Article) -> RegionResult:
        gaz = self._gaz
        title, body = article.title, article.body
        scanned = scan_article(gaz, title, body)
        hits = scanned.hits
        if not hits:
            return _EMPTY
        if scanned.ambiguous:
            title_hits, body_hits = scanned.field_hits()
            cue_words = lambda: scanned.cue_entries(gaz)  # noqa: E731 - called at most once, if at all
            title_hits, body_hits = resolve(title, title_hits, body, body_hits, cue_words)
            off = scanned.body_offset
            hits = title_hits + [(s + off, e + off, entry) for s, e, entry in body_hits]

        # One pass over title and body hits, with offsets into ``text`` (title, joiner, body): the zones
        # below are shifted by ``off`` rather than every hit. Spans hold hit indices; Evidence objects are
        # built only for the countries kept, since most mentions are scored, then dropped.
        text, off = scanned.text, scanned.body_offset
        dl = dateline_end(body)
        lead = lead_end(body, dl) + off
        credits = credits_start(body) + off
        tail = TAIL_START + off
        dl += off
        listed = _enumerated(text, hits, off)
        scores: dict[str, float] = {}
        spans: dict[str, list[int]] = {}
        dateline: dict[str, float] = {}  # strongest dateline mention per country
        for k, (start, _, entry) in enumerate(hits):
            weight = entry.weight
            if not weight:
                continue
            if start < off:
                gain = weight * TITLE_WEIGHT
            elif start >= credits:
                continue
            else:
                if listed and k in listed:
                    weight *= LIST_FACTOR
                if start < dl:
                    for code in entry.codes:
                        dateline[code] = max(dateline.get(code, 0.0), weight)
                    gain = 0.0
                elif start < lead:
                    gain = weight * LEAD_WEIGHT
                elif start < tail:
                    gain = weight * BODY_WEIGHT
                else:
                    gain = weight * TAIL_WEIGHT
            for code in entry.codes:
                if code in scores:
                    scores[code] += gain
                    spans[code].append(k)
                else:
                    scores[code] = gain
                    spans[code] = [k]
        for code, weight in dateline.items():
            # Bureaus file from hubs ("BANGKOK" for Myanmar, "CAIRO" for Sudan): the dateline is a strong
            # signal only when the title or lead also names the country.
            backed = any(a < off or dl <= a < lead for a in (hits[k][0] for k in spans[code]))
            scores[code] += weight * (DATELINE_WEIGHT if backed else BODY_WEIGHT)
        if not scores:
            return _EMPTY

        top = max(scores.values())
        floor = max(ABSOLUTE_MIN, RELATIVE_MIN * top)
        kept = [c for c, s in scores.items() if s >= floor]
        if len(kept) > 1:
            kept.sort(key=lambda c: (-scores[c], c))
        countries = gaz.countries
        labels: list[CountryLabel] = []
        regions: set[str] = set()
        for code in kept:
            info = countries.get(code)
            if info is not None:
                regions.update(info.regions)
            evidence = _distinct_evidence(text, off, hits, spans[code])
            labels.append(CountryLabel(code, info.name if info else code, scores[code] / top, evidence))
        return RegionResult(tuple(labels), kept[0] if kept else None, tuple(sorted(regions)))


_EMPTY: Final = RegionResult((), None, ())


def _distinct_evidence(text: str, off: int, hits: list[Hit], indices: list[int]) -> tuple[Evidence, ...]:
    """The first mention of each distinct name per field, up to ``MAX_EVIDENCE``: "Pyongyang" five times
    over says less than "North Korea", "Pyongyang", "KCNA"."""
    in_title: set[str] = set()
    in_body: set[str] = set()
    out: list[Evidence] = []
    for k in indices:
        start, end, _ = hits[k]
        name = text[start:end]
        if start < off:
            if name in in_title:
                continue
            in_title.add(name)
            out.append(Evidence("title", start, end, name))
        else:
            if name in in_body:
                continue
            in_body.add(name)
            out.append(Evidence("body", start - off, end - off, name))
        if len(out) == MAX_EVIDENCE:
            break
    return tuple(out)


@functools.cache
def _default() -> RegionClassifier:
    return RegionClassifier(build_gazetteer())
