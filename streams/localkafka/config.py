"""Settings of the local development broker and the files rendered from them.

Everything here is pure (no processes, no network), so it is unit-tested without Java.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_VERSION = "4.0.2"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_HEAP = "512m"
DEFAULT_DATA_DIR = ".kafka"
# C1-only JIT: the broker is ready in ~40% less CPU time, which matters on small CI machines and
# laptops; set WIREWATCH_KAFKA_JVM_OPTS="" for full JIT when benchmarking throughput.
DEFAULT_JVM_OPTS = "-XX:TieredStopAtLevel=1"
# Kafka is built for one Scala version per release; 2.13 is the only one shipped for 4.x.
SCALA_VERSION = "2.13"
# Must match the log4j-api version kafka_2.13 pulls in; slf4j routes Kafka's logging to log4j2.
LOG4J_VERSION = "2.24.3"


class ConfigError(ValueError):
    """A WIREWATCH_KAFKA_* setting has a value we cannot use."""


def default_home(version: str) -> Path:
    """Jar cache shared by every instance (and every test session) of one Kafka version."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wirewatch" / f"kafka-{version}"


def _port(value: str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a port number, got {value!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be between 1 and 65535, got {port}")
    return port


@dataclass(frozen=True)
class SecureListeners:
    """TLS and SASL listeners next to the PLAINTEXT one, so one broker serves every client setup.

    For tests and for trying security settings locally: SSL, SASL_PLAINTEXT and SASL_SSL ports, a
    PKCS12 keystore for TLS, and users known to both PLAIN and SCRAM-SHA-512 (SCRAM credentials are
    written into the cluster metadata when the storage is formatted, the KRaft way). The PLAINTEXT
    listener stays: the readiness probe and inter-broker traffic use it.
    """

    ssl_port: int
    sasl_plaintext_port: int
    sasl_ssl_port: int
    keystore: Path
    keystore_password: str
    users: Mapping[str, str] = field(default_factory=dict)
    """user name -> password, for PLAIN and for SCRAM-SHA-512."""

    def scram_format_args(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM-SHA-512 credentials."""
        args: list[str] = []
        for name, password in self.users.items():
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return args


@dataclass(frozen=True)
class KafkaConfig:
    """One local single-node KRaft broker (broker and controller in one JVM)."""

    version: str = DEFAULT_VERSION
    """Apache Kafka release fetched from Maven Central (WIREWATCH_KAFKA_VERSION)."""
    home: Path | None = None
    """Jar cache (WIREWATCH_KAFKA_HOME); None means ~/.cache/wirewatch/kafka-<version>."""
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    """Instance dir holding log segments, config, server log and pid file (WIREWATCH_KAFKA_DATA_DIR)."""
    host: str = DEFAULT_HOST
    """Address the broker binds to and advertises (WIREWATCH_KAFKA_HOST)."""
    port: int = DEFAULT_PORT
    """Client (PLAINTEXT) port (WIREWATCH_KAFKA_PORT)."""
    controller_port: int | None = None
    """KRaft controller port (WIREWATCH_KAFKA_CONTROLLER_PORT); None means port + 1."""
    heap: str = DEFAULT_HEAP
    """JVM max heap, as for -Xmx (WIREWATCH_KAFKA_HEAP)."""
    jvm_opts: tuple[str, ...] = tuple(shlex.split(DEFAULT_JVM_OPTS))
    """Extra JVM flags, shell-quoted (WIREWATCH_KAFKA_JVM_OPTS); an empty value means none."""
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    """Overrides appended to server.properties (tests use it; no env var)."""
    security: SecureListeners | None = None
    """Extra TLS/SASL listeners (tests use it; no env var)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> KafkaConfig:
        """Read WIREWATCH_KAFKA_*; keyword overrides (e.g. from CLI flags) win when not None."""
        env = os.environ if environ is None else environ
        controller = env.get("WIREWATCH_KAFKA_CONTROLLER_PORT")
        home = env.get("WIREWATCH_KAFKA_HOME")
        config = cls(
            version=env.get("WIREWATCH_KAFKA_VERSION") or DEFAULT_VERSION,
            home=Path(home).expanduser() if home else None,
            data_dir=Path(env.get("WIREWATCH_KAFKA_DATA_DIR") or DEFAULT_DATA_DIR).expanduser(),
            host=env.get("WIREWATCH_KAFKA_HOST") or DEFAULT_HOST,
            port=_port(env.get("WIREWATCH_KAFKA_PORT") or str(DEFAULT_PORT), "WIREWATCH_KAFKA_PORT"),
            controller_port=(_port(controller, "WIREWATCH_KAFKA_CONTROLLER_PORT") if controller else None),
            heap=env.get("WIREWATCH_KAFKA_HEAP") or DEFAULT_HEAP,
            jvm_opts=tuple(shlex.split(env.get("WIREWATCH_KAFKA_JVM_OPTS", DEFAULT_JVM_OPTS))),
        )
        given = {key: value for key, value in overrides.items() if value is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(str(given["data_dir"])).expanduser()
        return replace(config, **given)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        # Paths are made absolute once so the pid check can match the config path in the cmdline.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if self.home is not None:
            object.__setattr__(self, "home", Path(self.home).expanduser().absolute())
        if self.resolved_controller_port == self.port:
            raise ConfigError("the controller port must differ from the client port")

    @property
    def jar_home(self) -> Path:
        return self.home if self.home is not None else default_home(self.version)

    @property
    def resolved_controller_port(self) -> int:
        return self.controller_port if self.controller_port is not None else self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "data"

    @property
    def server_properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_config(self) -> Path:
        return self.data_dir / "log4j2.yaml"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def cluster_id_file(self) -> Path:
        return self.data_dir / "cluster.id"


def render_server_properties(config: KafkaConfig) -> str:
    """server.properties for one combined broker+controller node that also runs transactions."""
    cport = config.resolved_controller_port
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{config.host}:{cport}",
        "listeners": f"PLAINTEXT://{config.host}:{config.port},CONTROLLER://{config.host}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{config.host}:{config.port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(config.log_dirs),
        "num.partitions": "1",
        # The internal topics default to replication 3, which one node can never satisfy:
        # group commits and transactions would hang without these.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Dev broker: consumers join at once and topics appear on first use.
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # On restart the controller keeps the previous incarnation's registration until its session
        # expires (default 9 s) and rejects the new one meanwhile; a short session makes restarts fast.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "delete.topic.enable": "true",
    }
    if config.security is not None:
        props.update(security_properties(config.host, config.port, cport, config.security))
    props.update(config.extra_properties)
    lines = [f"# Written by wirewatch on every start; edits are overwritten (Kafka {config.version})."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def security_properties(host: str, port: int, cport: int, sec: SecureListeners) -> dict[str, str]:
    """Listener, TLS and SASL properties for :class:`SecureListeners`."""
    plain_users = " ".join(f'user_{name}="{password}"' for name, password in sec.users.items())
    props = {
        "listeners": (
            f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport},SSL://{host}:{sec.ssl_port},"
            f"SASL_PLAINTEXT://{host}:{sec.sasl_plaintext_port},SASL_SSL://{host}:{sec.sasl_ssl_port}"
        ),
        "advertised.listeners": (
            f"PLAINTEXT://{host}:{port},SSL://{host}:{sec.ssl_port},"
            f"SASL_PLAINTEXT://{host}:{sec.sasl_plaintext_port},SASL_SSL://{host}:{sec.sasl_ssl_port}"
        ),
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(sec.keystore),
        "ssl.keystore.password": sec.keystore_password,
        "ssl.key.password": sec.keystore_password,
        "ssl.client.auth": "none",
    }
    for listener in ("sasl_plaintext", "sasl_ssl"):
        props[f"listener.name.{listener}.plain.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        )
        props[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
    return props


def render_log4j2(config: KafkaConfig) -> str:
    """Log4j2 config: broker output goes to stdout, which the manager redirects to server.log."""
    return (
        "Configuration:\n"
        "  name: wirewatch-kafka\n"
        "  Appenders:\n"
        "    Console:\n"
        "      name: STDOUT\n"
        "      PatternLayout:\n"
        '        pattern: "[%d] %p %m (%c)%n"\n'
        "  Loggers:\n"
        "    Root:\n"
        "      level: INFO\n"
        "      AppenderRef:\n"
        "        - ref: STDOUT\n"
        "    Logger:\n"
        # The controller and request logs are chatty at INFO and hide the lines that matter.
        "      - name: kafka.controller\n"
        "        level: WARN\n"
        "      - name: org.apache.kafka.controller\n"
        "        level: WARN\n"
        "      - name: state.change.logger\n"
        "        level: WARN\n"
        "      - name: kafka.request.logger\n"
        "        level: WARN\n"
    )


def render_pom(version: str) -> str:
    """A throwaway pom whose runtime dependency closure is exactly the broker's classpath."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.wirewatch</groupId>
  <artifactId>wirewatch-kafka-jars</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""
