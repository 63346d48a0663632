"""SPEC §11: forgot-password is limited per client address (20/h) and per target (5/h)."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from tests.factories import submit


@pytest.fixture
def app_overrides(app_overrides: dict[str, str]) -> dict[str, str]:
    return {**app_overrides, "RATE_LIMITS": "on"}


async def test_five_an_hour_per_target_address(client: QuartClient) -> None:
    for _ in range(5):
        response = await client.post("/api/v1/password/forgot", json={"email": "x@example.org"})
        assert response.status_code == 202
    limited = await client.post("/api/v1/password/forgot", json={"email": "X@example.org"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert (await limited.get_json())["error"]["code"]
    # Another address from the same client is still allowed.
    other = await client.post("/api/v1/password/forgot", json={"email": "y@example.org"})
    assert other.status_code == 202


async def test_twenty_an_hour_per_client_across_page_and_api(client: QuartClient) -> None:
    for n in range(20):
        response = await client.post(
            "/api/v1/password/forgot", json={"email": f"user{n}@example.org"}
        )
        assert response.status_code == 202, n
    limited = await client.post("/api/v1/password/forgot", json={"email": "last@example.org"})
    assert limited.status_code == 429
    page = await submit(client, "/forgot-password", {"email": "p@example.org"}, "/forgot-password")
    assert page.status_code == 429  # one bucket for the page and the API
