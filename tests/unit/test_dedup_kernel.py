"""The compiled fingerprint kernel against a pure-Python oracle written from the definitions.

The kernel replaced a numpy implementation and must keep its exact values (stored signatures and
band keys stay valid), so this checks every output bit for bit on arbitrary text, not just that
similar texts look similar.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.dedup import DedupConfig, fingerprint, fingerprint_many, kernel
from streams.domain.dedup import fingerprints as F
from streams.domain.model import Article

pytestmark = pytest.mark.unit

M64 = (1 << 64) - 1
POLY = int(kernel.POLY)
K = [int(k) for k in kernel.K]


def mix(x: int) -> int:
    x ^= x >> 30
    x = (x * int(kernel.MIX1)) & M64
    x ^= x >> 27
    x = (x * int(kernel.MIX2)) & M64
    return x ^ (x >> 31)


def word_hash(word: bytes) -> int:
    return sum(b * pow(POLY, j, 1 << 64) for j, b in enumerate(word)) & M64


def one_permutation(hashes: list[int], k: int) -> list[int] | None:
    if not hashes:
        return None
    bins: list[int | None] = [None] * k
    for h in hashes:
        b = h >> (64 - (k.bit_length() - 1))
        current = bins[b]
        bins[b] = h if current is None else min(current, h)
    out = []
    for j, value in enumerate(bins):
        if value is None:  # rotation densification: borrow the next filled bin, plus distance x constant
            d = next(d for d in range(1, k) if bins[(j + d) % k] is not None)
            value = (bins[(j + d) % k] + d * int(kernel.DENSIFY)) & M64  # type: ignore[operator]
        out.append(value)
    return out


def oracle(a: Article, cfg: DedupConfig) -> dict[str, object]:
    buf, caps = F._buffers(a.title, a.body)
    words: list[tuple[int, bytes]] = []  # (start offset, word)
    start = None
    for i, byte in enumerate(buf + b"\0"):
        if byte and start is None:
            start = i
        elif not byte and start is not None:
            words.append((start, buf[start:i]))
            start = None
    hashes = [word_hash(w) for _, w in words]
    span = min(cfg.shingle_size, len(hashes))
    shingles = (
        [mix(sum(hashes[p + j] * K[j % 4] for j in range(span)) & M64) for p in range(len(hashes) - span + 1)]
        if hashes
        else []
    )
    stop = set(F._LONG_STOPWORDS.encode().split())
    salient = [
        mix((h * K[3]) & M64)
        for (_, w), h in zip(words, hashes, strict=True)
        if (len(w) >= 5 or 48 <= w[0] <= 57) and w not in stop
    ]
    word_sig = one_permutation(salient, cfg.word_perm)
    fact_stop = set(F._FACT_STOPWORDS.encode().split())
    limit = len(a.title) + 2 + cfg.fact_chars
    cands = sorted(
        {
            (-len(w), h)
            for (s, w), h in zip(words, hashes, strict=True)
            if caps[s] == 1 and s < limit and w not in fact_stop
        }
    )
    facts = tuple(h.to_bytes(8, "little").hex() for _, h in cands[: cfg.max_facts]) if word_sig else ()
    signature = one_permutation(shingles, cfg.num_perm)
    return {
        "content_hash": xxhash.xxh3_128_hexdigest(b"".join(h.to_bytes(8, "little") for h in hashes)),
        "signature": signature,
        "band_keys": () if signature is None else band_keys(signature, cfg),
        "word_signature": None if word_sig is None else [v & 0xFFFFFFFF for v in word_sig],
        "facts": facts,
        "shingles": len(shingles),
    }


def band_keys(signature: list[int], cfg: DedupConfig) -> tuple[str, ...]:
    """``b:<band>:<hash>``: a band's rows combined by a multiply-add chain, hex of its little-endian bytes."""
    keys = []
    for band in range(cfg.bands):
        rows = signature[band * cfg.rows : (band + 1) * cfg.rows]
        acc = rows[0]
        for r in range(1, cfg.rows):
            acc = (acc * K[r % 4] + rows[r]) & M64
        keys.append(f"b:{band}:{acc.to_bytes(8, 'little').hex()}")
    return tuple(keys)


def observed(fp: F.Fingerprint) -> dict[str, object]:
    return {
        "content_hash": fp.content_hash,
        "signature": None if fp.signature is None else fp.signature.tolist(),
        "band_keys": fp.band_keys,
        "word_signature": None if fp.word_signature is None else fp.word_signature.tolist(),
        "facts": fp.facts,
        "shingles": fp.shingles,
    }


# Wire-like words, digits, capitals, punctuation, non-ASCII letters and separators, stopwords.
WORDS = st.sampled_from(
    ["Seoul", "missile", "the", "launched", "North", "Korea's", "B-1B", "2026", "15", "about", "Reuters",
     "Zürich", "Ελλάδα", "北京", "“quoted”", "—", "\u00a0", "naïve", "KCNA", "s", "Aden", "attack", "\n"]
)  # fmt: skip
TEXT = st.lists(WORDS | st.text(max_size=8), max_size=120).map(" ".join)
CONFIGS = [DedupConfig(), DedupConfig(num_perm=16, word_perm=8, shingle_size=2, bands=4, rows=4, max_facts=2)]


@settings(max_examples=300, deadline=None)
@given(title=TEXT, body=TEXT, which=st.sampled_from([0, 1]))
def test_kernel_matches_the_definitions(title: str, body: str, which: int) -> None:
    cfg = CONFIGS[which]
    a = Article(id="x", title=title, body=body)
    fp = fingerprint(a, cfg)
    assert observed(fp) == oracle(a, cfg)
    if fp.signature is not None:
        # Expiry rebuilds the keys from the stored band hashes, or from a layout-2 record's signature.
        k, b = cfg.num_perm, cfg.bands
        stored = np.frombuffer(fp.stored, "<u8", b, 2 * k).reshape(1, b)
        assert F.band_keys_of_hashes(stored, b)[0] == fp.band_keys == F.band_keys(fp.signature, cfg)
        assert np.array_equal(np.frombuffer(fp.stored, "<u2", k), fp.signature & 0xFFFF)
        assert len(fp.stored) == 2 * k + 8 * b + (0 if fp.word_signature is None else 2 * cfg.word_perm)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=12))
def test_a_batch_is_its_articles_one_by_one(texts: list[tuple[str, str]]) -> None:
    """Articles share one kernel call and one buffer: none may see its neighbours' words."""
    cfg = DedupConfig()
    arts = [Article(id=str(i), title=t, body=b) for i, (t, b) in enumerate(texts)]
    assert [observed(fp) for fp in fingerprint_many(arts, cfg)] == [oracle(a, cfg) for a in arts]


def test_kernels_work_where_numba_cannot_cache() -> None:
    """A read-only image with no writable home leaves numba no cache location; it then raises at
    import unless the kernel falls back to compiling in memory. ``_ZipCacheLocator`` only serves
    zipped sources, so as the sole locator it reproduces that case."""
    import subprocess
    import sys

    code = (
        "from streams.domain.dedup import DedupConfig, fingerprint\n"
        "from streams.domain.model import Article\n"
        "from streams.domain.regions import RegionClassifier\n"
        "a = Article(id='a', title='Seoul', body='North Korea fired a missile')\n"
        "fp = fingerprint(a, DedupConfig())\n"
        "print(fp.shingles, RegionClassifier.default().classify(a).primary_country)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "_ZipCacheLocator"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "4 KR"  # both kernels ran (dedup; regions: "Seoul" in the title)
