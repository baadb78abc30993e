"""Casualty counts ("at least 12 people were killed", "killing 40") for the severity score.

The regexes use only bounded quantifiers and no quantified groups, so each start position does a bounded
amount of work and a whole scan stays linear in the text length, even on adversarial input; they run
only on fields where the matcher already found a casualty word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "a dozen": 12,
    "dozen": 12,
    "dozens": 24,
    "scores": 40,
    "a hundred": 100,
    "hundreds": 200,
    "thousands": 2000,
}
_NUM = (
    r"(?P<n>\d{1,3},\d{3},\d{3}|\d{1,3},\d{3}|\d{1,7}|"
    + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
    + r")"
)
_QUALIFIER = r"(?:at least |more than |nearly |almost |about |around |some |over |up to |as many as )?"
_WORD = r"(?: [a-z'-]{1,20})?"
_HARM = r"(?P<v>killed|dead|died|wounded|injured|dying)"

#: "at least 12 people were killed", "40 dead", "three soldiers have been wounded"
COUNT_THEN_HARM = re.compile(
    r"\b"
    + _QUALIFIER
    + _NUM
    + _WORD
    + _WORD
    + _WORD
    + r" (?:were |was |have been |had been |are |been )?"
    + _HARM
    + r"\b"
)
#: "killed at least 12", "killing 40 people", "death toll rose to 31"
HARM_THEN_COUNT = re.compile(
    r"\b(?P<v>killed|killing|kills|wounded|wounding|injured|injuring|"
    r"death toll(?: has)?(?: rose| climbed| rises| reached| stood| stands| jumped| climbs| hit)?(?: to| at)?)"
    r" " + _QUALIFIER + _NUM + r"\b"
)
PATTERNS: tuple[re.Pattern[str], ...] = (COUNT_THEN_HARM, HARM_THEN_COUNT)

#: Words the matcher looks for to decide whether the regexes are worth running on a field.
TRIGGERS: tuple[str, ...] = (
    "killed",
    "killing",
    "kills",
    "dead",
    "died",
    "dying",
    "wounded",
    "wounding",
    "injured",
    "injuring",
    "death toll",
)


@dataclass(slots=True, frozen=True, init=False)
class CasualtyCount:
    start: int
    end: int
    count: int
    wounded: bool  # wounded/injured rather than killed

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(self, start: int, end: int, count: int, wounded: bool) -> None:
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "wounded", wounded)


def _parse_number(raw: str) -> int:
    return int(raw.replace(",", "")) if raw[0].isdigit() else _NUMBER_WORDS[raw]


#: How far before a casualty word a count phrase can start ("at least 1,200 of the villagers were
#: killed": the longest the pattern allows is ~100 characters).
_BEFORE = 120


def find_casualties(lowered: str, near: list[tuple[int, int]] | None = None) -> list[CasualtyCount]:
    """All casualty counts in an already lowercased text (indices are those of the text).

    With ``near`` (character spans of the casualty words the matcher found) each pattern runs only
    where it can match: a count-then-harm phrase ends at one of those words, so it is searched for in
    the ``_BEFORE`` characters up to each; a harm-then-count phrase starts at one, so it is tried
    there alone. Scanning a 3 KB body from every word boundary costs more than the rest of
    classification, and even windows around each word cost ~70k instructions an article that has any.
    """
    found: list[CasualtyCount] = []
    if near is None:
        _collect(found, COUNT_THEN_HARM.finditer(lowered))
        _collect(found, HARM_THEN_COUNT.finditer(lowered))
        return found
    words = sorted(near)
    windows: list[tuple[int, int]] = []
    for s, e in words:
        # One character past the word, so ``\b`` after it sees what really follows.
        lo, hi = max(0, s - _BEFORE), e + 1
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    _collect(found, (m for lo, hi in windows for m in COUNT_THEN_HARM.finditer(lowered, lo, hi)))
    starts: list[re.Match[str]] = []
    taken = -1
    for s, _ in words:
        if s < taken:  # inside the previous phrase, as ``finditer`` would skip it
            continue
        m = HARM_THEN_COUNT.match(lowered, s)
        if m is not None:
            starts.append(m)
            taken = m.end()
    _collect(found, starts)
    return found


def _collect(found: list[CasualtyCount], matches: Iterable[re.Match[str]]) -> None:
    for m in matches:
        raw = m.group("n")
        count = _parse_number(raw)
        # A bare four-digit 19xx/20xx is almost always a year ("killed in 2014 ..."), not a count.
        if raw.isdigit() and len(raw) == 4 and 1900 <= count <= 2100:
            continue
        verb = m.group("v")
        wounded = verb.startswith(("wound", "injur"))
        found.append(CasualtyCount(m.start(), m.end(), count, wounded))
