"""Behind a trusted proxy the log names the client the proxy saw, not the proxy."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from tests.events.helpers import events_of
from tests.factories import PASSWORD, api_register

PROXY = ("10.0.0.2", 40000)


@pytest.fixture
def app_overrides(app_overrides: dict[str, str]) -> dict[str, str]:
    return {**app_overrides, "TRUSTED_PROXIES": "1"}


async def test_address_comes_from_the_trusted_hop(client: QuartClient) -> None:
    await api_register(client)
    response = await client.post(
        "/api/v1/login",
        json={"username": "alice", "password": PASSWORD},
        # A client-chosen entry, then the one the proxy added: only the last hop is trusted.
        headers={"X-Forwarded-For": "192.0.2.66, 203.0.113.9"},
        scope_base={"client": PROXY},
    )
    assert response.status_code == 200
    [event] = await events_of(client)
    assert event["address"] == "203.0.113.9"
