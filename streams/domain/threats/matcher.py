"""One Aho-Corasick pass that finds every taxonomy phrase, context word, blocker and cue in a text.

All phrase kinds share a single automaton so an article is scanned once per field; each automaton
pattern carries a precomputed tuple of roles (what a match means) so the hot loop only checks word
boundaries and appends tuples.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Final

import ahocorasick_rs

from streams.domain.threats.casualties import TRIGGERS
from streams.domain.threats.taxonomy import Phrase, ThreatTaxonomy

# Role kinds (small ints keep the hot loop cheap).
# Final, one by one: compiled (streams/native.py), each use is then a constant, not a module lookup.
HIT: Final = 0
CONTEXT: Final = 1
MODIFIER: Final = 2
DOMAIN: Final = 3
CUE: Final = 4
TRIGGER: Final = 5
# Scan codes per pattern: one hit, one context word, or anything else.
_SINGLE_HIT: Final = 0
_SINGLE_CONTEXT: Final = 1
_GENERAL: Final = 2

TITLE: Final = 0
BODY: Final = 1
FIELDS: Final = ("title", "body")

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


@dataclass(slots=True, init=False)
class Scan:
    """Everything one article's fields matched, grouped by role kind.

    Hit and context ends are the automaton's pattern ends (``e - 2``); for prefix phrases the scorer
    extends a hit to the end of its word only when it needs the span (overlaps and evidence).
    """

    #: (hit spec index, field, start, pattern end)
    hits: list[Event] = field(default_factory=list)
    #: Per context group: (field, start, end) in text order (``PhraseMatcher.new_scan`` sizes it).
    contexts: list[list[tuple[int, int, int]]] = field(default_factory=list)
    modifiers: list[Event] = field(default_factory=list)
    domains: list[int] = field(default_factory=list)
    cues: list[Event] = field(default_factory=list)
    #: (field, start, end) of every casualty word: the casualty regexes run only around these.
    triggers: list[tuple[int, int, int]] = field(default_factory=list)

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        hits: list[Event] | None = None,
        contexts: list[list[tuple[int, int, int]]] | None = None,
        modifiers: list[Event] | None = None,
        domains: list[int] | None = None,
        cues: list[Event] | None = None,
        triggers: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.hits = [] if hits is None else hits
        self.contexts = [] if contexts is None else contexts
        self.modifiers = [] if modifiers is None else modifiers
        self.domains = [] if domains is None else domains
        self.cues = [] if cues is None else cues
        self.triggers = [] if triggers is None else triggers


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
_BYTE_TABLE: Final = bytes.maketrans(_ASCII_PUNCT.encode(), b" " * len(_ASCII_PUNCT))
_UPPER: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: For ASCII fields, lower-casing and punctuation in one ``bytes.translate``: str.lower() alone costs
#: twice as much as the translate (measured 4.4 vs 2.3 us on a 2.3 KB body).
_ASCII_TABLE: Final = bytes.maketrans(
    _ASCII_PUNCT.encode() + _UPPER, b" " * len(_ASCII_PUNCT) + _UPPER.lower()
)
_UNICODE_PUNCT: Final = frozenset(
    "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u00ab\u00bb\u2032\u00b7\u2022\u3000"
)
_ASCII_BYTES: Final = bytes(range(0x80))
_CONTINUATION_BYTES: Final = bytes(range(0x80, 0xC0))
_PHRASE_TABLE = str.maketrans(dict.fromkeys(_ASCII_PUNCT + "‘’“”–—", " "))


def _pattern(phrase: Phrase) -> bytes:
    words = phrase.text.translate(_PHRASE_TABLE).split()
    return b" " + " ".join(words).encode() + (b"" if phrase.prefix else b" ")


@dataclass(slots=True, init=False)
class Haystack:
    """A field prepared for the automaton (lowercased, punctuation as spaces), with byte -> str offset
    conversion and, on demand, the lowercased text."""

    text: str  # the field as given
    data: bytes  # " " + normalised UTF-8 bytes + " "
    ascii: bool
    utf8: bytes  # UTF-8 before normalisation (of the lowered str, if made): byte -> char offsets
    lowered: str | None  # the lowercased text, once made (see ``low``)
    #: Byte offsets already converted by ``char_offset`` (ascending, from 0) and their char offsets.
    known_bytes: list[int] | None
    known_chars: list[int] | None

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        text: str,
        data: bytes,
        ascii: bool,
        utf8: bytes,
        lowered: str | None,
        known_bytes: list[int] | None = None,
        known_chars: list[int] | None = None,
    ) -> None:
        self.text = text
        self.data = data
        self.ascii = ascii
        self.utf8 = utf8
        self.lowered = lowered
        self.known_bytes = known_bytes
        self.known_chars = known_chars

    @staticmethod
    def of(text: str) -> Haystack:
        # ``Haystack(...)``, not ``cls(...)``: compiled, a direct constructor call, not argument parsing.
        if text.isascii():  # most wire copy: one translate, and the lowercased str only if asked for
            enc = text.encode()
            return Haystack(text, b" " + enc.translate(_ASCII_TABLE) + b" ", True, enc, None)
        utf8 = text.encode()
        # The non-ASCII characters, found by deleting the ASCII bytes: cheaper than a pass per
        # punctuation character (19 us on a body) or a set of every character.
        others = utf8.translate(None, _ASCII_BYTES).decode()
        low: str | None = None
        if others.lower() == others:
            # No non-ASCII capital (curly quotes and dashes, the usual case): lowercasing changes
            # ASCII letters only, which the ASCII table does; the str is made only if asked for.
            enc = utf8.translate(_ASCII_TABLE)
        else:
            low = lower_same_length(text)
            utf8 = enc = low.encode()
            others = utf8.translate(None, _ASCII_BYTES).decode()
            enc = enc.translate(_BYTE_TABLE)
        for ch in _UNICODE_PUNCT.intersection(others):  # only the punctuation present
            sequence = ch.encode()
            enc = enc.replace(sequence, b" " * len(sequence))
        return Haystack(text, b" " + enc + b" ", False, utf8, low)

    @property
    def low(self) -> str:
        """The field lowercased, one char per char (the casualty regexes read it, a few fields in ten)."""
        if self.lowered is None:
            self.lowered = lower_same_length(self.text)
        return self.lowered

    def char_offset(self, byte_offset: int) -> int:
        """Offset into the text of a byte offset into its UTF-8 encoding: the bytes before it that
        start a character (continuation bytes deleted, no decoding).

        Counted from the nearest offset converted before, not from 0: an article's evidence and
        casualty words take ~20 conversions, and counting each from the start of a curly-quoted body
        was ~14% of its threat classification."""
        if self.ascii:
            return byte_offset
        if self.known_bytes is None or self.known_chars is None:
            self.known_bytes, self.known_chars = [0], [0]
        known_bytes, known_chars = self.known_bytes, self.known_chars
        i = bisect_right(known_bytes, byte_offset) - 1
        start = known_bytes[i]
        chars = known_chars[i]
        if start == byte_offset:
            return chars
        chars += len(self.utf8[start:byte_offset].translate(None, _CONTINUATION_BYTES))
        known_bytes.insert(i + 1, byte_offset)
        known_chars.insert(i + 1, chars)
        return chars


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
        self._n_contexts = len(context_names)
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
        # Most patterns have exactly one role, a hit or a context word: the hot loop handles those with
        # one small-int code and one index (``_SINGLE_HIT``/``_SINGLE_CONTEXT``) and walks the role tuple
        # only for the rest.
        self._roles: list[tuple[Role, ...]] = [tuple(roles[p]) for p in self.patterns]
        self._code: list[int] = []
        self._value: list[int] = []
        for pattern_roles in self._roles:
            kind, idx = pattern_roles[0]
            if len(pattern_roles) == 1 and kind in (HIT, CONTEXT):
                self._code.append(_SINGLE_HIT if kind == HIT else _SINGLE_CONTEXT)
                self._value.append(idx)
            else:
                self._code.append(_GENERAL)
                self._value.append(-1)
        #: Per hit spec: whether its phrase is a prefix ("missile*") whose hit extends to the word end.
        self.spec_is_prefix: list[bool] = [False] * len(self.hit_specs)
        for pattern in self.patterns:
            for kind, idx in roles[pattern]:
                if kind == HIT:
                    self.spec_is_prefix[idx] = not pattern.endswith(b" ")
        # The contiguous NFA, not the DFA: alone the DFA scans a body faster (13.7 vs 16.7 us), but its
        # ~MB of transitions do not stay in cache between articles; inside the pipeline the compact NFA
        # measured 16-20 us per article against the DFA's 21-27 (best and median of 5 runs).
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            self.patterns,
            matchkind=ahocorasick_rs.MATCHKIND_STANDARD,
            implementation=ahocorasick_rs.Implementation.ContiguousNFA,
        )

    def new_scan(self) -> Scan:
        """An empty ``Scan`` with one context list per context group."""
        return Scan(contexts=[[] for _ in range(self._n_contexts)])

    def scan(self, hay: Haystack, fld: int, out: Scan) -> None:
        """Append every match in one field to ``out``; offsets are byte offsets into the lowercased
        field's UTF-8.

        data[s] is the padding space before a word, so the word starts at data offset s + 1, which is
        offset s of the unpadded text; a pattern ending at e ends its word at e - 2 of the unpadded text.
        """
        found = self._automaton.find_matches_as_indexes(hay.data, overlapping=True)
        if not found:
            return
        code, value = self._code, self._value
        hits, contexts = out.hits, out.contexts
        general: list[tuple[int, int, int]] = []
        for pid, s, e in found:
            c = code[pid]
            if c == _SINGLE_HIT:
                hits.append((value[pid], fld, s, e - 2))
            elif c == _SINGLE_CONTEXT:
                contexts[value[pid]].append((fld, s, e - 2))
            else:
                general.append((pid, s, e))
        data = hay.data
        for pid, s, e in general:
            for kind, idx in self._roles[pid]:
                if kind == HIT:
                    hits.append((idx, fld, s, e - 2))
                elif kind == CONTEXT:
                    contexts[idx].append((fld, s, e - 2))
                elif kind == DOMAIN:
                    out.domains.append(idx)
                else:
                    # A prefix phrase ("missile*") covers the whole word it starts ("missiles").
                    end = e - 2 if data[e - 1] == 32 else data.find(b" ", e) - 1
                    if kind == MODIFIER:
                        out.modifiers.append((idx, fld, s, end))
                    elif kind == CUE:
                        out.cues.append((idx, fld, s, end))
                    else:
                        out.triggers.append((fld, s, end))
