"""The ``wirewatch`` command.

Broker-free commands (classify, replay, eval) import nothing from Faust, so they start fast and
work without Kafka; service commands import their wiring lazily.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from streams import native


def main(argv: Sequence[str] | None = None) -> int:
    stale = native.checkout_problem()
    if stale:
        print(f"warning: the compiled domain core does not match this checkout: {stale}", file=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wirewatch replay x | head` is normal use
        return 0
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):  # a clear line, not a traceback, for broker trouble
            import asyncio

            from streams.service.connection import describe, diagnose, redact
            from streams.settings import Settings

            settings = Settings.from_env()
            why = asyncio.run(diagnose(settings)) or redact(f"{type(exc).__name__}: {exc}", settings)
            hint = " (a local one: `wirewatch kafka start`)" if "Connect call failed" in why else ""
            print(f"error: Kafka at {describe(settings)}: {why}{hint}", file=sys.stderr)
            return 1
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wirewatch",
        description="Threat alerts from news wire streams, with the evidence behind each label.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("classify", help="classify articles (JSON object or JSON Lines), no dedup state")
    p.add_argument("path", nargs="?", default="-", help="file, or - for standard input (default)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("replay", help="run the whole pipeline in-process over a JSONL file")
    p.add_argument("path", help="JSON Lines file of articles, or - for standard input")
    p.add_argument("--subscriptions", help="subscriptions YAML (default: the shipped file)")
    p.add_argument("--dedup-window", type=float, default=None, help="dedup window, seconds")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("eval", help="precision/recall/F1 of the classifier on a labelled JSONL set")
    p.add_argument("path", help="JSONL with a `labels: {countries: [...], threats: [...]}` per article")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--errors", action="store_true", help="list every misclassified article")
    p.set_defaults(func=cmd_eval)

    from streams.localkafka import add_kafka_parser

    add_kafka_parser(sub)
    _add_service_commands(sub)
    return parser


def _add_service_commands(sub: Any) -> None:
    p = sub.add_parser("worker", help="run the streaming service (Faust worker)")
    p.set_defaults(func=_lazy("streams.service.worker", "cmd_worker"))

    p = sub.add_parser("topics", help="create the service's topics (partitions, compaction) and exit")
    p.set_defaults(func=_lazy("streams.service.topics", "cmd_topics"))

    from streams.service.clients import add_client_commands

    add_client_commands(sub)

    from streams.poller.cli import add_poll_parser

    add_poll_parser(sub)

    from streams.bench.run import add_bench_parser

    add_bench_parser(sub)


def _lazy(module: str, name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args))

    return run


def _open(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else Path(path).open("rb")


def _write(out: IO[bytes], doc: Any) -> None:
    out.write(orjson.dumps(doc))
    out.write(b"\n")


def _records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, raw record): a whole-file JSON object is one record, otherwise JSON Lines."""
    stripped = data.strip()
    if stripped.startswith(b"{") and b"\n" in stripped:
        try:
            orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
        else:
            yield 1, stripped
            return
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield number, line


def cmd_classify(args: argparse.Namespace) -> int:
    import time

    from streams.domain.ingest import Rejection, parse_article
    from streams.domain.labels import Labels
    from streams.domain.pipeline import classified_doc, utc_iso
    from streams.domain.regions import RegionClassifier
    from streams.domain.threats import ThreatClassifier

    regions, threats = RegionClassifier.default(), ThreatClassifier.default()
    out = sys.stdout.buffer
    failures = 0
    with _open(args.path) as fh:
        data = fh.read()
    for number, raw in _records(data):
        parsed = parse_article(raw, max_bytes=10_000_000)
        if isinstance(parsed, Rejection):
            failures += 1
            print(f"{args.path}:{number}: {parsed.reason}: {parsed.message}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        r = regions.classify(parsed)
        t1 = time.perf_counter()
        t = threats.classify(parsed)
        t2 = time.perf_counter()
        _write(
            out,
            classified_doc(
                parsed,
                parsed.id,
                Labels.of(r, t),
                utc_iso(time.time()),
                {"regions": t1 - t0, "threats": t2 - t1},
            ),
        )
    out.flush()
    return 1 if failures else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.domain.dedup import DedupConfig
    from streams.domain.pipeline import Pipeline
    from streams.domain.subscriptions import load_subscriptions

    dedup = DedupConfig() if args.dedup_window is None else DedupConfig(window_seconds=args.dedup_window)
    pipeline = Pipeline(subscriptions=load_subscriptions(args.subscriptions), dedup=dedup)
    out = sys.stdout.buffer
    source = "<stdin>" if args.path == "-" else args.path
    with _open(args.path) as fh:
        chunk: list[tuple[bytes, dict[str, Any]]] = []
        for number, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                chunk.append((raw, {"file": source, "line": number}))
            if len(chunk) >= 256:
                _write_outcomes(out, pipeline.process_batch(chunk))
                chunk = []
        _write_outcomes(out, pipeline.process_batch(chunk))
    out.flush()
    return 0


def _write_outcomes(out: IO[bytes], outcomes: list[Any]) -> None:
    for outcome in outcomes:
        _write(out, {"kind": outcome.kind, "data": outcome.data})
        for alert in outcome.alerts:
            _write(out, {"kind": "alert", "data": alert.document})


def cmd_eval(args: argparse.Namespace) -> int:
    from streams.domain.evaluation import Evaluation
    from streams.domain.ingest import Rejection, article_from_obj
    from streams.domain.regions import RegionClassifier
    from streams.domain.threats import ThreatClassifier

    regions, threats = RegionClassifier.default(), ThreatClassifier.default()
    ev = Evaluation()
    with _open(args.path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            doc = orjson.loads(line)
            labels = doc.pop("labels", None)
            article = article_from_obj(doc)
            if isinstance(article, Rejection) or not isinstance(labels, dict):
                print(f"{args.path}:{number}: not a labelled article", file=sys.stderr)
                return 2
            r, t = regions.classify(article), threats.classify(article)
            ev.add(
                article.id,
                list(labels.get("countries", [])),
                list(labels.get("threats", [])),
                [c.code for c in r.countries],
                [x.type for x in t.threats],
            )
    if args.json:
        report = ev.to_dict()
        if not args.errors:
            report.pop("errors")
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(ev.render())
        if args.errors:
            for err in ev.errors:
                print(orjson.dumps(err).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
