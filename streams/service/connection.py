"""Kafka connection options (TLS, SASL) from settings, for Faust and for plain aiokafka clients."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from streams.settings import Settings

#: What a Kafka record adds to its key and value: an upper bound of aiokafka's
#: ``estimate_size_in_bytes`` for one record without headers (batch header 61, record header 21),
#: which its producer checks against ``max_request_size`` (``WIREWATCH_MAX_MESSAGE_BYTES``).
RECORD_OVERHEAD = 128


def record_fits(settings: Settings, key: bytes | None, value_size: int) -> bool:
    """Whether a producer of ours takes a record of this key and value size."""
    return value_size + (len(key) if key else 0) + RECORD_OVERHEAD <= settings.max_message_bytes


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol:
        return None
    ctx = ssl.create_default_context(cafile=settings.ssl_cafile or None)
    if settings.ssl_certfile:
        ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None)
    return ctx


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka producer, consumer and admin client we build."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    ctx = ssl_context(settings)
    if ctx is not None:
        opts["ssl_context"] = ctx
    if settings.security_protocol.startswith("SASL"):
        opts.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return opts


def producer_options(settings: Settings) -> dict[str, Any]:
    """:func:`aiokafka_options` plus what only producers take."""
    return {
        **aiokafka_options(settings),
        "compression_type": settings.compression_type,
        "max_request_size": settings.max_message_bytes,
    }


def faust_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials`` for the configured protocol (None for PLAINTEXT)."""
    import faust

    ctx = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=ctx,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def subscriptions_consumer(settings: Settings) -> Any:
    """A group-less consumer of the whole subscriptions topic from its beginning: every reader (each
    worker, ``wirewatch subscribe list``) must see every change, tombstones included."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        settings.topic_subscriptions,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_options(settings),
    )


def describe(settings: Settings) -> str:
    """Where and how we connect, for error messages: protocol, mechanism and user, never the password."""
    how = settings.security_protocol
    if how.startswith("SASL"):
        how += f", {settings.sasl_mechanism} as {settings.sasl_username!r}"
    return f"{settings.broker} ({how})"


def redact(text: str, settings: Settings) -> str:
    """``text`` with every secret setting's value masked: exceptions can quote what they were given."""
    for secret in (settings.sasl_password,):
        if secret:
            text = text.replace(secret, "***")
    return text


async def diagnose(settings: Settings, seconds: float = 10.0) -> str | None:
    """Why connecting to the first bootstrap server fails, or None when it works.

    aiokafka's clients only say "Unable to bootstrap" and log the cause (a refused TLS handshake, a
    failed SASL authentication); one direct connection brings the cause back as an exception.
    """
    from aiokafka.conn import create_conn

    host, _, port = settings.bootstrap_servers[0].rpartition(":")
    opts = aiokafka_options(settings)
    del opts["bootstrap_servers"]
    try:
        async with asyncio.timeout(seconds):
            conn = await create_conn(host, int(port), request_timeout_ms=int(seconds * 1000), **opts)
        conn.close()
    except Exception as exc:  # the cause is the point: report whatever it is
        return redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, settings)
    return None
