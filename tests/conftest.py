"""Shared fixtures: one real Kafka broker per test session, started only if an integration test asks.

Set WIREWATCH_TEST_BROKER=host:port to use an existing broker instead (e.g. in CI).
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from streams import native
from streams.localkafka import KafkaConfig, LocalKafka


def pytest_sessionstart(session: pytest.Session) -> None:
    """Test what ships: the compiled domain core, built from these very sources (an extension module
    shadows its edited ``.py``, so a stale build would be tested silently)."""
    problem = native.checkout_problem()
    if problem:
        pytest.exit(f"the compiled domain core does not match its sources: {problem}", returncode=3)


def free_port() -> int:
    """A port nobody listens on now (the OS may hand it out again later; good enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def local_kafka(data_dir: Path) -> LocalKafka:
    """A LocalKafka on free ports in data_dir, sharing the user's jar cache (fetched once)."""
    config = replace(KafkaConfig.from_env(), data_dir=data_dir, port=free_port(), controller_port=free_port())
    return LocalKafka(config)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bootstrap_servers of a real broker for this session; stopped at the end, even after failures."""
    external = os.environ.get("WIREWATCH_TEST_BROKER")
    if external:
        yield external
        return
    kafka = local_kafka(tmp_path_factory.mktemp("kafka"))
    # Backstop for exits that skip fixture finalisation (e.g. an interpreter shutting down on an error).
    atexit.register(kafka.stop, 10.0)
    try:
        kafka.start(wait=90.0)
        yield kafka.bootstrap
    finally:
        kafka.stop()
        atexit.unregister(kafka.stop)


@pytest.fixture
def kafka_factory() -> Iterator[Callable[[Path], LocalKafka]]:
    """Extra private brokers (not started) for lifecycle tests; any left running are stopped at teardown."""
    made: list[LocalKafka] = []

    def make(data_dir: Path) -> LocalKafka:
        made.append(local_kafka(data_dir))
        return made[-1]

    yield make
    for kafka in made:
        kafka.stop()


@pytest.fixture
def topic_factory(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make topic names unique per call, so tests sharing the session broker never see each other's data."""
    test = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]

    def make(purpose: str = "t") -> str:
        return f"test.{test}.{purpose}.{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def unique_topic(topic_factory: Callable[[str], str]) -> str:
    return topic_factory("topic")


# --- contracts -----------------------------------------------------------------------------------
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
CONTRACTS = ("article", "classified", "duplicate", "deadletter", "alert", "subscription")


def _schema_registry() -> object:
    import json

    from referencing import Registry, Resource

    resources = []
    for path in SCHEMA_DIR.glob("*.json"):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@pytest.fixture(scope="session")
def contract() -> Callable[[str, object], None]:
    """``contract(kind, doc)`` raises jsonschema.ValidationError unless doc meets ``schemas/<kind>.json``.

    ``doc`` is checked as the service emits it, through orjson: a domain document holds its labels
    as ``orjson.Fragment``s."""
    import json

    import orjson
    from jsonschema import Draft202012Validator, FormatChecker

    registry = _schema_registry()
    validators = {
        kind: Draft202012Validator(
            json.loads((SCHEMA_DIR / f"{kind}.json").read_text()),
            registry=registry,
            format_checker=FormatChecker(),
        )
        for kind in CONTRACTS
    }

    def check(kind: str, doc: object) -> None:
        validators[kind].validate(orjson.loads(orjson.dumps(doc)))

    return check
