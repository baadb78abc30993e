"""The story index: which earlier article, if any, an incoming article repeats.

All state lives in a ``MutableMapping[str, bytes]`` so the streaming layer can back it with a
changelogged table and a restarted worker recovers it. Keys (values are small bytes):

``a:<article id>``        ``3``, then the article's first verdict + content hash + published time +
                           lead dates + offer time + facts (orjson header line), then what
                           :func:`~streams.domain.dedup.fingerprints.stored_signatures` keeps: the low
                           16 bits of each shingle signature entry, the band hashes, the low 16 bits of
                           each salient-word signature entry (layout 3). Layout 2, still read: no
                           leading ``3``, full uint64 shingle and uint32 salient-word entries, no band
                           hashes (1.4 KB an article where layout 3 takes 0.7)
``h:<content hash>``      id of the first live article with that normalised text
``b:<band>:<band hash>``  ids (newline separated, oldest first, at most ``max_band_ids``) of the
                           articles in that LSH bucket of shingle signatures
``f:<fact>``              the same for the articles naming a fact (a name or number of title and
                           lead, see :func:`~streams.domain.dedup.fingerprints.facts`)
``t:<bucket>``            number of articles offered during time bucket ``floor(now / bucket_seconds)``
``t:<bucket>:<chunk>``    their ids, 128 per chunk, so expiry finds them without scanning the store
``t:<bucket>:x``          how many of them expiry has already forgotten
``m:buckets``             orjson list of the live buckets
``m:cfg``                 :attr:`DedupConfig.state_version` that wrote the state (a store of the
                           layout-2 version with the same settings is taken over: its records are
                           read until they expire)

Buckets older than the window are deleted (a few articles per ``offer``, or all at once by
``expire``), so the state is bounded by the window
(articles per window x (3 + bands + max_facts) keys), never by the length of the stream.

Backing ``store`` with a Faust table: raw (bytes) values, no ``default=``, one table partition per
index; a new article costs ~28 writes (16 bands, up to 8 facts, ``a:``, ``h:``, two ``t:``) and its
later expiry about as many, so coalesce writes per batch before they reach the changelog.
Changing the hashing layout changes ``m:cfg`` and is refused.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Final, Literal

import numpy as np
import orjson

from streams.domain.dedup.config import DedupConfig
from streams.domain.dedup.fingerprints import (
    STORED_BIN_BYTES,
    U16,
    U64,
    Fingerprint,
    band_keys_many,
    band_keys_of_hashes,
)
from streams.domain.model import Article, DedupVerdict

Method = Literal["new", "exact", "near"]
_METHODS: Final[tuple[Method, ...]] = ("new", "exact", "near")
_METHOD_CODE: Final[dict[str, int]] = {m: i for i, m in enumerate(_METHODS)}
_CHUNK: Final = 128
_SEP: Final = b"\n"
# dtype objects, not strings: numpy parses a dtype string on every call (frombuffer 1.0 vs 0.6 us).
_LE_U64: Final = np.dtype("<u8")
_LE_U32: Final = np.dtype("<u4")
_LE_U16: Final = np.dtype("<u2")
#: First byte of a layout-3 ``a:`` record; a layout-2 record starts with its header's ``[``.
_LAYOUT3: Final = b"3"
_LAYOUT3_BYTE: Final = _LAYOUT3[0]


class _Record:
    """Decoded ``a:`` value, of either layout; signature entries as their low 16 bits."""

    __slots__ = (
        "band_hashes", "content_hash", "delivery", "facts", "lead_dates", "published", "signature",
        "signature64", "verdict", "when", "word_signature",
    )  # fmt: skip

    def __init__(self, raw: bytes) -> None:
        layout3 = raw[:1] == _LAYOUT3
        head, _, sig = raw.partition(_SEP)
        fields = orjson.loads(head[1:] if layout3 else head)
        (method, story_id, duplicate_of, similarity, content_hash, published, dates, delivery, when, facts,
         shingle_bytes) = fields[:11]  # fmt: skip
        self.delivery: str | None = delivery
        self.verdict = DedupVerdict(story_id, duplicate_of, similarity, _METHODS[method])
        self.content_hash: str = content_hash
        self.published: float | None = published
        self.lead_dates: list[int] = dates
        self.when: float = when
        self.facts: list[str] = facts
        self.signature: U16 | None = None
        self.word_signature: U16 | None = None
        #: Layout 3: the band hashes expiry rebuilds the band keys from.
        self.band_hashes: U64 | None = None
        #: Layout 2: the full signature, which the band keys are recomputed from.
        self.signature64: U64 | None = None
        if not sig:
            return
        if layout3:
            band_bytes: int = fields[11]
            self.signature = np.frombuffer(sig, dtype=_LE_U16, count=shingle_bytes // STORED_BIN_BYTES)
            self.band_hashes = np.frombuffer(sig, dtype=_LE_U64, count=band_bytes // 8, offset=shingle_bytes)
            if len(sig) > shingle_bytes + band_bytes:
                self.word_signature = np.frombuffer(sig, dtype=_LE_U16, offset=shingle_bytes + band_bytes)
            return
        self.signature64 = np.frombuffer(sig, dtype=_LE_U64, count=shingle_bytes // 8)
        self.signature = self.signature64.astype(np.uint16)
        if len(sig) > shingle_bytes:
            self.word_signature = np.frombuffer(sig, dtype=_LE_U32, offset=shingle_bytes).astype(np.uint16)


def _encode(
    verdict: DedupVerdict,
    fp: Fingerprint,
    with_signature: bool,
    delivery: str | None,
    now: float,
    cfg: DedupConfig,
) -> bytes:
    """A layout-3 ``a:`` record; exact duplicates (``with_signature`` false) keep no signature."""
    sig = fp.stored if with_signature else b""
    when = now if fp.published is None else fp.published
    head = orjson.dumps(
        [
            _METHOD_CODE[verdict.method],
            verdict.story_id,
            verdict.duplicate_of,
            verdict.similarity,
            fp.content_hash,
            fp.published,
            fp.lead_dates,
            delivery,
            when,
            fp.facts if sig else [],
            STORED_BIN_BYTES * cfg.num_perm if sig else 0,
            8 * cfg.bands if sig else 0,
        ]
    )
    return b"".join((_LAYOUT3, head, _SEP, sig))


class StoryIndex:
    """Exact and near-duplicate detection over a sliding time window, state kept in ``store``.

    Redelivery (the same article id offered again while its state is live) returns the verdict
    recorded the first time, unchanged, and writes nothing: at-least-once delivery then yields the
    same decision, and a story's first article stays ``new`` rather than becoming a duplicate of
    itself. Downstream stages key their outputs by article id to absorb the repeat. Once the id
    has expired it is an unknown article again.

    One index per store: the few attributes here are caches rebuilt from the store.
    """

    def __init__(self, cfg: DedupConfig, store: MutableMapping[str, bytes] | None = None) -> None:
        self.cfg = cfg
        self.store: MutableMapping[str, bytes] = {} if store is None else store
        self._bucket: int | None = None  # bucket of the last offer, to run bookkeeping once per bucket
        # The store is not touched here: a Faust table may not be recovered yet, nor writable
        # outside a stream event. The layout check runs on the first offer or expire.
        self._checked = False
        self._due: list[int] = []  # buckets past the window, oldest first, still being drained
        self._next_chunk: dict[int, int] = {}  # per due bucket, the first chunk that may remain
        self._tracked: int | None = None  # bucket whose ``t:`` key is ``_tkey``
        self._tkey = ""

    def _check_layout(self) -> None:
        version = self.cfg.state_version.encode()
        found = self.store.get("m:cfg")
        if found is None or found == self.cfg.layout2_state_version.encode():
            # Layout-2 records are read as they are until they expire; from now on this store holds
            # layout 3, which code that reads only layout 2 must refuse.
            self.store["m:cfg"] = version
        elif found != version:
            raise ValueError(f"store holds dedup state {found!r}, config expects {version!r}")
        self._checked = True

    # -- public -------------------------------------------------------------------------------

    def offer(
        self, article: Article | str, fp: Fingerprint, now: float, delivery: str | None = None
    ) -> DedupVerdict:
        """Record an article (an ``Article`` or its id) and say whether it repeats a live story.

        Exact: same normalised text as a live article. Near: the most similar LSH candidate at or
        above ``threshold`` that no veto rules out. Either way ``story_id`` is inherited from the
        matched article, so chains resolve to the story's first article. ``now`` is epoch seconds
        of the stream clock (event time when replaying); it buckets the state and drives expiry.

        ``delivery`` names where this copy came from (e.g. topic/partition/offset). A known id offered
        with the same (or no) delivery is a redelivery and gets its first verdict back; a known id
        from another delivery is a re-send, an exact duplicate of the first article with that id.
        """
        aid = article if isinstance(article, str) else article.id
        if "\n" in aid:
            raise ValueError("article ids must not contain newlines")
        store = self.store
        akey = "a:" + aid
        seen = store.get(akey)
        if seen is not None:
            record = _Record(seen)
            if delivery is None or record.delivery is None or record.delivery == delivery:
                return record.verdict
            return DedupVerdict(record.verdict.story_id, aid, 1.0, "exact")
        if not self._checked:
            self._check_layout()
        self._enter_bucket(now)
        if self._due:  # expiry a few articles per offer: no pause when a busy bucket falls due
            self._drain(self._due[0], self.cfg.expire_per_offer)

        hkey = "h:" + fp.content_hash
        first = store.get(hkey)
        if first is not None:
            holder = store.get("a:" + first.decode())
            if holder is not None:
                story = _Record(holder).verdict.story_id
                verdict = DedupVerdict(story, first.decode(), 1.0, "exact")
                store[akey] = _encode(verdict, fp, False, delivery, now, self.cfg)
                self._track(aid, now)
                return verdict

        verdict = DedupVerdict(aid, None, 0.0, "new")
        idb = aid.encode()
        writes: dict[str, bytes] = {}
        if fp.signature is not None:
            fact_keys = ["f:" + f for f in fp.facts]
            buckets = list(map(store.get, fp.band_keys))  # read once: for candidates, then to append
            postings = list(map(store.get, fact_keys))
            near = self._best_candidate(fp, buckets, postings, now)
            if near is not None:
                verdict = near
            self._append_id(writes, idb, fp.band_keys, buckets)
            self._append_id(writes, idb, fact_keys, postings)
        writes[hkey] = idb
        writes[akey] = _encode(verdict, fp, True, delivery, now, self.cfg)
        store.update(writes)  # one call for ~27 keys: a dict's (and the journaled store's) is C-level
        self._track(aid, now)
        return verdict

    def expire(self, now: float) -> int:
        """Drop every bucket that ended ``window_seconds`` before ``now``, at once; returns articles
        dropped. ``offer`` does the same work a few articles at a time, so calling this is optional
        (e.g. from a timer on an idle stream)."""
        if not self._checked:
            self._check_layout()
        self._due = self._due_buckets(now)
        dropped = 0
        while self._due:
            dropped += self._drain(self._due[0], budget=1 << 30)
        return dropped

    @property
    def size(self) -> int:
        """Live articles (exact duplicates included); one read per live bucket, so not per article."""
        get = self.store.get
        return sum(int(get(f"t:{b}", b"0")) - int(get(f"t:{b}:x", b"0")) for b in self._buckets())

    def verdict_of(self, article_id: str) -> DedupVerdict | None:
        """The recorded verdict of a live article, if any."""
        raw = self.store.get("a:" + article_id)
        return None if raw is None else _Record(raw).verdict

    # -- near duplicates ----------------------------------------------------------------------

    def _best_candidate(
        self, fp: Fingerprint, buckets: list[bytes | None], postings: list[bytes | None], now: float
    ) -> DedupVerdict | None:
        """The live candidate most like ``fp``: shingle matches first (by estimated Jaccard), then
        matches on the second signal (shared facts + salient words, recent articles only)."""
        cfg = self.cfg
        candidates: dict[bytes, None] = {}
        for ids in buckets:
            if ids is not None:
                candidates.update(dict.fromkeys(ids.split(_SEP)))
        # Second signal: count, per article, the uncommon facts it shares with this one.
        full = cfg.max_band_ids - 1
        need = cfg.min_shared_facts
        uncommon = [ids for ids in postings if ids is not None and ids.count(_SEP) < full]
        shared: dict[bytes, int] = {}
        if len(uncommon) >= need:  # else no article can share enough of them
            for other in _SEP.join(uncommon).split(_SEP):  # one split: ~50 ids an offer (bench corpus)
                shared[other] = shared.get(other, 0) + 1
            candidates.update((other, None) for other, n in shared.items() if n >= need)
        if not candidates:
            return None
        k = cfg.num_perm
        # Shingle similarity of every candidate in one comparison, read straight from the records'
        # signature bytes; a record's header is decoded only for a candidate that can still win.
        # Decoding every candidate (~1.6 an article on the bench corpus) was a third of this method's
        # instructions (callgrind: 108k -> 72k an article without it).
        width = STORED_BIN_BYTES * k
        get = self.store.get
        found: list[tuple[bytes, bytes]] = []
        blocks: list[bytes] = []
        for raw_id in candidates:
            raw = get("a:" + raw_id.decode())
            if raw is None:
                continue
            at = raw.find(_SEP) + 1
            if raw[0] == _LAYOUT3_BYTE:
                block = raw[at : at + width]
                if len(block) == width:  # exact duplicates keep none; one store holds one width (m:cfg)
                    found.append((raw_id, raw))
                    blocks.append(block)
            elif len(raw) - at >= 8 * k:  # layout 2: uint64 entries, compared by their low 16 bits
                found.append((raw_id, raw))
                blocks.append(np.frombuffer(raw, _LE_U64, k, at).astype(_LE_U16).tobytes())
        if not found:
            return None
        table = np.frombuffer(b"".join(blocks), dtype=_LE_U16).reshape(len(found), k)
        sig = np.frombuffer(fp.stored, dtype=_LE_U16, count=k)
        # The ufunc's own reduce: count_nonzero with an axis is a Python wrapper over astype and sum
        # (3.3 against 2.3 us a call).
        equal: list[int] = np.add.reduce(table == sig, axis=1, dtype=np.intp).tolist()
        wsig: U16 | None = None  # the salient-word entries' low 16 bits, once a candidate needs them
        when = now if fp.published is None else fp.published
        best: tuple[int, float, float, str, str] | None = None
        for (raw_id, raw), same in zip(found, equal, strict=True):
            sim = same / k
            if sim >= cfg.threshold:
                rank = (1, sim)
                rec = _Record(raw)
            elif fp.word_signature is not None and shared.get(raw_id, 0) >= need:
                if wsig is None:  # the last part of the stored row (``stored_signatures``)
                    wsig = np.frombuffer(fp.stored, dtype=_LE_U16, offset=width + 8 * cfg.bands)
                rec = _Record(raw)
                if (
                    rec.word_signature is None
                    or rec.word_signature.size != wsig.size
                    or abs(when - rec.when) > cfg.word_window_seconds
                ):
                    continue
                wsim = float(np.count_nonzero(rec.word_signature == wsig)) / wsig.size
                if wsim < cfg.word_threshold:
                    continue
                rank = (0, wsim)
            else:
                continue
            if (best is None or rank > best[:2]) and self._compatible(fp, rec):
                best = (*rank, sim, raw_id.decode(), rec.verdict.story_id)
        if best is None:
            return None
        *_, sim, cid, story = best
        return DedupVerdict(story, cid, sim, "near")

    def _compatible(self, fp: Fingerprint, rec: _Record) -> bool:
        """Cheap vetoes for same-template, different-event stories (two launches, two quakes)."""
        cfg = self.cfg
        if (
            fp.published is not None
            and rec.published is not None
            and abs(fp.published - rec.published) > cfg.max_gap_seconds
        ):
            return False
        if fp.lead_dates and rec.lead_dates:
            tol = cfg.date_tolerance_days
            return any(
                min(abs(a - b), 365 - abs(a - b)) <= tol for a in fp.lead_dates for b in rec.lead_dates
            )
        return True

    def _append_id(
        self, writes: dict[str, bytes], idb: bytes, keys: Sequence[str], lists: list[bytes | None]
    ) -> None:
        """Into ``writes``: each of ``lists`` (the values of ``keys``) with the id appended, the oldest
        dropped from a full one."""
        cap = self.cfg.max_band_ids
        tail = _SEP + idb
        for key, old in zip(keys, lists, strict=True):
            if old is None or cap == 1:
                writes[key] = idb
            else:
                seps = old.count(_SEP)
                if seps + 1 >= cap:  # full: drop the oldest
                    old = old.split(_SEP, seps + 2 - cap)[-1]
                writes[key] = old + tail

    # -- time buckets -------------------------------------------------------------------------

    def _buckets(self) -> list[int]:
        raw = self.store.get("m:buckets")
        return [] if raw is None else list(orjson.loads(raw))

    def _enter_bucket(self, now: float) -> None:
        bucket = int(now // self.cfg.bucket_seconds)
        if bucket == self._bucket:
            return
        buckets = self._buckets()
        if bucket not in buckets:
            buckets.append(bucket)
            buckets.sort()
            self.store["m:buckets"] = orjson.dumps(buckets)
        self._bucket = bucket
        # Due relative to the bucket's start, not ``now``: a restarted index picks the same buckets.
        self._due = self._due_buckets(bucket * self.cfg.bucket_seconds)

    def _due_buckets(self, now: float) -> list[int]:
        horizon = now - self.cfg.window_seconds
        return [b for b in self._buckets() if (b + 1) * self.cfg.bucket_seconds <= horizon]

    def _track(self, aid: str, now: float) -> None:
        bucket = int(now // self.cfg.bucket_seconds)
        if bucket != self._tracked:  # the key of the current bucket, formatted once per bucket
            self._tracked, self._tkey = bucket, f"t:{bucket}"
        store, tkey = self.store, self._tkey
        count = int(store.get(tkey, b"0"))
        ckey = f"{tkey}:{count // _CHUNK}"
        chunk = store.get(ckey)
        store[ckey] = aid.encode() if chunk is None else chunk + _SEP + aid.encode()
        store[tkey] = str(count + 1).encode()

    def _drain(self, bucket: int, budget: int) -> int:
        """Forget up to ``budget`` articles of a due bucket, oldest chunk first; retire the bucket
        (its keys and its place in ``m:buckets``) once empty. Returns articles forgotten."""
        store = self.store
        tkey = f"t:{bucket}"
        chunks = (int(store.get(tkey, b"0")) + _CHUNK - 1) // _CHUNK
        first = self._next_chunk.get(bucket, 0)
        for chunk in range(first, chunks):
            ckey = f"{tkey}:{chunk}"
            ids = store.get(ckey)
            if ids is None:
                continue
            self._next_chunk[bucket] = chunk
            parts = ids.split(_SEP, budget)
            if len(parts) > budget:  # keep the rest of the chunk for the next call
                store[ckey] = parts.pop()
            else:
                del store[ckey]
            self._forget(parts)
            xkey = f"{tkey}:x"
            store[xkey] = str(int(store.get(xkey, b"0")) + len(parts)).encode()
            return len(parts)
        store.pop(tkey, None)
        store.pop(f"{tkey}:x", None)
        store["m:buckets"] = orjson.dumps([b for b in self._buckets() if b != bucket])
        self._next_chunk.pop(bucket, None)
        self._due.remove(bucket)
        return 0

    def _forget(self, raw_ids: list[bytes]) -> None:
        """Delete articles and their hash and band entries (band keys computed for all at once)."""
        store = self.store
        cfg = self.cfg
        hashed: list[tuple[bytes, U64]] = []  # layout 3: band hashes stored
        indexed: list[tuple[bytes, U64]] = []  # layout 2: band hashes recomputed from the signature
        all_keys: list[tuple[bytes, Sequence[str]]] = []
        for raw_id in raw_ids:
            raw = store.pop("a:" + raw_id.decode(), None)
            if raw is None:
                continue
            rec = _Record(raw)
            hkey = "h:" + rec.content_hash
            if store.get(hkey) == raw_id:
                del store[hkey]
            if rec.band_hashes is not None and rec.band_hashes.size == cfg.bands:
                hashed.append((raw_id, rec.band_hashes))
            elif rec.signature64 is not None and rec.signature64.size == cfg.num_perm:
                indexed.append((raw_id, rec.signature64))
            if rec.facts:
                all_keys.append((raw_id, ["f:" + f for f in rec.facts]))
        if hashed:
            keys_h = band_keys_of_hashes(np.stack([h for _, h in hashed]), cfg.bands)
            all_keys += zip([i for i, _ in hashed], keys_h, strict=True)
        if indexed:
            keys_b = band_keys_many(np.stack([s for _, s in indexed]), cfg)
            all_keys += zip([i for i, _ in indexed], keys_b, strict=True)
        for raw_id, keys in all_keys:
            for key in keys:
                ids = store.get(key)
                if ids is None:
                    continue
                if ids == raw_id:
                    del store[key]
                    continue
                head = raw_id + _SEP
                if ids.startswith(head):  # the usual case: lists are oldest first, expiry goes oldest first
                    store[key] = ids[len(head) :]
                    continue
                if not ids.endswith(_SEP + raw_id) and (_SEP + raw_id + _SEP) not in ids:
                    continue  # already pushed out of a full list: nothing to write
                kept = [i for i in ids.split(_SEP) if i != raw_id]
                if kept:
                    store[key] = _SEP.join(kept)
                else:
                    del store[key]
