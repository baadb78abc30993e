"""Story index: exact and near duplicates, vetoes, expiry, bounded state, restart recovery."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.domain.dedup import (
    DedupConfig,
    Fingerprint,
    StoryIndex,
    estimate_jaccard,
    fingerprint,
    fingerprint_many,
    normalise,
)
from streams.domain.dedup import fingerprints as F
from streams.domain.dedup.fingerprints import parse_published
from streams.domain.model import Article, DedupVerdict

pytestmark = pytest.mark.unit

PAIRS_FILE = Path(__file__).parents[1] / "data" / "dedup_pairs.jsonl"
CFG = DedupConfig()
T0 = 1_775_000_000.0


def load_pairs() -> list[dict[str, Any]]:
    with PAIRS_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


PAIRS = load_pairs()
#: Rewrites neither signal joins on their own; they join the story through a closer third article
#: (see test_chain_joins_story_through_closer_rewrite). Empty since the salient-word signal.
KNOWN_DIRECT_MISSES: set[str] = set()


def article(d: dict[str, Any]) -> Article:
    return Article(**d)


def offer(index: StoryIndex, a: Article, now: float) -> DedupVerdict:
    return index.offer(a, fingerprint(a, CFG), now=now)


def event_time(a: Article, default: float) -> float:
    published = parse_published(a.published_at)
    return default if published is None else published


# -- fixtures ---------------------------------------------------------------------------------


def test_fixture_file_is_big_and_balanced() -> None:
    assert len(PAIRS) >= 25
    assert sum(p["same_story"] for p in PAIRS) >= 10
    assert sum(not p["same_story"] for p in PAIRS) >= 8
    assert len({p["name"] for p in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize("pair", PAIRS, ids=[p["name"] for p in PAIRS])
def test_pair_verdict(pair: dict[str, Any]) -> None:
    a, b = article(pair["a"]), article(pair["b"])
    index = StoryIndex(CFG)
    first = offer(index, a, event_time(a, T0))
    second = offer(index, b, max(event_time(b, T0 + 60), event_time(a, T0)))
    assert first.method == "new"
    if a.id == b.id:  # a redelivery: the first verdict again
        assert second == first
    elif pair["name"] in KNOWN_DIRECT_MISSES:
        assert not second.is_duplicate
    else:
        assert second.is_duplicate == pair["same_story"], second
    if second.is_duplicate:
        assert second.story_id == a.id
        assert second.duplicate_of == a.id


def test_signature_estimate_tracks_true_jaccard() -> None:
    """MinHash error stays small on the fixtures (128 bins: sd ~0.04 at J = 0.3)."""
    from streams.domain.dedup.fingerprints import _combine, _word_buffer, _word_hashes

    def shingles(a: Article) -> set[int]:
        words = _word_hashes(_word_buffer(a.title, a.body))
        return set(_combine(words, CFG.shingle_size).tolist())

    for pair in PAIRS:
        a, b = article(pair["a"]), article(pair["b"])
        sa, sb = shingles(a), shingles(b)
        true = len(sa & sb) / len(sa | sb)
        fa, fb = fingerprint(a, CFG), fingerprint(b, CFG)
        assert fa.signature is not None and fb.signature is not None
        assert abs(estimate_jaccard(fa.signature, fb.signature) - true) < 0.1, pair["name"]


def test_same_template_stories_merge_without_the_vetoes() -> None:
    """Guards the vetoes' reason to exist: the template pairs do exceed the threshold on Jaccard."""
    pair = next(p for p in PAIRS if p["name"] == "nk_missile_launches_three_weeks_apart")
    fa, fb = fingerprint(article(pair["a"]), CFG), fingerprint(article(pair["b"]), CFG)
    assert fa.signature is not None and fb.signature is not None
    assert estimate_jaccard(fa.signature, fb.signature) >= CFG.threshold


# -- exact ------------------------------------------------------------------------------------


def test_normalise_folds_case_punctuation_whitespace_and_unicode_forms() -> None:
    assert normalise("North  Korea’s LAUNCH!", "Ｂ-１Ｂ\n\nbombers…") == b"north korea s launch b 1b bombers"
    assert normalise("", "") == b""


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), st.text(max_size=60))
def test_normalise_splits_words_exactly_like_the_unicode_word_regex(title: str, body: str) -> None:
    """The per-character fast path must find the words ``[\\W_]+`` separates, for any text."""
    import unicodedata

    text = unicodedata.normalize("NFKC", f" {title}\n{body} ")
    expected = re.sub(r"[\W_]+", " ", text).lower().encode()
    # The byte tables fold ASCII only and keep every non-ASCII byte: reproduce that on the regex side.
    ascii_folded = bytes(c if c >= 128 or chr(c).isalnum() else 32 for c in range(256))
    assert normalise(title, body) == b" ".join(expected.translate(ascii_folded).split())


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("aZ1 .-\u2019\u2014\u00e9\u00c9\u0130\u00d6\u212a\u00a0\u24b6\u2026e\u0301"),
        max_size=40,
    ),
    st.text(max_size=40),
)
@example("\u00e9t\u00e9 LAUNCH \u2014 \u201cdrills\u201d", "Seoul\u2019s")  # no non-ASCII capital
@example("\u00c9T\u00c9", "\u0130stanbul")  # non-ASCII capitals; "\u0130" lowercases to two code points
def test_kernel_buffers_are_those_of_the_lowercased_text(title: str, body: str) -> None:
    """Text whose non-ASCII characters have no case goes to the kernel as it is (the kernel lowercases
    ASCII itself): the words and the capitals the kernel sees are those of lowercasing first.

    No capital sigma here: mypyc's ``str.lower`` has no final-sigma rule ("AΣ" gives "aσ" compiled,
    "aς" interpreted), so the compiled build and this interpreted reference differ on it, before and
    after the fast path alike."""
    import unicodedata

    text = unicodedata.normalize("NFKC", f" {title}\n{body} ")
    cased = re.sub(r"[^\x00-\x7f]", lambda m: m[0] if m[0].isalnum() else " ", text)
    lower, caps = cased.lower().encode(), cased.encode()
    if len(caps) != len(lower):
        caps = bytes(len(lower))
    assert F._buffers(title, body) == (lower.translate(F._TRANSLATE), caps.translate(F._CAPS))


def test_nfkc_stable_starters_compose_with_nothing() -> None:
    """The characters whose text skips ``is_normalized``: NFKC leaves each alone, each is a starter,
    and none is the second character of a canonical composition (which a preceding character could
    absorb), per this interpreter's Unicode database."""
    import sys
    import unicodedata

    seconds = set()
    for code in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            seconds.add(chr(int(decomposition.split()[1], 16)))
    assert seconds and not F._NFKC_STABLE & seconds
    assert all(
        unicodedata.combining(c) == 0 and unicodedata.normalize("NFKC", c) == c for c in F._NFKC_STABLE
    )
    assert set("\u2018\u2019\u201c\u201d\u2013\u2014\u00e9\u00c9\u20ac\ufffd") <= F._NFKC_STABLE
    assert not {"\u2026", "\u00a0"} & F._NFKC_STABLE  # NFKC: "..." and " "


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(F._NFKC_STABLE) + list("aZ9 .\n")), max_size=40))
def test_text_of_ascii_and_stable_starters_is_nfkc(text: str) -> None:
    import unicodedata

    assert unicodedata.is_normalized("NFKC", text)


def test_exact_duplicate_of_a_near_duplicate_points_to_the_story() -> None:
    pair = next(p for p in PAIRS if p["name"] == "nk_missile_yonhap_vs_upi")
    a, b = article(pair["a"]), article(pair["b"])
    index = StoryIndex(CFG)
    offer(index, a, T0)
    offer(index, b, T0 + 10)
    c = dataclasses.replace(b, id="resend-of-b", title=b.title.upper())
    v = offer(index, c, T0 + 20)
    assert v == DedupVerdict(story_id=a.id, duplicate_of=b.id, similarity=1.0, method="exact")


def test_empty_articles_never_near_match() -> None:
    index = StoryIndex(CFG)
    e1, e2 = Article(id="e1", title="", body=""), Article(id="e2", title="!!", body="...")
    assert fingerprint(e1, CFG).signature is None
    assert offer(index, e1, T0).method == "new"
    assert offer(index, e2, T0).method == "exact"  # same (empty) normalised text


def test_short_articles_get_signatures() -> None:
    fp = fingerprint(Article(id="s", title="Flash", body="Quake"), CFG)
    assert fp.signature is not None and fp.shingles == 1
    assert len(fp.band_keys) == CFG.bands and fp.word_signature is not None


# -- stories, redelivery ----------------------------------------------------------------------


def test_chain_joins_story_through_closer_rewrite() -> None:
    """Yonhap first; UPI near it (0.34); Reuters is 0.27 from Yonhap: all one story, id of Yonhap."""
    by_id = {p["a"]["id"]: p["a"] for p in PAIRS} | {p["b"]["id"]: p["b"] for p in PAIRS}
    yonhap, upi, reuters = (
        article(by_id[i]) for i in ("yna-20260303-0042", "upi-20260304-nk-srbm", "reu-20260304-nk-missile")
    )
    index = StoryIndex(CFG)
    assert offer(index, yonhap, T0).method == "new"
    v_upi = offer(index, upi, T0 + 60)
    v_reu = offer(index, reuters, T0 + 120)
    assert v_upi.story_id == yonhap.id and v_upi.method == "near"
    assert v_reu.story_id == yonhap.id and v_reu.method == "near"


def test_story_id_follows_chains_to_the_first_article() -> None:
    base = article(next(p for p in PAIRS if p["name"] == "turkey_quake_update1_toll")["a"])
    index = StoryIndex(CFG)
    offer(index, base, T0)
    prev = base
    for i in range(5):  # each update rewrites the previous one a little more
        body = prev.body.replace("at least", f"at least {i} more than", 1) + f"\n\nNew paragraph {i} here."
        nxt = dataclasses.replace(prev, id=f"upd-{i}", body=body)
        v = offer(index, nxt, T0 + 60 * (i + 1))
        assert v.story_id == base.id and v.duplicate_of is not None
        prev = nxt


def test_redelivery_returns_first_verdict_and_writes_nothing() -> None:
    pair = next(p for p in PAIRS if p["name"] == "sudan_market_reuters_vs_ap")
    a, b = article(pair["a"]), article(pair["b"])
    index = StoryIndex(CFG)
    va, vb = offer(index, a, T0), offer(index, b, T0 + 5)
    before = dict(index.store)
    assert offer(index, a, T0 + 50) == va  # still "new": not a duplicate of itself
    assert offer(index, b, T0 + 60) == vb
    assert dict(index.store) == before
    assert index.size == 2
    assert index.verdict_of(b.id) == vb


def test_ids_with_newlines_are_rejected() -> None:
    with pytest.raises(ValueError, match="newline"):
        offer(StoryIndex(CFG), Article(id="a\nb", title="t", body="b"), T0)


# -- expiry, bounded state, restart -----------------------------------------------------------


def test_expiry_drops_state_and_old_story_restarts() -> None:
    a = article(PAIRS[0]["a"])
    index = StoryIndex(CFG)
    offer(index, a, T0)
    assert index.size == 1
    assert index.expire(T0 + CFG.window_seconds - 1) == 0
    dropped = index.expire(T0 + CFG.window_seconds + CFG.bucket_seconds + 1)
    assert dropped == 1 and index.size == 0
    assert set(index.store) == {"m:cfg", "m:buckets"}
    resend = dataclasses.replace(a, id="later-resend")
    v = offer(index, resend, T0 + 2 * CFG.window_seconds)
    assert v.method == "new" and v.story_id == resend.id


def test_offer_expires_on_its_own() -> None:
    index = StoryIndex(CFG)
    offer(index, article(PAIRS[0]["a"]), T0)
    offer(index, article(PAIRS[3]["b"]), T0 + CFG.window_seconds + CFG.bucket_seconds + 1)
    assert index.size == 1


def synthetic(i: int, rng: np.random.Generator, n_words: int = 120) -> Article:
    words = rng.integers(0, 5000, size=n_words)
    body = " ".join(f"w{w}" for w in words)
    return Article(id=f"syn-{i}", title=f"story {i}", body=body)


def test_near_verdict_by_shingles_alone_reports_the_signature_estimate() -> None:
    """Synthetic stories name too few facts for the second signal, so only shingles can join them: the
    rewrite is near, with the MinHash estimate of the pair as its similarity."""
    from streams.domain.dedup import estimate_jaccard

    rng = np.random.default_rng(11)
    a = synthetic(1, rng)
    words = a.body.split()
    for i in range(0, len(words), 12):  # every 12th word changed: ~0.6 of 3-shingles kept
        words[i] = f"x{i}"
    b = dataclasses.replace(a, id="syn-rewrite", body=" ".join(words))
    fa, fb = fingerprint(a, CFG), fingerprint(b, CFG)
    assert len(fb.facts) < CFG.min_shared_facts  # the title's number only: no second signal
    index = StoryIndex(CFG)
    assert index.offer(a, fa, now=T0).method == "new"
    other = synthetic(2, rng)  # another story in the index: a candidate only by chance, never near
    assert index.offer(other, fingerprint(other, CFG), now=T0).method == "new"
    assert fa.signature is not None and fb.signature is not None
    expected = estimate_jaccard(fa.signature, fb.signature)
    assert expected >= CFG.threshold
    assert index.offer(b, fb, now=T0 + 1) == DedupVerdict(a.id, a.id, expected, "near")


def test_store_stays_bounded_over_a_long_stream() -> None:
    cfg = DedupConfig(window_seconds=3600, bucket_seconds=300)
    index = StoryIndex(cfg)
    rng = np.random.default_rng(1)
    sizes = []
    step = 1.0  # 3,600 live articles, 20,000 offered
    batch = [synthetic(i, rng) for i in range(20_000)]
    for i, (a, fp) in enumerate(zip(batch, fingerprint_many(batch, cfg), strict=True)):
        index.offer(a, fp, now=T0 + i * step)
        if i % 1000 == 999:
            sizes.append(len(index.store))
    live_max = (cfg.window_seconds + cfg.bucket_seconds) / step
    per_article = 3 + cfg.bands + cfg.max_facts  # a:, h:, t: chunk share, bands, facts
    assert index.size <= live_max
    assert max(sizes) <= live_max * per_article + 100
    assert sizes[-1] <= sizes[len(sizes) // 2] * 1.1  # flat once the window is full


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.floats(0, 5000, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_state_is_exactly_the_live_window(events: list[tuple[int, float]]) -> None:
    """Any offer sequence (redeliveries, time going back and forth), then a final expiry:
    nothing survives but bookkeeping, and size always matches the live a: keys."""
    cfg = DedupConfig(window_seconds=1000, bucket_seconds=100)
    index = StoryIndex(cfg)
    texts = [f"alpha beta gamma delta {i % 7} epsilon zeta eta {i}" for i in range(31)]
    for doc, t in events:
        a = Article(id=f"id-{doc}", title="t", body=texts[doc])
        index.offer(a, fingerprint(a, cfg), now=T0 + t)
        assert index.size == sum(k.startswith("a:") for k in index.store)
    index.expire(T0 + 10_000)
    assert set(index.store) <= {"m:cfg", "m:buckets"}


def test_restart_recovers_from_a_copy_of_the_store() -> None:
    index = StoryIndex(CFG)
    articles = [article(p[k]) for p in PAIRS for k in ("a", "b")]
    fps: list[Fingerprint] = fingerprint_many(articles, CFG)
    half = len(articles) // 2
    for i in range(half):
        index.offer(articles[i], fps[i], now=T0 + i)
    restarted = StoryIndex(CFG, store=dict(index.store))  # what a changelog replay rebuilds
    for i in range(half, len(articles)):
        assert restarted.offer(articles[i], fps[i], now=T0 + i) == index.offer(
            articles[i], fps[i], now=T0 + i
        )
    assert restarted.store == index.store


def test_restart_in_the_middle_of_expiry_gives_the_same_results() -> None:
    cfg = DedupConfig(window_seconds=600, bucket_seconds=60, expire_per_offer=2)
    rng = np.random.default_rng(5)
    batch = [synthetic(i, rng, 40) for i in range(3000)]
    batch += [dataclasses.replace(a, id=f"{a.id}-again") for a in batch[::7]]  # exact re-sends
    fps = fingerprint_many(batch, cfg)
    index = StoryIndex(cfg)
    cut = 1940  # 20 offers into a bucket: the bucket that fell due is half drained
    for i in range(cut):
        index.offer(batch[i], fps[i], now=T0 + i * 0.5)
    assert index._due and any(k.endswith(":x") for k in index.store)
    restarted = StoryIndex(cfg, store=dict(index.store))
    for i in range(cut, len(batch)):
        now = T0 + i * 0.5
        assert restarted.offer(batch[i], fps[i], now=now) == index.offer(batch[i], fps[i], now=now)
    assert restarted.store == index.store


def test_store_written_with_another_layout_is_refused() -> None:
    store: dict[str, bytes] = {}
    assert StoryIndex(CFG, store).expire(T0) == 0
    other = StoryIndex(dataclasses.replace(CFG, num_perm=64), store)  # constructing never touches it
    a = article(PAIRS[0]["a"])
    with pytest.raises(ValueError, match="dedup state"):
        other.offer(a, fingerprint(a, other.cfg), now=T0)


def as_layout2(store: dict[str, bytes], fps: dict[str, Fingerprint], cfg: DedupConfig) -> dict[str, bytes]:
    """``store`` as the previous release wrote it: ``a:`` records without the leading ``3`` nor band
    hashes, full uint64 shingle and uint32 salient-word entries, and the layout-2 ``m:cfg``."""
    old = dict(store)
    for key, raw in store.items():
        if not key.startswith("a:"):
            continue
        assert raw[:1] == b"3"
        head, _, tail = raw[1:].partition(b"\n")
        fields = json.loads(head)
        fp = fps[key[2:]]
        sig = b""
        if tail:
            assert fp.signature is not None
            sig = fp.signature.astype("<u8").tobytes()
            if fp.word_signature is not None:
                sig += fp.word_signature.astype("<u4").tobytes()
        fields = [*fields[:10], 8 * cfg.num_perm if sig else 0]
        old[key] = json.dumps(fields, separators=(",", ":")).encode() + b"\n" + sig
    old["m:cfg"] = cfg.layout2_state_version.encode()
    return old


def test_a_store_of_the_previous_layout_is_taken_over() -> None:
    """An upgraded worker keeps the window it recovers: layout-2 records still make duplicates (by
    shingles, by salient words, exactly), expire with every key they indexed, and the store is then
    marked layout 3, which the previous release refuses."""
    cfg = DedupConfig(window_seconds=600, bucket_seconds=60)
    first = [article(p["a"]) for p in PAIRS]  # written by the previous release
    then = [article(p["b"]) for p in PAIRS]  # their rewrites, and exact re-sends of some
    then += [dataclasses.replace(a, id=f"{a.id}-again") for a in first[::5]]
    stream = first + then
    fps = fingerprint_many(stream, cfg)
    half = len(first)
    native = StoryIndex(cfg)
    for i in range(half):
        native.offer(stream[i], fps[i], now=T0)
    by_id = {a.id: fp for a, fp in zip(stream, fps, strict=True)}
    upgraded = StoryIndex(cfg, as_layout2(dict(native.store), by_id, cfg))
    verdicts = [upgraded.offer(stream[i], fps[i], now=T0 + 1) for i in range(half, len(stream))]
    assert verdicts == [native.offer(stream[i], fps[i], now=T0 + 1) for i in range(half, len(stream))]
    assert {v.method for v in verdicts} == {"new", "near", "exact"}
    assert upgraded.store["m:cfg"] == cfg.state_version.encode()
    layout2 = {k for k, v in upgraded.store.items() if k.startswith("a:") and v[:1] == b"["}
    assert layout2 == {"a:" + a.id for a in stream[:half]}  # read, never rewritten
    upgraded.expire(T0 + 10 * cfg.window_seconds)
    assert set(upgraded.store) == {"m:cfg", "m:buckets"}


def test_a_previous_layout_store_of_other_settings_is_refused() -> None:
    store = {"m:cfg": dataclasses.replace(CFG, num_perm=64).layout2_state_version.encode()}
    a = article(PAIRS[0]["a"])
    with pytest.raises(ValueError, match="dedup state"):
        StoryIndex(CFG, store).offer(a, fingerprint(a, CFG), now=T0)


def test_an_article_record_keeps_16_bits_of_each_entry_and_the_band_hashes() -> None:
    a = article(PAIRS[0]["a"])
    fp = fingerprint(a, CFG)
    assert fp.signature is not None and fp.word_signature is not None
    index = StoryIndex(CFG)
    index.offer(a, fp, now=T0)
    raw = index.store["a:" + a.id]
    tail = raw.partition(b"\n")[2]
    k, b, kw = CFG.num_perm, CFG.bands, CFG.word_perm
    assert raw[:1] == b"3" and len(tail) == 2 * k + 8 * b + 2 * kw == len(fp.stored)
    assert np.array_equal(np.frombuffer(tail, "<u2", k), fp.signature & 0xFFFF)
    assert F.band_keys_of_hashes(np.frombuffer(tail, "<u8", b, 2 * k).reshape(1, b), b)[0] == fp.band_keys
    assert np.array_equal(np.frombuffer(tail, "<u2", kw, 2 * k + 8 * b), fp.word_signature & 0xFFFF)
    assert len(raw) < 800  # layout 2: ~1,400 bytes


def test_constructor_does_not_touch_the_store() -> None:
    """A Faust table cannot be written outside a stream event (nor read before recovery)."""

    class Untouchable(dict[str, bytes]):
        def __getitem__(self, key: str) -> bytes:
            raise AssertionError("read")

        def get(self, key: str, default: object = None) -> Any:
            raise AssertionError("read")

        def __setitem__(self, key: str, value: bytes) -> None:
            raise AssertionError("write")

    StoryIndex(CFG, Untouchable())


def test_values_are_bytes_and_small() -> None:
    index = StoryIndex(CFG)
    for p in PAIRS:
        for k in ("a", "b"):
            offer(index, article(p[k]), T0)
    assert all(isinstance(v, bytes) for v in index.store.values())
    assert max(len(v) for v in index.store.values()) < 2_000


# -- fingerprints -----------------------------------------------------------------------------


def test_fingerprint_many_equals_fingerprint() -> None:
    articles = [article(p[k]) for p in PAIRS for k in ("a", "b")]
    articles += [Article(id="e", title="", body=""), Article(id="s", title="Hi", body="")]
    rng = np.random.default_rng(3)  # long articles: few empty bins, the scalar densification path
    articles += [Article(id=f"long-{i}", title="t", body=synthetic(i, rng, 600).body) for i in range(5)]
    for a, many in zip(articles, fingerprint_many(articles, CFG), strict=True):
        one = fingerprint(a, CFG)
        assert (one.content_hash, one.band_keys, one.shingles) == (
            many.content_hash,
            many.band_keys,
            many.shingles,
        )
        if one.signature is None:
            assert many.signature is None
        else:
            assert many.signature is not None
            assert np.array_equal(one.signature, many.signature)


def test_fingerprints_are_stable_across_processes() -> None:
    """Signatures live in the changelog, so they must not depend on PYTHONHASHSEED or the run."""
    fp = fingerprint(Article(id="x", title="North Korea fires missile", body="SEOUL, April 15 -- Hi."), CFG)
    assert fp.content_hash == "3d2ae549307a2e8d18cb419b29f268ca"
    assert fp.signature is not None and int(fp.signature.sum() % 1_000_003) == 681608
    assert fp.band_keys[0] == "b:0:3bea53166b1ac92a"
    assert fp.lead_dates == (105,)


def test_lead_dates_and_published() -> None:
    fp = fingerprint(
        Article(
            id="x", title="t", body="WASHINGTON, Sept. 3 (Reuters) - on 15 May, 12 people", published_at="bad"
        ),
        CFG,
    )
    assert fp.lead_dates == (135, 246)
    assert fp.published is None
    assert parse_published("2026-04-15T06:12:00Z") == 1776233520.0
    assert parse_published("2026-04-15T06:12:00") == 1776233520.0


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        DedupConfig(num_perm=100)
    with pytest.raises(ValueError):
        DedupConfig(num_perm=64, bands=40, rows=2)
    with pytest.raises(ValueError):
        DedupConfig(threshold=0)


# -- second signal: rewrites that keep the facts, not the sentences ---------------------------


def replay_lines(*numbers: int) -> list[Article]:
    lines = (PAIRS_FILE.parent / "replay_sample.jsonl").read_text(encoding="utf-8").splitlines()
    return [Article(**json.loads(lines[n - 1])) for n in numbers]


def test_three_agency_reports_of_one_tanker_attack_are_one_story() -> None:
    """Replay lines 5, 10, 17 (Reuters, AP, AFP; 3-shingle Jaccard 0.13-0.18): one story, one alert."""
    reuters, ap, afp = replay_lines(5, 10, 17)
    index = StoryIndex(CFG)
    verdicts = [offer(index, a, event_time(a, T0)) for a in (reuters, ap, afp)]
    assert verdicts[0].method == "new"
    assert [v.story_id for v in verdicts] == [reuters.id] * 3
    assert all(v.method == "near" for v in verdicts[1:])


def test_second_signal_needs_recency() -> None:
    """The same rewrite a day later is a new story: topics recur, one event is reported within hours."""
    reuters, ap = replay_lines(5, 10)
    index = StoryIndex(CFG)
    offer(index, reuters, event_time(reuters, T0))
    later = dataclasses.replace(ap, published_at="2026-05-13T12:40:00Z")
    assert offer(index, later, event_time(later, T0)).method == "new"


def test_common_facts_do_not_make_candidates() -> None:
    """A fact named by max_band_ids live articles ("Tuesday", "Reuters") is not counted."""
    cfg = dataclasses.replace(CFG, max_band_ids=2)
    reuters, ap = replay_lines(5, 10)
    index = StoryIndex(cfg)
    names = re.findall(r"\b[A-Z0-9]\w*", f"{reuters.title} {reuters.body[: cfg.fact_chars]}")
    for i in range(2):  # fill every fact list of the Reuters report with other articles
        filler = Article(id=f"filler-{i}", title=" ".join(names[:: 1 - 2 * i]), body=f"x {i}")
        index.offer(filler, fingerprint(filler, cfg), now=T0)
    index.offer(reuters, fingerprint(reuters, cfg), now=T0)
    assert index.offer(ap, fingerprint(ap, cfg), now=T0 + 60).method == "new"
