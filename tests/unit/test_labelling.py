"""Labelling in a real classifier child process gives what the worker's own thread gives, and a dead
child stops the worker's chunk instead of losing it."""

from __future__ import annotations

import asyncio
import gc
import math
import os
import signal
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.domain.ingest import parse_article
from streams.domain.labels import (
    ALERT_EVIDENCE,
    MAX_EVIDENCE,
    Labeler,
    Labelled,
    Labels,
    decode_labelled,
    encode_labelled,
)
from streams.domain.model import Article, RegionResult, round4
from streams.domain.pipeline import Pipeline
from streams.domain.regions import RegionClassifier
from streams.domain.subscriptions import load_subscriptions
from streams.domain.threats import ThreatClassifier
from streams.service.labelling import ClassifierDied, Labelling

pytestmark = pytest.mark.unit

EVAL = Path(__file__).resolve().parents[1] / "data" / "eval" / "labelled.jsonl"


@pytest.fixture(scope="module")
def labeler() -> Labeler:
    return Labeler(RegionClassifier.default(), ThreatClassifier.default())


def eval_articles(n: int = 80) -> list[Article]:
    out = []
    for line in EVAL.read_text().splitlines()[:n]:
        doc = orjson.loads(line)
        doc.pop("labels", None)
        article = parse_article(orjson.dumps(doc), 1_000_000)
        assert isinstance(article, Article)
        out.append(article)
    return out


def test_labels_cross_the_wire_unchanged(labeler: Labeler) -> None:
    done = labeler.label_many(eval_articles())
    back = decode_labelled(encode_labelled(done))
    assert [d.labels for d in back] == [d.labels for d in done]
    assert [d.seconds for d in back] == [d.seconds for d in done]
    assert all(isinstance(d.labels, Labels) for d in back)


def test_labels_hold_the_documents_json(labeler: Labeler) -> None:
    """The JSON pieces are what the classifiers' results give as dicts: every label with its first
    MAX_EVIDENCE spans, and per label the first ALERT_EVIDENCE spans that alerts join."""
    articles = eval_articles(40)
    for article, done in zip(articles, labeler.label_many(articles), strict=True):
        labels = done.labels
        assert labels is not None
        regions, threats = labeler.regions.classify(article), labeler.threats.classify(article)
        countries = [c.to_dict() for c in regions.countries]
        threat_docs = [t.to_dict() for t in threats.threats]
        for doc in countries + threat_docs:
            doc["evidence"] = doc["evidence"][:MAX_EVIDENCE]
        assert labels.to_dict() == {
            "countries": countries,
            "primary_country": regions.primary_country,
            "regions": list(regions.regions),
            "threats": threat_docs,
            "severity": threats.severity.to_dict(),
            "taxonomy_version": threats.taxonomy_version,
        }
        assert labels.codes == [c["code"] for c in countries]
        assert labels.types == [t["type"] for t in threat_docs]
        assert labels.level == threats.severity.level
        for pieces, docs in ((labels.country_evidence, countries), (labels.threat_evidence, threat_docs)):
            assert [orjson.loads(b"[" + x + b"]") for x in pieces] == [
                d["evidence"][:ALERT_EVIDENCE] for d in docs
            ]


def test_the_wire_form_keeps_failures_and_empty_labels_in_place(labeler: Labeler) -> None:
    """Failed articles carry no pieces, and labels with no countries or threats carry none of theirs:
    the pieces after them must still land on the right article."""
    quiet = Article("q", "Weather", "Sunny and mild all week.")
    loud = Article("l", "North Korea fires missile", "SEOUL -- North Korea fired a missile toward Japan.")
    done = labeler.label_many([loud, quiet, loud])
    done.insert(1, Labelled(None, {"regions": 0.5}, "regions failed: ValueError: x"))
    assert done[2].labels is not None and not done[2].labels.codes and not done[2].labels.types
    back = decode_labelled(encode_labelled(done))
    assert [(d.labels, d.seconds, d.failed) for d in back] == [(d.labels, d.seconds, d.failed) for d in done]
    assert decode_labelled(encode_labelled([])) == []


def test_a_raising_classifier_fails_that_article_alone(labeler: Labeler) -> None:
    class Picky:  # not a subclass: the domain core's classes may be compiled (streams/native.py)
        def __init__(self) -> None:
            self.inner = labeler.regions

        def classify(self, article: Article) -> RegionResult:
            if article.id == "bad":
                raise ValueError("gazetteer exploded")
            return self.inner.classify(article)

    picky = Labeler(Picky(), labeler.threats)
    good = Article("ok", "North Korea fires missile", "SEOUL -- North Korea fired a missile.")
    done = picky.label_many([good, Article("bad", "t", "b"), good])
    assert [d.failed for d in done] == [None, "regions failed: ValueError: gazetteer exploded", None]
    assert done[0].labels == done[2].labels and done[0].labels is not None
    assert done[1].labels is None and "threats" not in done[1].seconds


def test_a_child_process_labels_as_the_thread_does(labeler: Labeler) -> None:
    articles = eval_articles()

    async def go() -> list[Labels | None]:
        labelling = Labelling(labeler, processes=2, taxonomy_file=None, offload_from=1)
        await labelling.start()
        try:
            pids = {child._process.pid for child in labelling.children if child._process}
            assert len(pids) == 2 and os.getpid() not in pids
            first, second = await asyncio.gather(
                labelling.label_many(articles[:50]), labelling.label_many(articles[50:])
            )
            return [d.labels for d in [*first, *second]]
        finally:
            labelling.close()

    assert asyncio.run(go()) == [d.labels for d in labeler.label_many(articles)]


def test_small_chunks_stay_in_the_thread(labeler: Labeler) -> None:
    """A live stream's few articles are not worth the trip; the child is never asked."""

    async def go() -> None:
        labelling = Labelling(labeler, processes=1, taxonomy_file=None, offload_from=16)
        await labelling.start()
        try:
            future = labelling.label_many(eval_articles(3))
            assert isinstance(future, asyncio.Future) and future.done()
            assert not labelling.children[0]._pending
        finally:
            labelling.close()

    asyncio.run(go())


def test_the_child_sets_up_its_allocator_as_the_worker_does(
    labeler: Labeler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its requests and results are ~1 MB a chunk too: ``WIREWATCH_MALLOC_KEEP_BYTES`` reaches it, and
    ``WIREWATCH_GC_THRESHOLD`` (the labels of a chunk are ~10k containers, freed once sent)."""
    import multiprocessing

    from streams.service import labelling as labelling_module

    labelling = Labelling(
        labeler, processes=1, taxonomy_file=None, keep_freed_bytes=12345, gc_threshold=54321
    )
    assert labelling.children[0]._keep_freed_bytes == 12345
    assert labelling.children[0]._gc_threshold == 54321
    default_gc = gc.get_threshold()
    kept: list[int] = []
    monkeypatch.setattr(labelling_module, "keep_freed_memory", kept.append)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the child ignores ^C; we don't
    requests, ours = multiprocessing.Pipe(duplex=False)
    theirs, results = multiprocessing.Pipe(duplex=False)
    ours.close()  # no request will come: serve returns at once, after its set-up
    try:
        labelling_module.serve(requests, results, None, 12345, 0, 54321)
        frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    finally:
        gc.unfreeze()  # serve freezes the heap, as the child should; this process is not one
        gc.set_threshold(*default_gc)
        for end in (requests, theirs, results):
            end.close()
    assert kept == [12345]
    assert frozen > 10_000 and threshold == (54321, *default_gc[1:])


def test_the_child_runs_at_the_configured_lower_priority(labeler: Labeler) -> None:
    """``WIREWATCH_CLASSIFIER_NICE``: the worker's thread gets the cores first; the child still labels."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)

    async def go(nice: int) -> int:
        labelling = Labelling(labeler, processes=1, taxonomy_file=None, offload_from=1, nice=nice)
        await labelling.start()
        try:
            child = labelling.children[0]
            assert child._process is not None and child._process.pid is not None
            done = await asyncio.wait_for(labelling.label_many(eval_articles(3)), 30)
            assert [d.labels is not None for d in done] == [True, True, True]
            return os.getpriority(os.PRIO_PROCESS, child._process.pid)
        finally:
            labelling.close()

    assert asyncio.run(go(7)) == min(19, ours + 7)
    assert asyncio.run(go(0)) == ours


def test_a_dead_child_fails_the_pending_chunk(labeler: Labeler) -> None:
    async def go() -> None:
        labelling = Labelling(labeler, processes=1, taxonomy_file=None, offload_from=1)
        await labelling.start()
        try:
            child = labelling.children[0]
            assert child._process is not None and child._process.pid is not None
            os.kill(child._process.pid, signal.SIGKILL)
            with pytest.raises(ClassifierDied, match="classifier process exited"):
                await asyncio.wait_for(labelling.label_many(eval_articles(20)), 30)
            with pytest.raises(ClassifierDied):
                await labelling.label_many(eval_articles(20))
        finally:
            labelling.close()

    asyncio.run(go())


def test_the_pipeline_finishes_a_batch_labelled_elsewhere(labeler: Labeler) -> None:
    """begin + labels from anywhere + finish gives what process_batch gives."""
    raws = [orjson.dumps(a.to_dict()) for a in eval_articles(30)] + [b"{broken"]
    records = [(raw, {"topic": "t", "partition": 0, "offset": i}) for i, raw in enumerate(raws)]
    one = Pipeline(subscriptions=load_subscriptions(), clock=lambda: 1.7e9)
    two = Pipeline(subscriptions=load_subscriptions(), clock=lambda: 1.7e9)
    batch = two.begin(records)
    labelled = decode_labelled(encode_labelled(labeler.label_many(batch.to_label)))
    split = two.finish(batch, labelled)
    whole = one.process_batch(records)

    def comparable(doc: dict[str, object]) -> bytes:  # as emitted: the labels are orjson Fragments
        return orjson.dumps({k: v for k, v in doc.items() if k != "timings_ms"})

    assert [(o.kind, comparable(o.data)) for o in split] == [(o.kind, comparable(o.data)) for o in whole]
    assert [[comparable(a.document) for a in o.alerts] for o in split] == [
        [comparable(a.document) for a in o.alerts] for o in whole
    ]


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(0, 10**9).map(lambda k: k / 1e5))
@example(0.35625)  # region scores are ratios of small sums: ties like this one occur (1 in 6,000 docs)
@example(0.03125)
@example(-0.00005)
def test_round4_is_round_to_four_decimals(x: float) -> None:
    assert round4(x) == round(x, 4)


def test_round4_passes_non_finite_values_through() -> None:
    assert round4(math.inf) == math.inf
    assert math.isnan(round4(math.nan))
