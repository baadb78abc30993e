"""The metrics/health server binds where WIREWATCH_WEB_HOST says: loopback unless told otherwise."""

from __future__ import annotations

import pytest

from streams.service.app import create_service
from streams.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("env", "bind"), [({}, "127.0.0.1"), ({"WIREWATCH_WEB_HOST": "10.1.2.3"}, "10.1.2.3")]
)
def test_web_server_binds_to_the_configured_address(env: dict[str, str], bind: str, tmp_path: object) -> None:
    settings = Settings.from_env({**env, "WIREWATCH_STORE": "memory://", "WIREWATCH_DATA_DIR": str(tmp_path)})
    service = create_service(settings)
    assert service.app.conf.web_bind == bind
    assert service.app.conf.web_port == 6066
