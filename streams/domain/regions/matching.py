"""Find gazetteer forms in one text: automaton passes, then cheap per-match boundary and case checks."""

from __future__ import annotations

from bisect import bisect_right

from streams.domain.regions.gazetteer import CASE_CAP, Entry, Gazetteer, fold

#: ``(start, end, entry)``: a plain tuple because building thousands of objects per second shows up.
Hit = tuple[int, int, Entry]


def scan(gazetteer: Gazetteer, text: str) -> list[Hit]:
    """Mentions in ``text`` on word boundaries with the capitalisation their entry demands, in order.

    Matching runs on a same-length lower-cased copy, so offsets index the original ``text`` directly.
    """
    low = fold(text)
    n = len(low)
    entries = gazetteer.entries
    hits: list[Hit] = []
    for pid, start, end in gazetteer.automaton.find_matches_as_indexes(low):
        if (start and low[start - 1].isalnum()) or (end < n and low[end].isalnum()):
            continue
        entry = entries[pid]
        if entry.case == CASE_CAP and not text[start].isupper():
            continue
        hits.append((start, end, entry))
    exact = gazetteer.exact_automaton.find_matches_as_indexes(text)
    if exact:
        _merge_exact(hits, exact, gazetteer.exact_entries, text)
    return hits


def _merge_exact(hits: list[Hit], exact: list[tuple[int, int, int]], entries: list[Entry], text: str) -> None:
    """Add all-capitals matches that do not overlap a longer case-insensitive one ("U.S. Forces Korea")."""
    n = len(text)
    starts = [h[0] for h in hits]
    added = False
    for pid, start, end in exact:
        if (start and text[start - 1].isalnum()) or (end < n and text[end].isalnum()):
            continue
        i = bisect_right(starts, start) - 1
        if i >= 0 and hits[i][1] > start:
            continue
        if i + 1 < len(starts) and hits[i + 1][0] < end:
            continue
        hits.append((start, end, entries[pid]))
        added = True
    if added:
        hits.sort(key=_start)


def _start(hit: Hit) -> int:
    return hit[0]
