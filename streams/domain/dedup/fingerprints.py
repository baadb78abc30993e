"""Content fingerprints: a hash of the normalised text plus a MinHash signature of its word shingles.

Words are hashed with a polynomial hash of their bytes; shingle hashes are linear combinations of
word hashes, finalised with the splitmix64 mixer. The signature is a *one-permutation* MinHash
(Li, Owen & Zhang 2012) with rotation densification (Shrivastava & Li 2014): one hash per shingle
split into ``num_perm`` bins by its top bits, the bin minimum being the signature entry. It
estimates Jaccard like ``num_perm`` independent permutations at the cost of one pass. The numeric
work runs compiled, one batch per call (:mod:`kernel`); this module normalises the text around it
and turns the arrays into what the story index stores.

Every constant here and in :mod:`kernel` is part of the stored state format: changing one
invalidates saved signatures.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import xxhash

from streams.domain.dedup import kernel
from streams.domain.dedup.config import DedupConfig
from streams.domain.model import Article

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
U16 = npt.NDArray[np.uint16]

_TRANSLATE: Final = kernel.WORD_BYTES.tobytes()  # the kernel's byte map, for the reference buffers
_CAPS: Final = bytes(1 if 65 <= c <= 90 or 48 <= c <= 57 else 0 for c in range(256))

_K: Final = tuple(kernel.K)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
_MAX_BATCH: Final = 256  # articles per kernel call: bounds its scratch arrays
_LE_U16: Final = np.dtype("<u2")
_LE_U64: Final = np.dtype("<u8")

_MONTH_STARTS: Final = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_MONTH_NAMES: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
#: Day-of-year offset by month spelling: full names, 3-letter forms and "sept" ("Sept. 3").
_MONTHS: Final = {n: o for name, o in zip(_MONTH_NAMES, _MONTH_STARTS, strict=True) for n in (name, name[:3])}
_MONTHS["sept"] = _MONTHS["sep"]
# Days are found by a literal-led regex (fast in CPython's re); the month is the word next to them.
_DAY_RE: Final = re.compile(r" (\d\d?)\b")


@dataclass(slots=True, frozen=True, eq=False, init=False)
class Fingerprint:
    """What the story index needs to know about an article; pure function of the article and config."""

    #: xxh3-128 (hex) of the normalised word sequence: equal for re-sends that differ in case,
    #: punctuation, whitespace or Unicode form.
    content_hash: str
    #: One-permutation MinHash of the word shingles; None when the text has no words.
    signature: U64 | None
    #: Store keys of the LSH bands, ``b:<band>:<hash>``; empty when there is no signature.
    band_keys: tuple[str, ...]
    #: ``published_at`` as epoch seconds, when present and parseable.
    published: float | None
    #: Day-of-year of the dates in title and dateline ("SEOUL, April 15"), for the date veto.
    lead_dates: tuple[int, ...]
    #: Number of shingles hashed (for metrics and tests).
    shingles: int
    #: One-permutation MinHash (low 32 bits) of the set of salient words; None without any.
    word_signature: U32 | None
    #: Names and numbers of title and lead (see :func:`facts`); empty when there is no signature.
    facts: tuple[str, ...]
    #: What the story index keeps of the signatures (:func:`stored_signatures`); empty without one.
    stored: bytes

    # Written out, not generated: mypyc compiles this one (streams/native.py), 4-5x faster.
    def __init__(
        self,
        content_hash: str,
        signature: U64 | None,
        band_keys: tuple[str, ...],
        published: float | None,
        lead_dates: tuple[int, ...],
        shingles: int,
        word_signature: U32 | None,
        facts: tuple[str, ...],
        stored: bytes,
    ) -> None:
        object.__setattr__(self, "content_hash", content_hash)
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "band_keys", band_keys)
        object.__setattr__(self, "published", published)
        object.__setattr__(self, "lead_dates", lead_dates)
        object.__setattr__(self, "shingles", shingles)
        object.__setattr__(self, "word_signature", word_signature)
        object.__setattr__(self, "facts", facts)
        object.__setattr__(self, "stored", stored)


def normalise(title: str, body: str) -> bytes:
    """NFKC, lower case, every run of non-word characters a single space: the text exact hashes see."""
    return b" ".join(filter(None, _word_buffer(title, body).split(b"\0")))


def _word_buffer(title: str, body: str) -> bytes:
    """Normalised UTF-8 bytes with separators as NUL, padded by a NUL at both ends."""
    return _buffers(title, body)[0]


def _buffers(title: str, body: str) -> tuple[bytes, bytes]:
    """:func:`_word_buffer` and, byte for byte, 1 where the text has a capital or a digit: what the
    kernel sees, spelled out (the kernel maps the bytes of :func:`_text_bytes` itself)."""
    text, cased = _text_bytes(title, body)
    return text.translate(_TRANSLATE), cased.translate(_CAPS)


def _text_bytes(title: str, body: str) -> tuple[bytes, bytes]:
    """The UTF-8 bytes whose words the kernel hashes (padded by a separator at both ends), and bytes
    aligned with them whose capitals and digits mark fact candidates; for ASCII text, the same object."""
    text = f" {title}\n{body} "
    if text.isascii():  # ASCII is already NFKC; skip the slower Unicode path
        raw = text.encode()
        return raw, raw
    # The non-ASCII characters, found by deleting the ASCII bytes of the UTF-8: cheaper than a set
    # of every character.
    others = text.encode().translate(None, _ASCII_BYTES).decode()
    # is_normalized looks every character up (~75k instructions on a 3 KB body, a fifth of
    # the fingerprint of curly-quoted copy); text whose non-ASCII characters are all NFKC-stable
    # starters is NFKC, so those characters alone need a look.
    if not _NFKC_STABLE.issuperset(others) and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        others = text.encode().translate(None, _ASCII_BYTES).decode()
    cased = _spaced_non_word(text, others)
    caps = cased.encode("utf-8")
    if others.lower() == others:
        # No non-ASCII capital (curly quotes and dashes, the usual case): the kernel lowercases ASCII
        # itself (WORD_BYTES), so the text is its own case buffer, as ASCII text is.
        return caps, caps
    lower = cased.lower().encode("utf-8")
    # Lower-casing can change a text's length (rarely): then it names no facts.
    return lower, caps if len(caps) == len(lower) else bytes(len(lower))


def _spaced_non_word(text: str, others: str) -> str:
    """``text`` with every non-ASCII character that is no word character (``[\\W_]``: curly quotes,
    dashes, no-break spaces) as a space; ASCII separators are left to the byte tables. ``others``: the
    text's non-ASCII characters (its caller has them already).

    Same words as ``re.sub(r"[\\W_]+", " ", text)``, ~15x faster on wire copy: its non-ASCII characters
    are few and few distinct, so each is tested once.
    """
    separators = [ch for ch in set(others) if not ch.isalnum()]
    if len(separators) > _MAX_REPLACES:  # hostile or exotic text: one linear pass, whatever the count
        return text.translate(dict.fromkeys(map(ord, separators), " "))
    for ch in separators:
        text = text.replace(ch, " ")
    return text


_ASCII_BYTES: Final = bytes(range(128))


def _nfkc_stable_starters() -> frozenset[str]:
    """Characters of Latin-1, Latin Extended-A/B, general punctuation, currency signs and U+FFFD that
    NFKC leaves alone and that are starters (combining class 0). No character of these blocks is the
    second of a canonical composition pair (those are combining marks, Hangul jamo and a few Indic
    vowel signs), so each has NFKC_QC=Yes: a text made of ASCII and these is NFKC, character by
    character. The curly quotes, dashes and accented letters of wire copy are here; "…" and the
    no-break space are not (NFKC turns them into "..." and " ")."""
    blocks = (range(0xA0, 0x250), range(0x2010, 0x205F), range(0x20A0, 0x20C1), range(0xFFFD, 0xFFFE))
    return frozenset(
        ch
        for block in blocks
        for ch in map(chr, block)
        if unicodedata.combining(ch) == 0 and unicodedata.normalize("NFKC", ch) == ch
    )


_NFKC_STABLE: Final = _nfkc_stable_starters()

#: Up to this many distinct separators, one ``str.replace`` each beats a ``translate`` of the whole text.
_MAX_REPLACES: Final = 16


def _word_hashes(buf: bytes) -> U64:
    """Hash of every word of a normalised buffer (separators 0), as the kernel computes them."""
    return kernel.word_hashes(np.frombuffer(buf, dtype=np.uint8))  # type: ignore[no-any-return]


# Salient words, for the second signal: words of 5+ letters or starting with a digit (short words
# are overwhelmingly function and high-frequency words: Zipf's law of abbreviation), minus the
# long function words and wire boilerplate below.
_LONG_STOPWORDS: Final = (
    "about above according added adding after again against along already although among another "
    "around because before being below between could during early earlier first further having "
    "including itself later least local might months never other others people place previous "
    "reported reporters reporting saying since should statement still their there these those "
    "three through under until where which while would years yesterday monday tuesday wednesday "
    "thursday friday saturday sunday reuters editing writing"
)
_STOP_HASHES: U64 = np.unique(_word_hashes(b"\0" + _LONG_STOPWORDS.replace(" ", "\0").encode() + b"\0"))
_MIN_SALIENT_LEN: Final = 5
# Facts: words of title and lead that start with a capital or a digit ("80", "Aden", "UKMTO",
# "Liberian" of "Liberian-flagged"), minus sentence starters; identified by their word hash.
_FACT_STOPWORDS: Final = (
    "a an and as at but by for from he her his in it its of on or she the their they this to we "
    "after about more north south east west new s"
)
_FACT_STOP_HASHES: U64 = np.unique(_word_hashes(b"\0" + _FACT_STOPWORDS.replace(" ", "\0").encode() + b"\0"))


def _filter(table: U64) -> npt.NDArray[np.bool_]:
    bitmap = np.zeros(1 << (64 - int(kernel.FILTER_SHIFT)), dtype=np.bool_)
    bitmap[(table >> kernel.FILTER_SHIFT).astype(np.intp)] = True
    return bitmap


_STOP_FILTER: Final = _filter(_STOP_HASHES)
_FACT_STOP_FILTER: Final = _filter(_FACT_STOP_HASHES)


def _mix(x: U64) -> U64:
    """splitmix64 finaliser, in place (numpy form of the kernel's, for :func:`_combine`)."""
    x ^= x >> _S30
    x *= kernel.MIX1
    x ^= x >> _S27
    x *= kernel.MIX2
    x ^= x >> _S31
    return x


def _combine(words: U64, size: int) -> U64:
    """Hash of every run of ``size`` consecutive words: the kernel's shingles, as a numpy reference
    for tests and tuning scripts."""
    n = words.size - size + 1
    x = words[:n] * _K[0]
    for j in range(1, size):
        x += words[j : j + n] * _K[j % len(_K)]
    return _mix(x)


@functools.cache
def _bin_shift(num_perm: int) -> int:
    """A hash's bin is its top ``log2(num_perm)`` bits."""
    return 64 - (num_perm.bit_length() - 1)


@functools.cache
def _band_prefixes(bands: int) -> tuple[str, ...]:
    return tuple(f"b:{i}:" for i in range(bands))


def _band_hashes(signatures: npt.NDArray[np.uint64] | npt.NDArray[np.uint32], bands: int, n_rows: int) -> U64:
    """Per row, one hash per band of the first ``bands * n_rows`` entries."""
    # Signature entries are already well-mixed hashes: a multiply-add chain combines a band's rows.
    rows = signatures[:, : bands * n_rows].reshape(signatures.shape[0], bands, n_rows).astype(np.uint64)
    acc = rows[:, :, 0].copy()
    for r in range(1, n_rows):
        acc *= _K[r % len(_K)]
        acc += rows[:, :, r]
    return acc


def band_keys_of_hashes(hashes: U64, bands: int) -> list[tuple[str, ...]]:
    """The band keys of every row of ``bands`` band hashes (as :func:`stored_signatures` keeps them)."""
    flat = _lines(hashes, _band_prefixes(bands))
    return [tuple(flat[i : i + bands]) for i in range(0, len(flat), bands)]


#: Bytes per signature entry as stored. An entry is a well-mixed 64-bit hash, so its low 16 bits are
#: equal for two unequal entries with probability 2^-16: the Jaccard estimate moves by under 0.0001
#: (b-bit MinHash, Li & König 2010), where the 8-byte entries were 2/3 of the journal an article.
STORED_BIN_BYTES: Final = _LE_U16.itemsize


def stored_signatures(sigs: U64, hashes: U64, wsigs: U32) -> tuple[bytes, int]:
    """Per row, the low 16 bits of each shingle signature entry (little-endian), then its band hashes
    (uint64, from which expiry rebuilds the band keys), then the low 16 bits of each salient-word
    signature entry: rows concatenated, and the row width. One pass of numpy over a batch."""
    n, k = sigs.shape
    b, kw = hashes.shape[1], wsigs.shape[1]
    at_bands, at_words = STORED_BIN_BYTES * k, STORED_BIN_BYTES * k + 8 * b
    rows = np.empty((n, at_words + STORED_BIN_BYTES * kw), dtype=np.uint8)
    rows[:, :at_bands] = sigs.astype(_LE_U16).view(np.uint8)
    rows[:, at_bands:at_words] = hashes.astype(_LE_U64, copy=False).view(np.uint8)
    rows[:, at_words:] = wsigs.astype(_LE_U16).view(np.uint8)
    return rows.tobytes(), rows.shape[1]


def band_keys(signature: U64, cfg: DedupConfig) -> tuple[str, ...]:
    """LSH band keys ``b:<band>:<hash>`` from the first ``bands * rows`` signature entries."""
    return band_keys_many(signature.reshape(1, -1), cfg)[0]


def band_keys_many(signatures: U64, cfg: DedupConfig) -> list[tuple[str, ...]]:
    """:func:`band_keys` of every row of a 2-D array, in one pass."""
    return band_keys_of_hashes(_band_hashes(signatures, cfg.bands, cfg.rows), cfg.bands)


def parse_published(value: str | None) -> float | None:
    """ISO 8601 to epoch seconds; naive times are UTC; unparseable values are ignored, not fatal."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def lead_dates(title: str, body: str, lead_chars: int) -> tuple[int, ...]:
    """Approximate day-of-year of "April 15" / "15 April" dates in the title and dateline."""
    found: set[int] = set()
    lead = f"{title}\n{body[:lead_chars]}".lower()
    for m in _DAY_RE.finditer(lead):
        day = int(m.group(1))
        if not 1 <= day <= 31:
            continue
        before = lead[max(0, m.start() - 10) : m.start()].rsplit(None, 1)  # "April 15", "Sept. 3"
        offset = _MONTHS.get(before[-1].removesuffix(".")) if before else None
        if offset is None:
            after = lead[m.end() : m.end() + 10].split(None, 1)  # "15 April,"
            offset = _MONTHS.get(after[0].rstrip(".,")) if after else None
        if offset is not None:
            found.add(offset + day)
    return tuple(sorted(found))


def fingerprint(article: Article, cfg: DedupConfig) -> Fingerprint:
    """Fingerprint one article; pure (no state), so it can run anywhere, e.g. before re-keying."""
    return _fingerprint_batch([article], cfg)[0]


def fingerprint_many(articles: Iterable[Article], cfg: DedupConfig) -> list[Fingerprint]:
    """Fingerprint a batch with one kernel call per 256 articles: the call's fixed costs are shared.

    Results are identical to :func:`fingerprint` (which is a batch of one).
    """
    batch = list(articles)
    out: list[Fingerprint] = []
    for i in range(0, len(batch), _MAX_BATCH):
        out.extend(_fingerprint_batch(batch[i : i + _MAX_BATCH], cfg))
    return out


def estimate_jaccard(a: U64 | U32, b: U64 | U32) -> float:
    """Fraction of equal signature entries: the MinHash estimate of the shingle-set Jaccard."""
    return float(np.count_nonzero(a == b)) / a.size


def _fingerprint_batch(articles: list[Article], cfg: DedupConfig) -> list[Fingerprint]:
    texts = [_text_bytes(a.title, a.body) for a in articles]
    buf = b"".join([t for t, _ in texts])
    # ASCII articles are their own case buffer: join a second buffer only for a batch that needs it.
    cased = buf if all(t is c for t, c in texts) else b"".join([c for _, c in texts])
    bounds = np.zeros(len(articles) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(t) for t, _ in texts])
    limits = np.array([len(a.title) + 2 + cfg.fact_chars for a in articles], dtype=np.int64)
    data = np.frombuffer(buf, dtype=np.uint8)
    words, word_end, sigs, wsigs, n_salient, facts, n_facts = kernel.fingerprint_batch(
        data,
        data if cased is buf else np.frombuffer(cased, dtype=np.uint8),
        bounds,
        limits,
        cfg.num_perm,
        cfg.word_perm,
        cfg.shingle_size,
        cfg.max_facts,
        _MIN_SALIENT_LEN,
        _STOP_HASHES,
        _STOP_FILTER,
        _FACT_STOP_HASHES,
        _FACT_STOP_FILTER,
        _bin_shift(cfg.num_perm),
        _bin_shift(cfg.word_perm),
    )
    bands = cfg.bands
    hashes = _band_hashes(sigs, bands, cfg.rows)
    keys = _lines(hashes, _band_prefixes(bands))
    stored, width = stored_signatures(sigs, hashes, wsigs)
    no_words = width - STORED_BIN_BYTES * cfg.word_perm  # a row without its salient-word part
    fact_hex = _lines(facts, ("",) * cfg.max_facts)
    ends = word_end.tolist()
    salient = n_salient.tolist()
    found_n = n_facts.tolist()
    size = cfg.shingle_size
    f_width = cfg.max_facts
    out = []
    beg = 0
    for i, a in enumerate(articles):
        end = ends[i]
        content_hash = xxhash.xxh3_128_hexdigest(words[beg:end].tobytes())
        published = parse_published(a.published_at)
        dates = lead_dates(a.title, a.body, cfg.lead_chars)
        count = end - beg
        beg = end
        if count == 0:
            out.append(Fingerprint(content_hash, None, (), published, dates, 0, None, (), b""))
            continue
        article_keys = tuple(keys[i * bands : (i + 1) * bands])
        row = i * width
        if salient[i]:
            wsig: U32 | None = wsigs[i]
            found = tuple(fact_hex[i * f_width : i * f_width + found_n[i]])
            kept = stored[row : row + width]
        else:
            wsig, found = None, ()
            kept = stored[row : row + no_words]
        n_sh = max(count - size + 1, 1)
        out.append(
            Fingerprint(content_hash, sigs[i], article_keys, published, dates, n_sh, wsig, found, kept)
        )
    return out


def _lines(values: U64, prefixes: tuple[str, ...]) -> list[str]:
    """``prefixes[j] + hex(values[i, j])`` for every row ``i`` and column ``j``, flat, row by row, the
    hex spelled as ``bytes.hex()`` spells the little-endian bytes.

    Built as one ASCII buffer that a single ``split`` cuts into strings: per key slicing and
    concatenating in Python cost ~3 us an article (measured) for the 16 band keys alone.
    """
    if not values.shape[0]:
        return []
    template, starts = _line_layout(prefixes)
    rows: npt.NDArray[np.uint8] = kernel.hex_rows(values, template, starts)
    return rows.tobytes().decode("ascii").split("\n")[:-1]


@functools.cache
def _line_layout(prefixes: tuple[str, ...]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """One row's bytes (``<prefix j><16 hex digits>\\n`` for each j, digits as placeholders) and where
    each value's digits start."""
    row = bytearray()
    starts: list[int] = []
    for prefix in prefixes:
        row += prefix.encode("ascii")
        starts.append(len(row))
        row += b"0" * 16 + b"\n"
    return np.frombuffer(bytes(row), dtype=np.uint8), np.array(starts, dtype=np.int64)


# Compile the kernel (or load it from numba's cache) at import, not in the first article's latency.
_fingerprint_batch([Article(id="warm-up", title="Warm up", body="Compiled at import time.")], DedupConfig())
