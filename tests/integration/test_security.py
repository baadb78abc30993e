"""TLS and SASL (PLAIN, SCRAM-SHA-512) against a real broker; wrong passwords fail fast; no secret leaks.

One private broker for the module serves every listener (PLAINTEXT for its readiness probe, SSL,
SASL_PLAINTEXT, SASL_SSL). Its certificates are made here, with openssl and keytool: a throwaway CA and
a broker certificate for 127.0.0.1 in a PKCS12 keystore.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from support import ROOT, Worker, drain, free_port, service_env, tag, wait_until

from streams.localkafka import KafkaConfig, LocalKafka
from streams.localkafka.config import SecureListeners

pytestmark = pytest.mark.integration

KEYSTORE_PASSWORD = "ks-pass-Zq81"
ALICE_PASSWORD = "alice-pw-Hx93-never-logged"
BOB_PASSWORD = "bob-pw-Lm27-never-logged"
WRONG_PASSWORD = "wrong-pw-Qa55-never-logged"
SECRETS = (ALICE_PASSWORD, BOB_PASSWORD, WRONG_PASSWORD, KEYSTORE_PASSWORD)


def run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(where: Path) -> tuple[Path, Path]:
    """(CA certificate PEM, broker PKCS12 keystore): a CA, and a broker certificate it signs for 127.0.0.1."""
    where.mkdir(parents=True, exist_ok=True)
    days = "2"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", days, "-subj", "/CN=wirewatch-test-ca", cwd=where)  # fmt: skip
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=127.0.0.1", cwd=where)  # fmt: skip
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.pem", "-days", days, "-extfile", "san.ext", cwd=where)  # fmt: skip
    run("openssl", "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
        "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{KEYSTORE_PASSWORD}", cwd=where)  # fmt: skip
    # keytool reads it back as Java (the broker) will: a wrong format or password fails here, clearly.
    run("keytool", "-list", "-keystore", "broker.p12", "-storetype", "PKCS12",
        "-storepass", KEYSTORE_PASSWORD, cwd=where)  # fmt: skip
    return where / "ca.pem", where / "broker.p12"


@dataclass(frozen=True)
class SecureBroker:
    kafka: LocalKafka
    cafile: Path
    security: SecureListeners

    @property
    def plaintext(self) -> str:
        return self.kafka.bootstrap

    def address(self, port: int) -> str:
        return f"127.0.0.1:{port}"

    def env(self, protocol: str, mechanism: str = "", user: str = "", password: str = "") -> dict[str, str]:
        """WIREWATCH_* connection settings for one listener."""
        port = {
            "SSL": self.security.ssl_port,
            "SASL_PLAINTEXT": self.security.sasl_plaintext_port,
            "SASL_SSL": self.security.sasl_ssl_port,
        }[protocol]
        env = {"WIREWATCH_BROKER": self.address(port), "WIREWATCH_KAFKA_SECURITY_PROTOCOL": protocol}
        if "SSL" in protocol:
            env["WIREWATCH_KAFKA_SSL_CAFILE"] = str(self.cafile)
        if mechanism:
            env.update(
                WIREWATCH_KAFKA_SASL_MECHANISM=mechanism,
                WIREWATCH_KAFKA_SASL_USERNAME=user,
                WIREWATCH_KAFKA_SASL_PASSWORD=password,
            )
        return env


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    root = tmp_path_factory.mktemp("secure-kafka")
    cafile, keystore = make_certificates(root / "certs")
    security = SecureListeners(
        ssl_port=free_port(),
        sasl_plaintext_port=free_port(),
        sasl_ssl_port=free_port(),
        keystore=keystore,
        keystore_password=KEYSTORE_PASSWORD,
        users={"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD},
    )
    config = replace(
        KafkaConfig.from_env(),
        data_dir=root / "kafka",
        port=free_port(),
        controller_port=free_port(),
        security=security,
    )
    kafka = LocalKafka(config)
    try:
        kafka.start(wait=90.0)
        yield SecureBroker(kafka, cafile, security)
    finally:
        kafka.stop()


def wirewatch(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def client_env(broker: SecureBroker, t: str, **connection: str) -> dict[str, str]:
    return service_env(broker.plaintext, t, **connection)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


ARTICLE = {
    "id": "sec-1",
    "title": "North Korea fires ballistic missile toward Sea of Japan",
    "body": "SEOUL (AP) — North Korea fired a ballistic missile into the sea on Tuesday, the South's military said.",
}


@pytest.mark.parametrize(
    ("protocol", "mechanism", "user", "password"),
    [
        ("SSL", "", "", ""),
        ("SASL_PLAINTEXT", "PLAIN", "alice", ALICE_PASSWORD),
        ("SASL_SSL", "PLAIN", "bob", BOB_PASSWORD),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", BOB_PASSWORD),
        ("SASL_SSL", "SCRAM-SHA-512", "alice", ALICE_PASSWORD),
    ],
)
def test_publish_and_tail_over_each_listener(
    secure_broker: SecureBroker, tmp_path: Path, protocol: str, mechanism: str, user: str, password: str
) -> None:
    t = tag()
    env = client_env(secure_broker, t, **secure_broker.env(protocol, mechanism, user, password))
    src = tmp_path / "a.jsonl"
    src.write_bytes(orjson.dumps(ARTICLE) + b"\n")
    out = wirewatch(env, "publish", "--quiet", "--topic", f"{t}.in", str(src))
    assert out.returncode == 0, out.stderr
    tailed = wirewatch(
        env, "tail", "--topic", f"{t}.in", "--from-beginning", "--max", "1", "--json", "--timeout", "20"
    )
    assert tailed.returncode == 0, tailed.stderr
    assert orjson.loads(tailed.stdout.splitlines()[0]) == ARTICLE
    # The record really went through the broker: the PLAINTEXT listener sees it too.
    assert drain(secure_broker.plaintext, f"{t}.in", expect=1, timeout=20) == [ARTICLE]
    assert_no_secret(out.stderr + tailed.stderr + tailed.stdout)


@pytest.mark.parametrize(
    ("protocol", "mechanism"), [("SASL_PLAINTEXT", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-512")]
)
def test_wrong_password_fails_fast_with_a_clear_error(
    secure_broker: SecureBroker, tmp_path: Path, protocol: str, mechanism: str
) -> None:
    t = tag()
    env = client_env(secure_broker, t, **secure_broker.env(protocol, mechanism, "alice", WRONG_PASSWORD))
    src = tmp_path / "a.jsonl"
    src.write_bytes(orjson.dumps(ARTICLE) + b"\n")
    started = time.monotonic()
    out = wirewatch(env, "publish", "--quiet", "--topic", f"{t}.in", str(src), timeout=60)
    took = time.monotonic() - started
    assert out.returncode != 0
    assert took < 20, f"took {took:.1f}s"
    assert "authentication failed" in out.stderr.lower(), out.stderr
    assert "alice" in out.stderr and mechanism in out.stderr  # says who and how, never the password
    assert_no_secret(out.stderr + out.stdout)


def test_untrusted_broker_certificate_is_refused(secure_broker: SecureBroker, tmp_path: Path) -> None:
    t = tag()
    env = client_env(secure_broker, t, **secure_broker.env("SSL"))
    env.pop("WIREWATCH_KAFKA_SSL_CAFILE")  # the system CAs do not know our test CA
    src = tmp_path / "a.jsonl"
    src.write_bytes(orjson.dumps(ARTICLE) + b"\n")
    started = time.monotonic()
    out = wirewatch(env, "publish", "--quiet", "--topic", f"{t}.in", str(src), timeout=60)
    assert out.returncode != 0 and time.monotonic() - started < 30
    assert "certificate verify failed" in out.stderr.lower(), out.stderr


def test_worker_over_sasl_ssl_scram_processes_and_never_shows_the_password(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    t = tag()
    connection = secure_broker.env("SASL_SSL", "SCRAM-SHA-512", "alice", ALICE_PASSWORD)
    env = service_env(
        secure_broker.plaintext,
        t,
        WIREWATCH_STORE="memory://",
        WIREWATCH_DATA_DIR=str(tmp_path / "state"),
        WIREWATCH_LOG_LEVEL="debug",  # the most a log can say: still no password
        **connection,
    )
    log = tmp_path / "worker.log"
    worker = Worker(env, log).start()
    try:
        src = tmp_path / "a.jsonl"
        src.write_bytes(orjson.dumps(ARTICLE) + b"\n" + b"{broken\n")
        assert wirewatch(env, "publish", "--quiet", str(src)).returncode == 0
        wait_until(
            lambda: worker.metric("wirewatch_articles_received_total") >= 2,
            60,
            "records processed over SASL_SSL",
        )
        classified = drain(secure_broker.plaintext, f"{t}.classified", expect=1, timeout=30)
        assert [d["id"] for d in classified] == ["sec-1"]
        assert len(drain(secure_broker.plaintext, f"{t}.deadletter", expect=1, timeout=30)) == 1
        _, metrics = worker.get("/metrics")
        _, ready = worker.get("/ready")
        assert_no_secret(metrics.decode() + ready.decode())
    finally:
        worker.stop()
    text = log.read_text(errors="replace")
    assert "sasl_password" in text and "'***'" in text  # the settings line is there, masked
    assert_no_secret(text)


def test_worker_with_a_wrong_password_exits_fast_without_showing_it(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    t = tag()
    connection = secure_broker.env("SASL_SSL", "SCRAM-SHA-512", "alice", WRONG_PASSWORD)
    env = service_env(secure_broker.plaintext, t, WIREWATCH_STORE="memory://", **connection)
    env["WIREWATCH_WEB_PORT"] = str(free_port())
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode != 0 and took < 30, (took, done.stderr[-2000:])
    assert "authentication failed" in done.stderr.lower(), done.stderr[-2000:]
    assert_no_secret(done.stdout + done.stderr)
