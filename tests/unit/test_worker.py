"""The Faust worker as ``wirewatch worker`` builds it (no broker: only its logging set-up)."""

from __future__ import annotations

import logging

import faust
import pytest

from streams.service.worker import quiet_worker

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("level", [logging.WARNING, logging.ERROR])
def test_worker_keeps_the_root_logger_at_its_level(level: int) -> None:
    """Faust's spinner would set the root logger to DEBUG at WARNING and above, so every debug call
    of aiokafka (several per produced record) built a record only to be dropped."""
    app = faust.App("test-quiet-worker", broker="kafka://127.0.0.1:1", store="memory://", autodiscover=False)
    logger = logging.getLogger("test-quiet-worker-root")
    logger.addHandler(logging.NullHandler())
    logger.setLevel(level)
    try:
        plain = faust.Worker(app, loglevel=level, quiet=True)
        plain.on_setup_root_logger(logger, level)
        assert logger.level == logging.DEBUG  # what the fix is for: Faust's own behaviour
        logger.setLevel(level)
        quiet_worker(faust.Worker(app, loglevel=level, quiet=True)).on_setup_root_logger(logger, level)
        assert logger.level == level
    finally:
        logger.handlers.clear()
