"""The fingerprint's numeric core, compiled: words, shingles, both MinHash signatures and the facts.

One pass per article over its normalised bytes does what took some twenty numpy calls, each making
a temporary the size of the batch (the word hash alone an 8-byte product per byte, ~1.2 MB for 64
articles, more than L2 holds) plus ~1 ms of fixed cost per call: a whole fingerprint went from ~47 to
~31 us per 3 KB article in batches of 64 (the kernel's share ~14 us) and from ~1 ms to ~30 us alone.
Compiled by numba on first import and cached next to this file (``NUMBA_CACHE_DIR`` moves the cache;
with no writable place at all it compiles per process); nothing is downloaded.

The arithmetic is exactly that of the reference definitions in :mod:`fingerprints` (polynomial word
hash, shingles as linear combinations finalised by splitmix64, one-permutation MinHash with rotation
densification), so signatures are the same as the numpy implementation they replace and stored state
stays valid; ``tests/unit/test_dedup_kernel.py`` checks it against a pure-Python oracle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streams.domain.jit import compiled

POLY = np.uint64(0x100000001B3)
K = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], dtype=np.uint64
)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
DENSIFY = np.uint64(0x9FB21C651E98DF25)
EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
#: Stopword tables come with a bitmap of their hashes' top ``64 - FILTER_SHIFT`` bits (4 KiB, stays in
#: L1): it rules out nearly every word before the branchy binary search.
FILTER_SHIFT = np.uint64(52)


def _word_bytes() -> np.ndarray[Any, np.dtype[np.uint8]]:
    table = np.zeros(256, np.uint8)
    for c in range(256):
        if 48 <= c <= 57 or 97 <= c <= 122 or c >= 128:
            table[c] = c
        elif 65 <= c <= 90:
            table[c] = c + 32
    return table


#: Bytes that belong to words: ASCII digits and letters (upper mapped to lower) and every non-ASCII
#: byte (UTF-8 letters left after the Unicode path of ``fingerprints``); everything else becomes 0, a
#: separator. Applied here, per byte as the words are hashed, rather than by a ``bytes.translate`` of
#: the text first: that pass and its copy cost more than the lookup. Idempotent, so an already
#: mapped buffer hashes the same.
WORD_BYTES = _word_bytes()


@compiled(inline="always")
def _mix(x: Any) -> Any:
    x ^= x >> _S30
    x *= MIX1
    x ^= x >> _S27
    x *= MIX2
    x ^= x >> _S31
    return x


@compiled(inline="always")
def _contains(table: Any, value: Any) -> bool:
    lo, hi = 0, table.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if table[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return bool(lo < table.size and table[lo] == value)


@compiled()
def _densify(sig: Any, empty: Any) -> None:
    """An empty bin borrows the next non-empty bin's value circularly, plus distance x constant.

    One backward pass around the circle from a filled bin, so linear in ``k`` however few bins a
    (short or hostile) text fills; filled bins are never written, so borrowed values are originals.
    """
    k = sig.size
    first = -1
    for j in range(k):
        if not empty[j]:
            first = j
            break
    if first < 0:
        return
    nxt = first + k  # unwrapped index of the nearest filled bin after the one being visited
    for t in range(first + k - 1, first - 1, -1):
        j = t % k
        if empty[j]:
            sig[j] = sig[nxt % k] + np.uint64(nxt - t) * DENSIFY
        else:
            nxt = t


@compiled(inline="always")
def _is_capital_or_digit(byte: Any) -> bool:
    return bool(65 <= byte <= 90 or 48 <= byte <= 57)


@compiled()
def _hash_words(buf: Any, i: int, end: int, words: Any, wstart: Any, wlen: Any, nw: int) -> int:
    """Appends the words of ``buf[i:end]`` (runs of word bytes, mapped by ``WORD_BYTES`` and hashed
    as ``sum(byte[j] * POLY**j)``) at ``nw``; returns the new count.

    Indexes are cast to unsigned: for a signed one numba emits a negative-index wraparound on every
    access, three more instructions for each byte of the text (measured -7% of the kernel's)."""
    while i < end:
        c = WORD_BYTES[buf[np.uintp(i)]]
        if c == 0:
            i += 1
            continue
        s = i
        h = np.uint64(0)
        p = np.uint64(1)
        while c != 0:
            h += np.uint64(c) * p
            p *= POLY
            i += 1
            if i == end:
                break
            c = WORD_BYTES[buf[np.uintp(i)]]
        at = np.uintp(nw)
        words[at] = h
        wstart[at] = s
        wlen[at] = i - s
        nw += 1
    return nw


@compiled(inline="always")
def _keep_fact(kept_hash: Any, kept_len: Any, kept: int, word: Any, length: int) -> int:
    """Insert a candidate fact into the best ``kept_hash.size`` so far, sorted longest (most specific)
    first, ties by hash, each word once; returns how many are kept. A top-k by insertion: the
    candidates of an article are a few dozen, and sorting them all cost more."""
    for q in range(kept):
        if kept_hash[q] == word:
            return kept
    q = kept
    while q > 0 and (length > kept_len[q - 1] or (length == kept_len[q - 1] and word < kept_hash[q - 1])):
        q -= 1
    size = kept_hash.size
    if q >= size:
        return kept
    last = kept if kept < size else size - 1
    for r in range(last, q, -1):
        kept_hash[r] = kept_hash[r - 1]
        kept_len[r] = kept_len[r - 1]
    kept_hash[q] = word
    kept_len[q] = length
    return kept + 1 if kept < size else kept


@compiled()
def word_hashes(buf: Any) -> Any:
    """Hash of every word of ``buf``."""
    cap = buf.size // 2 + 1
    words = np.empty(cap, np.uint64)
    nw = _hash_words(buf, 0, buf.size, words, np.empty(cap, np.int64), np.empty(cap, np.int64), 0)
    return words[:nw]


@compiled()
def fingerprint_batch(
    buf: Any,
    cased: Any,
    bounds: Any,
    fact_limits: Any,
    k: int,
    kw: int,
    size: int,
    max_facts: int,
    min_salient_len: int,
    stop: Any,
    stop_filter: Any,
    fact_stop: Any,
    fact_stop_filter: Any,
    shift: int,
    wshift: int,
) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
    """Articles are ``buf[bounds[a]:bounds[a + 1]]``, their words' capitals and digits where ``cased``
    (aligned with ``buf``, often the same array) has them, bins picked by a hash's top bits
    (``shift = 64 - log2(k)``); returns word hashes and per article: end of its word range, shingle
    signature (k), salient-word signature (kw, low 32 bits), salient word count, facts (max_facts,
    longest first) and fact count."""
    n = bounds.size - 1
    cap = buf.size // 2 + 1
    words = np.empty(cap, np.uint64)
    wstart = np.empty(cap, np.int64)
    wlen = np.empty(cap, np.int64)
    word_end = np.empty(n, np.int64)
    sigs = np.full((n, k), EMPTY, np.uint64)
    wsigs64 = np.full((n, kw), EMPTY, np.uint64)
    n_salient = np.zeros(n, np.int64)
    facts = np.zeros((n, max_facts), np.uint64)
    n_facts = np.zeros(n, np.int64)
    empty = np.empty(k, np.bool_)
    wempty = np.empty(kw, np.bool_)
    fact_len = np.empty(max_facts, np.int64)
    bin_shift, word_bin_shift = np.uint64(shift), np.uint64(wshift)
    nw = 0
    for a in range(n):
        beg = nw
        nw = _hash_words(buf, bounds[a], bounds[a + 1], words, wstart, wlen, nw)
        word_end[a] = nw
        c = nw - beg
        if c == 0:
            continue

        sig = sigs[a]
        span = size if c >= size else c  # a text shorter than a shingle is one shingle of all its words
        for p0 in range(beg, nw - span + 1):
            at = np.uintp(p0)  # unsigned: see _hash_words
            x = words[at] * K[0]
            for j in range(1, span):
                x += words[at + np.uintp(j)] * K[j & 3]
            x = _mix(x)
            b = x >> bin_shift
            sig[b] = min(sig[b], x)  # a store, not a branch: which bin falls is unpredictable
        for j in range(k):
            empty[j] = sig[j] == EMPTY
        _densify(sig, empty)

        wsig = wsigs64[a]
        m = 0
        kept = 0
        for w_ in range(beg, nw):
            w = np.uintp(w_)
            word = words[w]
            start = np.uintp(wstart[w])
            top = word >> FILTER_SHIFT
            first = buf[start]
            if (wlen[w] >= min_salient_len or 48 <= first <= 57) and not (
                stop_filter[top] and _contains(stop, word)
            ):
                x = _mix(word * K[3])
                b = x >> word_bin_shift
                wsig[b] = min(wsig[b], x)
                m += 1
            if (
                wstart[w] - bounds[a] < fact_limits[a]  # the lead only: a predictable test first
                and _is_capital_or_digit(cased[start])
                and not (fact_stop_filter[top] and _contains(fact_stop, word))
            ):
                kept = _keep_fact(facts[a], fact_len, kept, word, wlen[w])
        n_salient[a] = m
        if m:
            for j in range(kw):
                wempty[j] = wsig[j] == EMPTY
            _densify(wsig, wempty)
        n_facts[a] = kept
    return words[:nw], word_end, sigs, wsigs64.astype(np.uint32), n_salient, facts, n_facts


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@compiled()
def hex_rows(values: Any, template: Any, starts: Any) -> Any:
    """Row ``i`` is ``template`` with the little-endian bytes of ``values[i, j]`` spelled in hex (as
    ``bytes.hex()`` spells them) at ``starts[j]``; rows are concatenated. The band and fact keys of a
    batch, built in one pass instead of five numpy calls and their temporaries."""
    n, m = values.shape
    width = template.size
    out = np.empty(n * width, np.uint8)
    for i in range(n):
        row = i * width
        out[row : row + width] = template
        for j in range(m):
            v = values[i, j]
            at = row + starts[j]
            for b in range(8):
                byte = (v >> np.uint64(8 * b)) & np.uint64(0xFF)
                out[at + 2 * b] = _HEX[byte >> np.uint64(4)]
                out[at + 2 * b + 1] = _HEX[byte & np.uint64(15)]
    return out
