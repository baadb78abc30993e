"""Find gazetteer forms in one text: automaton passes over normalised bytes, then cheap per-match checks.

Why bytes: ``str.lower()`` and str-based automaton search are several times slower on non-ASCII text
(AP datelines carry an em dash, most copy has curly quotes), while ``bytes.translate`` runs at memory
speed. The text becomes one byte per character (non-ASCII -> "?", so offsets stay ``str`` indices), is
mapped through ``FOLD_TABLE`` (non-word bytes -> spaces), and every pattern starts with a space: matches
begin only at word starts and only the word end is checked here.
"""

from __future__ import annotations

from typing import Final

from streams.domain.regions.gazetteer import CASE_CAP, CASE_EXACT, FOLD_TABLE, Entry, Gazetteer

#: ``(start, end, entry)`` with ``str`` indices into the scanned text; tuples because thousands of
#: these are built per second.
Hit = tuple[int, int, Entry]

_SPACE: Final = 0x20
_QUESTION: Final = 0x3F  # what ``encode("ascii", "replace")`` leaves for a non-ASCII character


def scan(gazetteer: Gazetteer, text: str) -> list[Hit]:
    """Mentions in ``text`` on word boundaries with the capitalisation their entry demands, in order."""
    # One byte per character ("?" for non-ASCII), so byte offsets are str indices.
    data = text.encode("ascii", "replace")
    # buf[k + 1] is data[k] normalised; a pattern match [s, e) in buf covers data[s : e - 1].
    buf = b" " + data.translate(FOLD_TABLE) + b" "
    entries = gazetteer.entries
    hits: list[Hit] = []
    for pid, start, end in gazetteer.automaton.find_matches_as_indexes(buf):
        if buf[end] != _SPACE:  # the match stops inside a word ("Oman" in "Omani" is another pattern)
            continue
        end -= 1
        entry = entries[pid]
        case = entry.case
        if case == CASE_CAP:
            b = data[start]
            if not (65 <= b <= 90 or (b == _QUESTION and text[start].isupper())):
                continue
        elif case == CASE_EXACT and not data[start:end].isupper():  # "US" yes, "us" no
            continue
        hits.append((start, end, entry))
    return hits
