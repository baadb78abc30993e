"""Command line for the local broker, built to plug into the main `wirewatch` parser as `kafka`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.localkafka.config import ConfigError, KafkaConfig
from streams.localkafka.jars import ToolMissingError
from streams.localkafka.manager import KafkaStartError, LocalKafka

# LSB init-script convention, so scripts can test `wirewatch kafka status` directly.
EXIT_NOT_RUNNING = 3


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="kafka_action", metavar="{start,stop,status}", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--port", type=int, help="client port (default: WIREWATCH_KAFKA_PORT or 9092)")
    common.add_argument(
        "--controller-port",
        type=int,
        help="KRaft controller port (default: WIREWATCH_KAFKA_CONTROLLER_PORT or port+1)",
    )
    common.add_argument(
        "--data-dir",
        help="instance dir: data, config, server.log, pid (default: WIREWATCH_KAFKA_DATA_DIR or ./.kafka)",
    )
    start = actions.add_parser("start", parents=[common], help="start the broker (no-op if it runs)")
    start.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait until it answers (default 60)"
    )
    stop = actions.add_parser("stop", parents=[common], help="stop the broker started from this data dir")
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL (default 30)")
    actions.add_parser("status", parents=[common], help="is it running, where, which pid (exit 3 if not)")
    parser.set_defaults(func=run_kafka_args)


def add_kafka_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add `kafka start|stop|status` to a parent CLI; the parsed namespace's `func(args)` runs it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "kafka", help="run a local single-node Kafka for development"
    )
    _configure(parser)
    return parser


def run_kafka_args(args: argparse.Namespace) -> int:
    """Execute parsed `kafka ...` arguments; errors become one readable line and exit code 1."""
    try:
        config = KafkaConfig.from_env(
            port=args.port, controller_port=args.controller_port, data_dir=args.data_dir
        )
        kafka = LocalKafka(config)
        if args.kafka_action == "start":
            result = kafka.start(wait=args.wait)
            if result.already_running:
                print(f"already running: {result.status.describe()}")
            else:
                print(f"{result.status.describe()} - ready in {result.seconds:.1f}s")
            return 0
        if args.kafka_action == "stop":
            before = kafka.status()
            if kafka.stop(timeout=args.timeout):
                print(f"Kafka stopped (pid {before.pid}, data {config.data_dir})")
            else:
                print(f"Kafka was not running (data {config.data_dir})")
            return 0
        status = kafka.status()
        print(status.describe())
        return 0 if status.running else EXIT_NOT_RUNNING
    except (ConfigError, ToolMissingError, KafkaStartError, RuntimeError, OSError) as exc:
        print(f"wirewatch kafka {args.kafka_action}: {exc}", file=sys.stderr)
        return 1


def kafka_command(argv: list[str]) -> int:
    """Entry point for `python -m streams.localkafka` and for `wirewatch kafka` delegating its argv."""
    parser = argparse.ArgumentParser(prog="wirewatch kafka", description="Local single-node Kafka (KRaft).")
    _configure(parser)
    return run_kafka_args(parser.parse_args(argv))
