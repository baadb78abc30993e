"""The streaming service against the real broker: outputs, accounting across SIGKILL, run-time subscriptions.

The expected outcome of every record comes from the in-process pipeline run over the same bytes:
the service must do exactly what the domain core does, plus the Kafka plumbing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from support import ROOT, Worker, drain, produce, service_env, tag, wait_until

from streams.domain.model import Article
from streams.domain.pipeline import Pipeline
from streams.domain.subscriptions import Subscription, load_subscriptions

pytestmark = pytest.mark.integration

DATA = ROOT / "tests" / "data"
MAX_BYTES = 50_000


def eval_articles() -> list[dict[str, Any]]:
    docs = [
        orjson.loads(line) for line in (DATA / "eval" / "labelled.jsonl").read_bytes().splitlines() if line
    ]
    for doc in docs:
        doc.pop("labels", None)
    return docs


def expected(
    records: list[tuple[bytes | None, bytes | None]], prefix: str
) -> tuple[Counter[str], Counter[str]]:
    """(outcome kinds, alert topics) the domain pipeline gives for these records."""
    pipeline = Pipeline(subscriptions=load_subscriptions(topic_prefix=prefix), max_record_bytes=MAX_BYTES)
    kinds: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for offset, (_key, value) in enumerate(records):
        outcome = pipeline.process(value or b"", {"topic": "x", "partition": 0, "offset": offset})
        kinds[outcome.kind] += 1
        topics.update(a.topic for a in outcome.alerts)
    return kinds, topics


def mixed_batch() -> list[tuple[bytes | None, bytes | None]]:
    seed = (DATA / "seed_upi.json").read_bytes()
    records: list[tuple[bytes | None, bytes | None]] = [(b"upi-seed", seed)]
    unique = eval_articles()[:40]
    records += [(d["id"].encode(), orjson.dumps(d)) for d in unique]
    sample = [line for line in (DATA / "replay_sample.jsonl").read_bytes().splitlines() if line.strip()]
    records += [(None, line) for line in sample]  # rewrites, re-sends and malformed lines
    records += [(d["id"].encode(), orjson.dumps(d)) for d in unique[:5]]  # exact re-sends
    records += [(b"seed-copy", orjson.dumps({**orjson.loads(seed), "id": "ap-seed-copy"}))]
    huge = {"id": "huge", "title": "t", "body": "word " * (MAX_BYTES // 4)}
    records += [
        (b"huge", orjson.dumps(huge)),  # over the size limit
        (None, b"\xff\xfe not utf-8"),
        (b"bad-key-\xff", b'{"id": "k", "title": "t"}'),  # schema violation, non-UTF-8 key
        (b"tombstone", None),
        (None, b'{"id": 5, "title": [], "body": {}}'),
    ]
    return records


def check_all(kind: str, docs: list[Any], contract: Callable[[str, object], None]) -> None:
    for doc in docs:
        contract(kind, doc)


@pytest.mark.parametrize("consumer_thread", ["0", "1"], ids=["consumer-in-loop", "consumer-thread"])
def test_mixed_batch_outputs_contracts_and_metrics(
    kafka_bootstrap: str, tmp_path: Path, contract: Callable[[str, object], None], consumer_thread: str
) -> None:
    """Both consumer set-ups: in the worker's event loop (the default) and Faust's own thread."""
    t = tag()
    env = service_env(
        kafka_bootstrap,
        t,
        WIREWATCH_STORE="memory://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        WIREWATCH_MAX_RECORD_BYTES=str(MAX_BYTES),
        WIREWATCH_CONSUMER_THREAD=consumer_thread,
    )
    records = mixed_batch()
    kinds, alert_topics = expected(records, f"{t}.alerts.")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        produce(kafka_bootstrap, f"{t}.articles", records)
        wait_until(
            lambda: (
                sum(worker.metric("wirewatch_articles_processed_total", outcome=k) for k in kinds)
                >= len(records)
            ),
            60,
            "all records processed",
        )
        classified = drain(kafka_bootstrap, f"{t}.classified", kinds["classified"])
        duplicates = drain(kafka_bootstrap, f"{t}.duplicates", kinds["duplicate"])
        deadletters = drain(kafka_bootstrap, f"{t}.deadletter", kinds["deadletter"])
        alerts = drain(kafka_bootstrap, f"{t}.alerts", sum(alert_topics.values()))
        assert (len(classified), len(duplicates), len(deadletters)) == (
            kinds["classified"],
            kinds["duplicate"],
            kinds["deadletter"],
        )
        assert len(alerts) == sum(alert_topics.values())
        check_all("classified", classified, contract)
        check_all("duplicate", duplicates, contract)
        check_all("deadletter", deadletters, contract)
        check_all("alert", alerts, contract)

        reasons = Counter(d["reason"] for d in deadletters)
        assert reasons["too_large"] == 1 and reasons["not_utf8"] == 1
        assert reasons["invalid_json"] >= 2  # a malformed sample line and the tombstone
        assert reasons["schema_violation"] >= 3
        assert {d["origin"]["offset"] for d in deadletters} <= set(range(len(records)))

        kp = drain(
            kafka_bootstrap, f"{t}.alerts.korean-peninsula", alert_topics[f"{t}.alerts.korean-peninsula"]
        )
        assert "upi-20260415-seoul-b1b-drills" in {a["article"]["id"] for a in kp}
        assert len(kp) == alert_topics[f"{t}.alerts.korean-peninsula"]
        seed_copy = [d for d in duplicates if d["id"] == "ap-seed-copy"]
        assert seed_copy and seed_copy[0]["story_id"] == "upi-20260415-seoul-b1b-drills"

        m = worker.metric
        assert m("wirewatch_articles_received_total") == len(records)
        assert m("wirewatch_articles_processed_total", outcome="classified") == len(classified)
        assert m("wirewatch_articles_processed_total", outcome="duplicate") == len(duplicates)
        assert m("wirewatch_articles_processed_total", outcome="deadletter") == len(deadletters)
        for reason, count in reasons.items():
            assert m("wirewatch_deadletters_total", reason=reason) == count
        by_sub = Counter(a["subscription"] for a in alerts)
        for alert in alerts:
            assert (
                m(
                    "wirewatch_alerts_total",
                    subscription=alert["subscription"],
                    severity=alert["severity"]["level"],
                )
                >= 1
            )
        assert sum(v for (name, _), v in worker.metrics().items() if name == "wirewatch_alerts_total") == sum(
            by_sub.values()
        )
        assert m("wirewatch_end_to_end_latency_seconds_count") >= 1
        assert worker.get("/health")[0] == 200
        # The classifier child yields the cores to the worker's thread (WIREWATCH_CLASSIFIER_NICE, 10).
        assert worker.proc is not None
        (child,) = classifier_children(worker.proc.pid)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    finally:
        worker.stop()


def classifier_children(pid: int) -> list[int]:
    """The worker's spawned classifier processes (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):  # not a process, or gone meanwhile
            continue
        if parent == pid and b"spawn_main" in argv:
            found.append(int(entry.name))
    return found


def test_input_in_every_kafka_codec_is_read(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Upstream producers compress their batches (Java clients are often set to lz4 or zstd): the
    worker reads each codec. Without ``cramjam`` a snappy, lz4 or zstd batch crashed it
    (``UnsupportedCodecError``), and the restarted worker met the same batch again. The worker runs
    with ``WIREWATCH_PRODUCER_COMPRESSION=zstd`` here and its outputs are read back like any others;
    that the setting reaches its producer is checked in ``tests/unit/test_worker.py``."""
    t = tag()
    env = service_env(
        kafka_bootstrap,
        t,
        WIREWATCH_PRODUCER_COMPRESSION="zstd",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
    )
    codecs = ("gzip", "snappy", "lz4", "zstd")
    docs = eval_articles()[: 10 * len(codecs)]
    records: list[tuple[bytes | None, bytes | None]] = [(d["id"].encode(), orjson.dumps(d)) for d in docs]
    kinds, _ = expected(records, f"{t}.alerts.")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        for i, codec in enumerate(codecs):
            produce(kafka_bootstrap, f"{t}.articles", records[10 * i : 10 * (i + 1)], compression=codec)
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") >= len(records),
            60,
            "the worker to read the batch of every codec",
            logs=[worker],
        )
        got = (
            len(drain(kafka_bootstrap, f"{t}.classified", kinds["classified"])),
            len(drain(kafka_bootstrap, f"{t}.duplicates", kinds["duplicate"])),
            len(drain(kafka_bootstrap, f"{t}.deadletter", kinds["deadletter"])),
        )
        assert got == (kinds["classified"], kinds["duplicate"], kinds["deadletter"])
        assert kinds["deadletter"] == 0 and worker.alive, worker.log_tail()
    finally:
        worker.stop()


def test_two_apps_sharing_a_state_directory_keep_their_tables_apart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """``WIREWATCH_DATA_DIR`` is shared by every app id that runs there (``./data`` by default). Its
    RocksDB files were named by table only, so a worker with another app id (or the same one against a
    fresh cluster) found the first one's changelog offsets and crashed at start with Faust's
    ``ConsistencyError``. Each app id now has its own directory under it."""
    state = str(tmp_path / "state")
    records = [(d["id"].encode(), orjson.dumps(d)) for d in eval_articles()[:20]]

    def received(worker: Worker, n: int) -> Callable[[], bool]:
        return lambda: worker.metric("wirewatch_articles_received_total") == n

    for i in range(2):
        t = tag()
        env = service_env(kafka_bootstrap, t, WIREWATCH_STORE="rocksdb://", WIREWATCH_DATA_DIR=state)
        worker = Worker(env, tmp_path / f"worker-{i}.log").start()
        try:
            for start in range(0, len(records), 5):  # several batches: several journal entries
                produce(kafka_bootstrap, f"{t}.articles", records[start : start + 5])
                wait_until(
                    received(worker, start + 5),
                    60,
                    f"worker {i} to process its records",
                    logs=[worker],
                )
        finally:
            worker.stop()


def test_sigkill_mid_stream_every_offset_one_outcome(kafka_bootstrap: str, tmp_path: Path) -> None:
    t = tag()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_STORE="rocksdb://", WIREWATCH_DATA_DIR=str(tmp_path / "state")
    )
    docs = eval_articles()
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, d in enumerate(docs):
        records.append((d["id"].encode(), orjson.dumps(d)))
        if i % 10 == 0:
            records.append((d["id"].encode(), orjson.dumps(d)))  # exact re-send
        if i % 25 == 0:
            records.append((None, b"{broken"))
    worker = Worker(env, tmp_path / "worker.log").start()

    def publish_slowly() -> None:
        for start in range(0, len(records), 20):
            produce(kafka_bootstrap, f"{t}.articles", records[start : start + 20])
            time.sleep(0.3)

    publisher = threading.Thread(target=publish_slowly)
    publisher.start()
    try:
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") >= 40, 60, "some records processed"
        )
        worker.kill()
        publisher.join()
        worker = Worker(env, tmp_path / "worker.log").start()
        outputs: dict[str, list[Any]] = {}

        def all_accounted() -> bool:
            offsets: set[int] = set()
            for kind in ("classified", "duplicates", "deadletter"):
                outputs[kind] = drain(kafka_bootstrap, f"{t}.{kind}", idle=1.0)
                offsets |= {d["origin"]["offset"] for d in outputs[kind]}
            return offsets == set(range(len(records)))

        wait_until(all_accounted, 90, "an outcome for every input offset", interval=1.0)
        outcome_of: dict[int, set[str]] = defaultdict(set)
        for kind, docs_out in outputs.items():
            for d in docs_out:
                outcome_of[d["origin"]["offset"]].add(kind)
        conflicts = {o: k for o, k in outcome_of.items() if len(k) > 1}
        reasons = {
            d["origin"]["offset"]: d["message"]
            for d in outputs["deadletter"]
            if d["origin"]["offset"] in conflicts
        }
        assert not conflicts, (conflicts, reasons)

        alerts = drain(kafka_bootstrap, f"{t}.alerts", idle=2.0)
        ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        for a in alerts:
            ids[(a["subscription"], a["story_id"])].add(a["alert_id"])
        assert alerts and all(len(v) == 1 for v in ids.values())

        # A rewrite sent after the restart is still caught: dedup state came back from its changelog.
        first = docs[0]
        produce(kafka_bootstrap, f"{t}.articles", [(b"late", orjson.dumps({**first, "id": "late-copy"}))])
        wait_until(
            lambda: any(d["id"] == "late-copy" for d in drain(kafka_bootstrap, f"{t}.duplicates", idle=1.0)),
            30,
            "late copy flagged as duplicate",
        )
        late = [d for d in drain(kafka_bootstrap, f"{t}.duplicates", idle=1.0) if d["id"] == "late-copy"]
        assert late[0]["story_id"] == first["id"]
    finally:
        publisher.join()
        worker.stop()


def wirewatch(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


VENEZUELA = {
    "title": "Venezuelan troops clash with armed group near Colombian border, 9 killed",
    "body": (
        "CARACAS, Venezuela (AP) — Venezuelan soldiers fought a gun battle with fighters of an armed group in "
        "Apure state near the Colombian border on Tuesday, leaving nine people dead, the defense minister said. "
        "The clashes erupted after the group attacked a military outpost, and troops backed by armored vehicles "
        "pushed the fighters back across the Arauca river. Venezuela's government said the fighting was the "
        "deadliest on the border this year."
    ),
}


VENEZUELA_PROTEST = {
    "title": "Venezuelan police fire tear gas at thousands protesting in Caracas",
    "body": (
        "CARACAS, Venezuela (Reuters) - Riot police fired tear gas and rubber bullets at tens of thousands of "
        "opposition supporters marching through eastern Caracas on Saturday, as protests against the disputed "
        "election entered a second week. Demonstrators threw stones and set up burning barricades on the "
        "Francisco Fajardo highway; rights groups said dozens were arrested. Venezuelan authorities accused "
        "the organisers of plotting unrest."
    ),
}


def test_subscription_added_and_removed_at_run_time(kafka_bootstrap: str, tmp_path: Path) -> None:
    sub = {"id": "venezuela-watch", "countries": ["VE"], "threats": ["armed_conflict", "civil_unrest"]}
    probe = Subscription.from_dict(sub)
    pipeline = Pipeline(subscriptions=load_subscriptions())
    for doc in (VENEZUELA, VENEZUELA_PROTEST):  # both would alert while the subscription exists
        c = pipeline.classify(Article(id="probe", title=doc["title"], body=doc["body"]))
        assert (
            probe.match(
                [x.code for x in c.regions.countries],
                c.regions.regions,
                [x.type for x in c.threats.threats],
                c.threats.severity.level,
                "",
                "",
            )
            is not None
        )
    t = tag()
    env = service_env(
        kafka_bootstrap, t, WIREWATCH_STORE="memory://", WIREWATCH_DATA_DIR=str(tmp_path / "state")
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    topic = f"{t}.alerts.venezuela-watch"
    try:
        base = worker.metric("wirewatch_subscriptions")
        out = wirewatch(
            env,
            "subscribe",
            "add",
            "venezuela-watch",
            "--countries",
            "VE",
            "--threats",
            "armed_conflict,civil_unrest",
            "--min-severity",
            "low",
        )
        assert topic in out
        wait_until(lambda: worker.metric("wirewatch_subscriptions") == base + 1, 30, "subscription applied")
        assert "venezuela-watch" in wirewatch(env, "subscribe", "list")

        produce(kafka_bootstrap, f"{t}.articles", [(b"ve-1", orjson.dumps({"id": "ve-1", **VENEZUELA}))])
        first = drain(kafka_bootstrap, topic, expect=1, timeout=30)
        assert [a["article"]["id"] for a in first] == ["ve-1"]
        assert "VE" in first[0]["matched"]["places"]

        wirewatch(env, "subscribe", "remove", "venezuela-watch")
        wait_until(lambda: worker.metric("wirewatch_subscriptions") == base, 30, "subscription removed")
        assert "venezuela-watch" not in wirewatch(env, "subscribe", "list")
        later = {"id": "ve-2", **VENEZUELA_PROTEST}
        produce(kafka_bootstrap, f"{t}.articles", [(b"ve-2", orjson.dumps(later))])
        wait_until(lambda: worker.metric("wirewatch_articles_received_total") >= 2, 30, "second article read")
        time.sleep(2)
        assert [a["article"]["id"] for a in drain(kafka_bootstrap, topic, idle=2.0)] == ["ve-1"]
    finally:
        worker.stop()


def test_nothing_the_worker_writes_passes_the_record_limit(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Every record the worker writes stays within ``WIREWATCH_MAX_MESSAGE_BYTES`` (its producer's
    request limit, here 300,000), or the producer refuses it and the worker stops, on the same input
    after every restart. Each case below crashed the worker at the 1 MB default before:

    - dedup journal entries: an entry holds every posting list its chunk touched, whole (up to 16 ids
      each); article ids may be 512 characters (``schemas/article.json``), and with 500-character ids
      a chunk of 64 corpus articles wrote entries of 0.9-2 MB. A chunk now writes as many as it needs;
    - a record over ``WIREWATCH_MAX_RECORD_BYTES``: its dead letter carried it whole, in base64. Now
      cut, with ``payload_truncated``;
    - a valid article whose classified document is over the limit: now a ``too_large`` dead letter;
    - a huge input key, which ``origin`` carries: the dead letter then keeps neither.

    Every input still gets its one outcome, and a restarted worker recovers the journal."""
    from streams.bench.corpus import articles

    t, limit = tag(), 300_000
    env = service_env(
        kafka_bootstrap,
        t,
        WIREWATCH_STORE="rocksdb://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        WIREWATCH_MAX_MESSAGE_BYTES=str(limit),
        WIREWATCH_MAX_RECORD_BYTES="400000",
    )
    docs = []
    for raw in articles(700, root=tmp_path):  # the labelled wire set, with or without .cache/bench
        d = orjson.loads(raw)
        docs.append({**d, "id": f"https://wire.example/{d['id']}/".ljust(500, "x")})
    records: list[tuple[bytes | None, bytes | None]] = [(None, orjson.dumps(d)) for d in docs]
    kinds, _ = expected(records, f"{t}.alerts.")
    big_body = "北朝鮮が弾道ミサイルを発射した。" * 6_500  # ~305 KB of UTF-8: fits the input limit only
    special: list[tuple[bytes | None, bytes | None]] = [
        (None, orjson.dumps({"id": "big-story", "title": "Missile launch", "body": big_body})),
        (None, orjson.dumps({"id": "too-big", "title": "t", "body": "x" * 450_000})),
        (b"k" * 250_000, orjson.dumps({"id": "big-key", "title": "Small story", "body": "Quiet day."})),
    ]
    produce(kafka_bootstrap, f"{t}.articles", records + special)  # a backlog first: full chunks
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        outcomes = {
            kind: drain(kafka_bootstrap, f"{t}.{topic}", kinds[kind] + extra, timeout=90)
            for kind, topic, extra in (
                ("classified", "classified", 0),
                ("duplicate", "duplicates", 0),
                ("deadletter", "deadletter", len(special)),
            )
        }
        assert {k: len(v) for k, v in outcomes.items()} == {
            "classified": kinds["classified"],
            "duplicate": kinds["duplicate"],
            "deadletter": kinds["deadletter"] + len(special),
        }, worker.log_tail()
        assert worker.alive, worker.log_tail()
        letters = {d["origin"]["offset"] - len(records): d for d in outcomes["deadletter"]}
        assert {i: (d["reason"], d.get("payload_truncated")) for i, d in letters.items()} == {
            0: ("too_large", True),  # its classified document was too large, not the record
            1: ("too_large", True),
            2: ("too_large", True),
        }
        assert "classified output" in letters[0]["message"], letters[0]["message"]
        assert letters[2]["origin"]["key_b64"] is None and letters[2]["payload_b64"] == ""
        for i, (_key, value) in enumerate(special):
            assert letters[i]["payload_size"] == len(value or b"")
            assert len(orjson.dumps(letters[i])) <= limit
        worker.stop()
        # The state came back from the changelog: a rewrite of the first story is still caught.
        worker = Worker(env, tmp_path / "worker.log").start()
        late = {**docs[0], "id": "late-copy"}
        produce(kafka_bootstrap, f"{t}.articles", [(b"late", orjson.dumps(late))])
        wait_until(
            lambda: any(d["id"] == "late-copy" for d in drain(kafka_bootstrap, f"{t}.duplicates", idle=1.0)),
            60,
            "the late copy flagged as a duplicate",
            logs=[worker],
        )
    finally:
        worker.stop()
