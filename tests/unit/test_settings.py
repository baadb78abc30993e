"""Settings from the environment; the README documents every variable; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, settings_table

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.bootstrap_servers == ["127.0.0.1:9092"]
    assert s.web_port == 6066 and s.partitions == 1 and s.store == "rocksdb://"


def test_env_overrides_and_types() -> None:
    s = Settings.from_env(
        {
            "WIREWATCH_BROKER": "kafka://a:1, b:2",
            "WIREWATCH_PARTITIONS": "6",
            "WIREWATCH_DEDUP_THRESHOLD": "0.4",
        }
    )
    assert s.bootstrap_servers == ["a:1", "b:2"]
    assert s.partitions == 6 and s.dedup_threshold == 0.4


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WIREWATCH_PARTITIONS": "six"}, "WIREWATCH_PARTITIONS: expected int"),
        ({"WIREWATCH_PARTITIONS": "0"}, "partitions must be >= 1"),
        ({"WIREWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "unknown protocol"),
        ({"WIREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "SASL_MECHANISM"),
        ({"WIREWATCH_PROCESSING_GUARANTEE": "maybe"}, "PROCESSING_GUARANTEE"),
        ({"WIREWATCH_PRODUCER_COMPRESSION": "brotli"}, "PRODUCER_COMPRESSION: unknown 'brotli'"),
        ({"WIREWATCH_MAX_MESSAGE_BYTES": "1000"}, "WIREWATCH_MAX_MESSAGE_BYTES must be >= 65536"),
        ({"WIREWATCH_CLASSIFIER_NICE": "-1"}, "WIREWATCH_CLASSIFIER_NICE must be between"),
        ({"WIREWATCH_CLASSIFIER_NICE": "20"}, "WIREWATCH_CLASSIFIER_NICE must be between"),
        ({"WIREWATCH_MALLOC_KEEP_BYTES": "-1"}, "WIREWATCH_MALLOC_KEEP_BYTES must be between"),
        ({"WIREWATCH_MALLOC_KEEP_BYTES": str(2**32)}, "WIREWATCH_MALLOC_KEEP_BYTES must be between"),
        ({"WIREWATCH_GC_THRESHOLD": "-1"}, "WIREWATCH_GC_THRESHOLD must be >= 0"),
    ],
)
def test_invalid_settings_fail_with_the_variable_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_password_never_in_repr_or_public() -> None:
    s = Settings.from_env(
        {
            "WIREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "WIREWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "WIREWATCH_KAFKA_SASL_PASSWORD": "hunter2-secret",
        }
    )
    assert "hunter2-secret" not in repr(s)
    assert "hunter2-secret" not in str(s.public())
    assert s.public()["sasl_password"] == "***"


def test_readme_documents_every_variable() -> None:
    readme = README.read_text()
    missing = [name for name, _default, _doc in settings_table() if f"`{name}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"
