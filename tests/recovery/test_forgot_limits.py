"""SPEC §11: forgot-password is limited per client address (20/h) and per target (5/h);
confirming a change with the password counts as a login attempt."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from quart_blog.security.limits import LOGIN_ATTEMPTS
from tests.factories import PASSWORD, api_user, submit


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


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/v1/me/email", {"email": "a@example.org"}),
        ("/api/v1/password", {"new_password": "a brand new passphrase"}),
    ],
)
async def test_password_confirmations_share_the_login_attempt_limit(
    client: QuartClient, path: str, fields: dict[str, str]
) -> None:
    """A stolen cookie does not turn "confirm with your password" into a guessing oracle."""
    await api_user(client)
    method = client.put if path.endswith("/email") else client.post
    for _ in range(LOGIN_ATTEMPTS):  # the successful login before them cleared the count
        wrong = await method(path, json={**fields, "current_password": "a wrong guess"})
        assert wrong.status_code == 400
    limited = await method(path, json={**fields, "current_password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
