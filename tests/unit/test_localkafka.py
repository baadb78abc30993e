"""LocalKafka without Java: settings, rendered files, pid-file safety, CLI wiring."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from streams.localkafka import (
    ConfigError,
    KafkaConfig,
    LocalKafka,
    ToolMissingError,
    add_kafka_parser,
    kafka_command,
)
from streams.localkafka.config import SecureListeners, render_log4j2, render_pom, render_server_properties
from streams.localkafka.jars import ensure_jars, jars_ready
from streams.localkafka.manager import new_cluster_id, pid_alive

pytestmark = pytest.mark.unit


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_defaults_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = KafkaConfig.from_env({})
    assert (config.version, config.port, config.resolved_controller_port) == ("4.0.2", 9092, 9093)
    assert config.bootstrap == "127.0.0.1:9092"
    assert config.data_dir == tmp_path / ".kafka"
    assert config.jar_home == tmp_path / "cache" / "wirewatch" / "kafka-4.0.2"
    assert config.heap == "512m"
    assert config.jvm_opts == ("-XX:TieredStopAtLevel=1",)


def test_env_vars_are_read(tmp_path: Path) -> None:
    env = {
        "WIREWATCH_KAFKA_VERSION": "4.0.1",
        "WIREWATCH_KAFKA_HOME": str(tmp_path / "jars"),
        "WIREWATCH_KAFKA_DATA_DIR": str(tmp_path / "inst"),
        "WIREWATCH_KAFKA_PORT": "29092",
        "WIREWATCH_KAFKA_CONTROLLER_PORT": "29999",
        "WIREWATCH_KAFKA_HEAP": "1g",
        "WIREWATCH_KAFKA_HOST": "0.0.0.0",
        "WIREWATCH_KAFKA_JVM_OPTS": "-XX:+UseSerialGC '-Dx=a b'",
    }
    config = KafkaConfig.from_env(env)
    assert config.version == "4.0.1"
    assert config.jar_home == tmp_path / "jars"
    assert config.data_dir == tmp_path / "inst"
    assert (config.port, config.resolved_controller_port, config.heap) == (29092, 29999, "1g")
    assert config.bootstrap == "0.0.0.0:29092"
    assert config.jvm_opts == ("-XX:+UseSerialGC", "-Dx=a b")
    assert KafkaConfig.from_env({"WIREWATCH_KAFKA_JVM_OPTS": ""}).jvm_opts == ()


def test_cli_overrides_beat_env_and_none_means_unset(tmp_path: Path) -> None:
    env = {"WIREWATCH_KAFKA_PORT": "29092", "WIREWATCH_KAFKA_DATA_DIR": str(tmp_path / "a")}
    config = KafkaConfig.from_env(env, port=None, data_dir=str(tmp_path / "b"), controller_port=None)
    assert config.port == 29092
    assert config.resolved_controller_port == 29093
    assert config.data_dir == tmp_path / "b"


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_bad_port_is_a_clear_error(value: str) -> None:
    with pytest.raises(ConfigError, match="WIREWATCH_KAFKA_PORT"):
        KafkaConfig.from_env({"WIREWATCH_KAFKA_PORT": value})


def test_controller_port_must_differ() -> None:
    with pytest.raises(ConfigError):
        KafkaConfig(port=9092, controller_port=9092)


def test_server_properties_single_node_kraft_with_transactions(tmp_path: Path) -> None:
    config = KafkaConfig(
        data_dir=tmp_path, port=19092, controller_port=19500, extra_properties={"num.partitions": "3"}
    )
    rendered = props(render_server_properties(config))
    assert rendered["process.roles"] == "broker,controller"
    assert rendered["controller.quorum.voters"] == "1@127.0.0.1:19500"
    assert rendered["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19500"
    assert rendered["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert rendered["log.dirs"] == str(tmp_path / "data")
    # Replication 1 / min ISR 1 for the internal topics, or commits and transactions never complete.
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):  # fmt: skip
        assert rendered[key] == "1"
    assert rendered["num.partitions"] == "3"  # extra properties override defaults


def test_secure_listeners_render_tls_sasl_and_scram_format_args(tmp_path: Path) -> None:
    sec = SecureListeners(
        ssl_port=19093, sasl_plaintext_port=19094, sasl_ssl_port=19095,
        keystore=tmp_path / "broker.p12", keystore_password="ks", users={"alice": "pw-a"},
    )  # fmt: skip
    config = KafkaConfig(data_dir=tmp_path, port=19092, controller_port=19500, security=sec)
    rendered = props(render_server_properties(config))
    assert rendered["listeners"].split(",") == [
        "PLAINTEXT://127.0.0.1:19092", "CONTROLLER://127.0.0.1:19500", "SSL://127.0.0.1:19093", "SASL_PLAINTEXT://127.0.0.1:19094", "SASL_SSL://127.0.0.1:19095",
    ]  # fmt: skip
    assert "CONTROLLER" not in rendered["advertised.listeners"]
    assert rendered["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-512"
    assert rendered["ssl.keystore.location"] == str(tmp_path / "broker.p12")
    assert 'user_alice="pw-a"' in rendered["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert rendered["inter.broker.listener.name"] == "PLAINTEXT"
    assert sec.scram_format_args() == ["--add-scram", "SCRAM-SHA-512=[name=alice,password=pw-a]"]


def test_log4j_and_pom_render() -> None:
    assert "ref: STDOUT" in render_log4j2(KafkaConfig())
    pom = render_pom("4.0.2")
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<version>4.0.2</version>" in pom
    assert "log4j-slf4j-impl" in pom


def test_jars_not_ready_without_marker(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.0.2.jar").write_bytes(b"")
    assert not jars_ready(tmp_path, "4.0.2")  # an interrupted fetch leaves jars but no marker
    (tmp_path / ".complete").write_text("kafka_2.13-4.0.2.jar\n")
    assert jars_ready(tmp_path, "4.0.2")
    assert not jars_ready(tmp_path, "4.0.1")


def test_cluster_id_looks_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(cid) == 22 and not cid.startswith("-") for cid in ids)


def make_kafka(tmp_path: Path) -> LocalKafka:
    return LocalKafka(KafkaConfig(data_dir=tmp_path, port=19092))


def test_stale_pid_file_with_dead_pid_is_cleaned(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    kafka = make_kafka(tmp_path)
    kafka.config.pid_file.write_text(f"{proc.pid}\n")
    status = kafka.status()
    assert not status.running
    assert status.pid is None
    assert not kafka.config.pid_file.exists()


def test_pid_file_pointing_at_foreign_process_is_not_killed(tmp_path: Path) -> None:
    # A recycled pid now belonging to some other program: never signal it, only drop the pid file.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        kafka = make_kafka(tmp_path)
        kafka.config.pid_file.write_text(f"{proc.pid}\n")
        assert kafka.stop(timeout=1.0) is False
        assert proc.poll() is None and pid_alive(proc.pid)
        assert not kafka.config.pid_file.exists()
    finally:
        proc.kill()
        proc.wait()


def test_pid_file_of_another_instance_is_not_ours(tmp_path: Path) -> None:
    # Same main class, but another instance's config: a `stop` here must leave it alone.
    other_config = tmp_path / "other" / "server.properties"
    code = "import time; time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code, "kafka.Kafka", str(other_config)])
    try:
        kafka = make_kafka(tmp_path)
        assert not kafka.is_our_broker(proc.pid)
        fake_ours = subprocess.Popen(
            [sys.executable, "-c", code, "kafka.Kafka", str(kafka.config.server_properties)]
        )
        try:
            assert kafka.is_our_broker(fake_ours.pid)
        finally:
            fake_ours.kill()
            fake_ours.wait()
    finally:
        proc.kill()
        proc.wait()


def test_garbage_pid_file_is_cleaned(tmp_path: Path) -> None:
    kafka = make_kafka(tmp_path)
    kafka.config.pid_file.write_text("not a pid\n")
    assert kafka.live_pid() is None
    assert not kafka.config.pid_file.exists()


def test_status_cli_exit_code_when_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_command(["status", "--data-dir", str(tmp_path), "--port", "19092"]) == 3
    assert "not running" in capsys.readouterr().out
    assert kafka_command(["stop", "--data-dir", str(tmp_path)]) == 0
    assert "was not running" in capsys.readouterr().out


def test_add_kafka_parser_plugs_into_a_parent_cli(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="wirewatch")
    add_kafka_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["kafka", "status", "--data-dir", str(tmp_path), "--port", "19092"])
    assert args.command == "kafka" and args.kafka_action == "status"
    assert args.func(args) == 3


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.localkafka.jars.shutil.which", lambda _name: None)
    with pytest.raises(ToolMissingError, match="mvn not found"):
        ensure_jars(tmp_path / "home", "4.0.2")
    assert not jars_ready(tmp_path / "home", "4.0.2")
