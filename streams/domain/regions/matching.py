"""Find gazetteer forms in an article: one automaton pass over marked bytes, then cheap per-match checks.

Why bytes: ``str.lower()`` and str-based automaton search are several times slower on non-ASCII text
(AP datelines carry an em dash, most copy has curly quotes). The title and body become one buffer, one
byte per character (non-ASCII -> "?", so offsets stay ``str`` indices), where letters and digits are
lower-cased and every other byte is a separator: ``MARK`` when a capital follows, else a space.

Why the mark: nearly every form must start with a capital, so its pattern starts with ``MARK``, a byte
that occurs only before capitalised words (a few dozen per article). The automaton's prefilter then jumps
from one to the next instead of stepping through every byte, which patterns led by a space (every few
bytes) defeat.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from streams.domain.regions.gazetteer import (
    CHECK_AMBIGUOUS,
    CHECK_EXACT,
    CHECK_NON_ASCII_CAPITAL,
    JOIN_CHAR,
    PAIR_TABLE,
    Entry,
    FormIndex,
    Gazetteer,
)
from streams.domain.regions.kernel import mark_pairs

#: ``(start, end, entry)`` with ``str`` indices into the scanned text; tuples because thousands of
#: these are built per second.
Hit = tuple[int, int, Entry]

_SEPARATOR_MAX: Final = 0x20  # spaces, MARK and JOIN; folded letters and digits are all above
#: Between title and body; the space lets the body's first word be marked as capitalised.
_JOINER: Final = JOIN_CHAR + " "


def mark(data: bytes) -> bytes:
    """The buffer the automata scan: ``out[k + 1]`` is ``data[k]`` folded and marked, with a separator at
    each end. Each output byte depends on a byte and the next one, so one table lookup per overlapping
    byte pair does folding and marking at once (compiled: :func:`kernel.mark_pairs`)."""
    out: npt.NDArray[np.uint8] = mark_pairs(data, PAIR_TABLE)
    return out.tobytes()


class ScannedArticle:
    """The mentions in one article, indexed into ``text`` (title, joiner, body): one list, in order."""

    __slots__ = ("_buf", "ambiguous", "body_offset", "hits", "text")

    def __init__(self, text: str, body_offset: int, hits: list[Hit], ambiguous: bool, buf: bytes) -> None:
        self.text = text
        self.body_offset = body_offset
        self.hits = hits
        #: Whether any hit is a name that ambiguity.py must resolve.
        self.ambiguous = ambiguous
        self._buf = buf

    def field_hits(self) -> tuple[list[Hit], list[Hit]]:
        """The hits split by field, with offsets into the title and into the body."""
        off = self.body_offset
        split = len(self.hits)
        for k, hit in enumerate(self.hits):
            if hit[0] >= off:
                split = k
                break
        return self.hits[:split], [(s - off, e - off, entry) for s, e, entry in self.hits[split:]]

    def cue_entries(self, gazetteer: Gazetteer) -> list[Entry]:
        """Entries of the lower-case cue words anywhere in the article (title or body)."""
        return [entry for _, _, entry in _lowercase_hits(gazetteer.cues, self._buf)]


def scan_article(gazetteer: Gazetteer, title: str, body: str) -> ScannedArticle:
    """Mentions in ``title`` and ``body`` on word boundaries with the capitalisation their entry demands."""
    text = title + _JOINER + body
    data = text.encode("ascii", "replace")
    buf = mark(data)
    hits, ambiguous = _capitalised_hits(gazetteer.capitalised, buf, data, text)
    lowercase = _lowercase_hits(gazetteer.lowercase, buf)
    if lowercase:
        hits = _leftmost_longest(hits + lowercase)
        ambiguous = any(entry.kind == "ambiguous" for _, _, entry in hits)
    return ScannedArticle(text, len(title) + len(_JOINER), hits, ambiguous, buf)


def scan(gazetteer: Gazetteer, text: str) -> list[Hit]:
    """Mentions in one text (as if it were a body with no title)."""
    return scan_article(gazetteer, "", text).field_hits()[1]


def _capitalised_hits(index: FormIndex, buf: bytes, data: bytes, text: str) -> tuple[list[Hit], bool]:
    patterns = index.patterns
    hits: list[Hit] = []
    ambiguous = False
    for pid, start, end in index.automaton.find_matches_as_indexes(buf):
        if buf[end] > _SEPARATOR_MAX:  # the match stops inside a word ("Oman" in "Omani" is another pattern)
            continue
        end -= 1
        entry, check = patterns[pid]
        if check:
            if check & CHECK_EXACT and not data[start:end].isupper():  # "US" yes, "Us" no
                continue
            if check & CHECK_NON_ASCII_CAPITAL and not text[start].isupper():  # the mark only said "maybe"
                continue
            if check & CHECK_AMBIGUOUS:
                ambiguous = True
        hits.append((start, end, entry))
    return hits, ambiguous


def _lowercase_hits(index: FormIndex, buf: bytes) -> list[Hit]:
    """Forms allowed in any case; these patterns have no leading separator, so check the word start."""
    patterns = index.patterns
    return [
        (start - 1, end - 1, patterns[pid][0])  # no leading separator: buf[k + 1] is text[k]
        for pid, start, end in index.automaton.find_matches_as_indexes(buf)
        if buf[start - 1] <= _SEPARATOR_MAX and buf[end] <= _SEPARATOR_MAX
    ]


def _leftmost_longest(hits: list[Hit]) -> list[Hit]:
    """Non-overlapping hits from two automata, chosen as one leftmost-longest automaton would."""
    hits.sort(key=lambda h: (h[0], -h[1]))
    out: list[Hit] = []
    last_end = -1
    for hit in hits:
        if hit[0] >= last_end:
            out.append(hit)
            last_end = hit[1]
    return out


# Compile the kernel (or load it from numba's cache) at import, not in the first article's latency.
mark(b"Warm up")
