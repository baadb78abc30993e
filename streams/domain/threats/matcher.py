"""One Aho-Corasick pass that finds every taxonomy phrase, context word, blocker and cue in a text.

All phrase kinds share a single automaton so an article is scanned once per field; each automaton
pattern carries a precomputed tuple of roles (what a match means) so the hot loop only checks word
boundaries and appends tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ahocorasick_rs

from streams.domain.threats.casualties import TRIGGERS
from streams.domain.threats.taxonomy import Phrase, ThreatTaxonomy

# Role kinds (small ints keep the hot loop cheap).
HIT, CONTEXT, MODIFIER, DOMAIN, CUE, TRIGGER = range(6)

TITLE, BODY = 0, 1
FIELDS = ("title", "body")

#: (role kind, index into the kind's table)
Role = tuple[int, int]
#: (index, field, start, end)
Event = tuple[int, int, int, int]


@dataclass(slots=True, frozen=True)
class HitSpec:
    """A weighted phrase of one threat type, as seen by the scorer."""

    type_index: int
    weight: float
    context: int  # index of the required context group, -1 when none
    phrase: str


@dataclass(slots=True)
class Scan:
    """Everything one article's fields matched, grouped by role kind."""

    hits: list[Event] = field(default_factory=list)
    contexts: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    modifiers: list[Event] = field(default_factory=list)
    domains: list[int] = field(default_factory=list)
    cues: list[Event] = field(default_factory=list)
    trigger_fields: set[int] = field(default_factory=set)


def lower_same_length(text: str) -> str:
    """``text.lower()`` with one char per char, so match offsets are valid in the original text.

    A few characters lowercase to two code points (e.g. "İ" -> "i̇"); for those keep the first one.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch.lower()[0] for ch in text)


# Punctuation becomes a space (same byte length, so offsets survive) and every phrase is padded with
# spaces: the automaton then only reports matches on word boundaries, which keeps the number of raw
# matches, the dominant cost of a scan, low. "test-fired" also matches "test fired", "korea" "korea's".
_ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\n\r\x0b\x0c"
_BYTE_TABLE = bytes.maketrans(_ASCII_PUNCT.encode(), b" " * len(_ASCII_PUNCT))
_UNICODE_PUNCT = tuple(
    ch.encode()
    for ch in "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u00ab\u00bb\u2032\u00b7\u2022\u3000"
)
_PHRASE_TABLE = str.maketrans(dict.fromkeys(_ASCII_PUNCT + "‘’“”–—", " "))


def _pattern(phrase: Phrase) -> bytes:
    words = phrase.text.translate(_PHRASE_TABLE).split()
    return b" " + " ".join(words).encode() + (b"" if phrase.prefix else b" ")


@dataclass(slots=True)
class Haystack:
    """A lowercased field prepared for the automaton, with byte -> str offset conversion."""

    low: str  # lowercased field, same length as the original
    data: bytes  # " " + normalised UTF-8 bytes + " "
    ascii: bool

    @classmethod
    def of(cls, text: str) -> Haystack:
        low = lower_same_length(text)
        enc = low.encode()
        is_ascii = len(enc) == len(low)
        if not is_ascii:
            for ch in _UNICODE_PUNCT:
                if ch in enc:
                    enc = enc.replace(ch, b" " * len(ch))
        return cls(low, b" " + enc.translate(_BYTE_TABLE) + b" ", is_ascii)

    def char_offset(self, byte_offset: int) -> int:
        """Offset into ``low`` (and the original text) of a byte offset into the UTF-8 encoding."""
        if self.ascii:
            return byte_offset
        return len(self.low.encode()[:byte_offset].decode())


class PhraseMatcher:
    """The compiled automaton for a taxonomy."""

    def __init__(self, taxonomy: ThreatTaxonomy) -> None:
        self.type_ids = taxonomy.types
        type_index = {t: i for i, t in enumerate(self.type_ids)}
        context_names = list(taxonomy.contexts)
        roles: dict[bytes, dict[Role, None]] = {}
        # Best weight per (pattern, type, context): "al-qaeda" and "al qaeda" are one pattern, one hit.
        best: dict[tuple[bytes, int, int], int] = {}

        def add(phrase: Phrase, role: Role) -> None:
            roles.setdefault(_pattern(phrase), {})[role] = None

        self.hit_specs: list[HitSpec] = []
        for t in taxonomy.threat_types:
            ti = type_index[t.id]
            for wp in t.phrases:
                ctx = -1 if wp.requires is None else context_names.index(wp.requires)
                key = (_pattern(wp.phrase), ti, ctx)
                if key in best:
                    prev = best[key]
                    if self.hit_specs[prev].weight < wp.weight:
                        self.hit_specs[prev] = HitSpec(ti, wp.weight, ctx, wp.phrase.key)
                    continue
                best[key] = len(self.hit_specs)
                add(wp.phrase, (HIT, len(self.hit_specs)))
                self.hit_specs.append(HitSpec(ti, wp.weight, ctx, wp.phrase.key))
        for ci, name in enumerate(context_names):
            for p in taxonomy.contexts[name].phrases:
                add(p, (CONTEXT, ci))
        for mi, m in enumerate(taxonomy.modifiers):
            for p in m.phrases:
                add(p, (MODIFIER, mi))
        # Domain roles index phrases (not domains) so distinct phrases can be counted per domain.
        self.domain_of_phrase: list[int] = []
        for di, d in enumerate(taxonomy.domains):
            for p in d.phrases:
                add(p, (DOMAIN, len(self.domain_of_phrase)))
                self.domain_of_phrase.append(di)
        self.cue_boosts: list[float] = []
        for ci, (p, boost) in enumerate(taxonomy.severity.cues):
            add(p, (CUE, ci))
            self.cue_boosts.append(boost)
        for trig in TRIGGERS:
            add(Phrase(trig, False), (TRIGGER, 0))

        self.patterns = list(roles)
        self._roles: list[tuple[Role, ...]] = [tuple(roles[p]) for p in self.patterns]
        self._prefix: list[bool] = [not p.endswith(b" ") for p in self.patterns]
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            self.patterns,
            matchkind=ahocorasick_rs.MATCHKIND_STANDARD,
            implementation=ahocorasick_rs.Implementation.DFA,
        )

    def scan(self, hay: Haystack, fld: int, out: Scan) -> None:
        """Append every match in one field to ``out``; offsets are byte offsets into ``hay.low``'s UTF-8."""
        data = hay.data
        all_roles = self._roles
        is_prefix = self._prefix
        hits = out.hits
        for pid, s, e in self._automaton.find_matches_as_indexes(data, overlapping=True):
            # data[s] is the padding space before the word, so the word starts at data offset s + 1,
            # which is offset s of the unpadded text.
            # A prefix phrase ("missile*") covers the whole word it starts ("missiles").
            end = data.find(b" ", e) - 1 if is_prefix[pid] else e - 2
            for kind, idx in all_roles[pid]:
                if kind == HIT:
                    hits.append((idx, fld, s, end))
                elif kind == CONTEXT:
                    out.contexts.setdefault(idx, []).append((fld, s, end))
                elif kind == MODIFIER:
                    out.modifiers.append((idx, fld, s, end))
                elif kind == DOMAIN:
                    out.domains.append(idx)
                elif kind == CUE:
                    out.cues.append((idx, fld, s, end))
                else:
                    out.trigger_fields.add(fld)
