"""CSRF rule for the JSON API: Fetch Metadata and Origin checks (SPEC §8)."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

from tests.api.helpers import all_post_ids, assert_error, assert_username_free, login_response
from tests.factories import PASSWORD, api_login, api_post, api_register, api_user

# The test client talks to http://localhost (no SERVER_NAME), so that is this site's origin.
THIS_ORIGIN = "http://localhost"

REFUSED = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "https://localhost"},
    {"Origin": "http://localhost:8000"},
    {"Origin": "http://localhost.evil.example"},
    {"Origin": THIS_ORIGIN, "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
]
ALLOWED = [
    {},
    {"Origin": THIS_ORIGIN},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "same-origin", "Origin": THIS_ORIGIN},
    {"Sec-Fetch-Site": "none"},
]


def header_id(headers: dict[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in headers.items()) or "none"


@pytest.mark.parametrize("headers", REFUSED, ids=header_id)
async def test_create_post_cross_site_403(client: QuartClient, headers: dict[str, str]) -> None:
    await api_user(client)
    response = await client.post("/api/v1/posts", json={"title": "t", "body": "b"}, headers=headers)
    await assert_error(response, 403)
    assert await all_post_ids(client) == []


@pytest.mark.parametrize("headers", ALLOWED, ids=header_id)
async def test_create_post_same_origin_allowed(
    client: QuartClient, headers: dict[str, str]
) -> None:
    await api_user(client)
    response = await client.post("/api/v1/posts", json={"title": "t", "body": "b"}, headers=headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert len(await all_post_ids(client)) == 1


@pytest.mark.parametrize("headers", REFUSED[:3], ids=header_id)
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_change_post_cross_site_403(
    client: QuartClient, method: str, headers: dict[str, str]
) -> None:
    await api_user(client)
    post = await api_post(client)
    url = f"/api/v1/posts/{post['id']}"
    response = await client.open(url, method=method, json={"title": "evil"}, headers=headers)
    await assert_error(response, 403)
    assert await (await client.get(url)).get_json() == post


@pytest.mark.parametrize("headers", REFUSED[:3], ids=header_id)
async def test_register_cross_site_403(client: QuartClient, headers: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/register", json={"username": "bob", "password": PASSWORD}, headers=headers
    )
    await assert_error(response, 403)
    await assert_username_free(client, "bob")


@pytest.mark.parametrize("headers", REFUSED[:3], ids=header_id)
async def test_login_cross_site_403(client: QuartClient, headers: dict[str, str]) -> None:
    await api_register(client)
    response = await client.post(
        "/api/v1/login", json={"username": "alice", "password": PASSWORD}, headers=headers
    )
    await assert_error(response, 403)
    await assert_error(await client.get("/api/v1/me"), 401)


@pytest.mark.parametrize("headers", REFUSED[:3], ids=header_id)
async def test_logout_cross_site_403(client: QuartClient, headers: dict[str, str]) -> None:
    await api_user(client)
    await assert_error(await client.post("/api/v1/logout", headers=headers), 403)
    assert (await client.get("/api/v1/me")).status_code == 200


@pytest.mark.parametrize("headers", REFUSED[:3], ids=header_id)
async def test_password_cross_site_403(
    client: QuartClient, other_client: QuartClient, headers: dict[str, str]
) -> None:
    await api_user(client)
    response = await client.post(
        "/api/v1/password",
        json={"current_password": PASSWORD, "new_password": "attacker's choice"},
        headers=headers,
    )
    await assert_error(response, 403)
    assert (await login_response(other_client, "alice", "attacker's choice")).status_code == 401
    await api_login(other_client)


async def test_get_cross_site_not_refused(client: QuartClient) -> None:
    await api_user(client)
    response = await client.get("/api/v1/me", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
