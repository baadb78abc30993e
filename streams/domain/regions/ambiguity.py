"""Context rules for country names that are also ordinary words, first names or US states.

Each rule looks at the whole article (other countries found, cue words) because one sentence rarely
settles it: "Georgia" next to "Atlanta" and "Gov. Kemp" is the US state, next to "Tbilisi" the country.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

from streams.domain.regions.gazetteer import CASE_CAP, KIND_WEIGHTS, Entry
from streams.domain.regions.matching import Hit

#: Capitalised words that may precede or follow a country name without making it a person's name.
_NOT_NAMES_TEXT: Final = """
    the in of to from and or with by for at on into across near neighboring neighbouring both including
    like visit visits visited visiting king queen kingdom hashemite lake northern southern eastern western
    central north south east west president prime foreign defense defence army armed government interior
    minister ministry airport embassy border borders but while after before as if when where since said says
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december a an this that its his her their our mr ms mrs"""
_NOT_NAMES: Final = frozenset(_NOT_NAMES_TEXT.split())

_GEORGIA: Final = "georgia"  # with "Georgian(s)", which name the state's residents too
#: "Georgia" once context shows it is the US state.
_GEORGIA_STATE: Final = Entry(
    "georgia", ("US",), KIND_WEIGHTS["state"], "state", CASE_CAP, frozenset({"us_place"})
)


def _word_before(text: str, start: int) -> str:
    """The token right before ``start`` when exactly one space separates them, else ''."""
    if start < 2 or text[start - 1] != " ":
        return ""
    i = start - 1
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    return text[i : start - 1]


def _word_after(text: str, end: int) -> str:
    if end + 1 >= len(text) or text[end] != " ":
        return ""
    j = end + 1
    while j < len(text) and not text[j].isspace():
        j += 1
    return text[end + 1 : j]


def _is_name_word(word: str) -> bool:
    """A bare capitalised word that is plausibly part of a personal name ("Michael", "Peterson")."""
    return len(word) > 1 and word.isalpha() and word[0].isupper() and word.lower() not in _NOT_NAMES


def _looks_like_person(text: str, hit: Hit) -> bool:
    return _is_name_word(_word_before(text, hit[0])) or _is_name_word(_word_after(text, hit[1]))


def is_title_case(title: str) -> bool:
    """Headline Style Capitalises Every Word, which hides the capitalisation cues used for names."""
    words = [w for w in title.split() if w[:1].isalpha()]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def resolve(
    title: str,
    title_hits: list[Hit],
    body: str,
    body_hits: list[Hit],
    cue_words: Callable[[], Iterable[Entry]],
) -> tuple[list[Hit], list[Hit]]:
    """Drop or re-assign mentions of ambiguous names; other hits pass through unchanged.

    ``cue_words`` gives the lower-case cue words of the article; it is called only when a name needs them.
    """
    ambiguous = [("title", h) for h in title_hits if h[2].kind == "ambiguous"]
    ambiguous += [("body", h) for h in body_hits if h[2].kind == "ambiguous"]
    if not ambiguous:
        return title_hits, body_hits
    by_name: dict[str, list[tuple[str, Hit]]] = {}
    for where, h in ambiguous:
        key = h[2].key
        by_name.setdefault(_GEORGIA if key.startswith(_GEORGIA) else key, []).append((where, h))
    # Count only what the rules below read: the ambiguous names' own countries, US, and the cue tags
    # (only the Georgia and Turkey rules read tags, so the cue-word scan runs only for them).
    wanted = {h[2].codes[0] for _, h in ambiguous} | {"GE", "US"}
    needs_tags = _GEORGIA in by_name or "turkey" in by_name
    support: Counter[str] = Counter()  # unambiguous mentions per wanted country
    tags: Counter[str] = Counter()
    for hits in (title_hits, body_hits):
        for _, _, entry in hits:
            if needs_tags and entry.tags:
                for tag in entry.tags:  # Counter.update is several times slower on small sets
                    tags[tag] += 1
            if entry.kind != "ambiguous":
                for code in entry.codes:
                    if code in wanted:
                        support[code] += 1
    if needs_tags:
        for entry in cue_words():
            for tag in entry.tags:
                tags[tag] += 1
    # Read by the first-name rule only.
    title_case = any(k not in (_GEORGIA, "turkey") for k in by_name) and is_title_case(title)
    replace: dict[tuple[str, int], Entry | None] = {}
    for key, group in by_name.items():
        code = group[0][1][2].codes[0]
        if key == _GEORGIA:
            if tags["us_domestic"] + tags["us_place"] > support["GE"] + tags["caucasus"]:
                replace.update(((where, h[0]), _GEORGIA_STATE) for where, h in group)
        elif key == "turkey":
            if tags["bird"] and not support[code]:
                replace.update(((where, h[0]), None) for where, h in group)
        else:  # names that are also first names: "Jordan", "Chad"
            persons = [
                (where, h)
                for where, h in group
                if not (where == "title" and title_case)  # every word is capitalised there
                and _looks_like_person(title if where == "title" else body, h)
            ]
            dropped = group if persons and not support[code] else persons
            replace.update(((where, h[0]), None) for where, h in dropped)
    if not replace:
        return title_hits, body_hits
    return _apply(title_hits, "title", replace), _apply(body_hits, "body", replace)


def _apply(hits: list[Hit], where: str, replace: dict[tuple[str, int], Entry | None]) -> list[Hit]:
    out: list[Hit] = []
    for h in hits:
        if (where, h[0]) in replace:
            entry = replace[(where, h[0])]
            if entry is not None:
                out.append((h[0], h[1], entry))
        else:
            out.append(h)
    return out
