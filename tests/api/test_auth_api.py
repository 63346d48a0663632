"""The API's accounts: register, login, remember, logout, /me, password change (SPEC §6-§8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from quart.testing import QuartClient

from tests.api.helpers import AUTH_COOKIE, assert_error, login_response, set_cookies
from tests.factories import PASSWORD, api_login, api_register, api_user

THIRTY_DAYS = 30 * 24 * 3600


async def test_register_valid_returns_id_and_username(client: QuartClient) -> None:
    response = await client.post(
        "/api/v1/register", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == {"id", "username"}
    assert isinstance(body["id"], int)
    assert body["username"] == "alice"


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "A.b_c-9", "___", "..."],
    ids=["3-chars", "32-chars", "all-classes", "underscores", "dots"],
)
async def test_register_username_edges_accepted(client: QuartClient, username: str) -> None:
    assert (await api_register(client, username))["username"] == username


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 33, "", "al ice", "alice!", "ali/ce", "álice", "alice\n", "al\tice", "al@ice"],
    ids=["2", "33", "empty", "space", "bang", "slash", "non-ascii", "newline", "tab", "at"],
)
async def test_register_username_invalid_422(client: QuartClient, username: str) -> None:
    response = await client.post(
        "/api/v1/register", json={"username": username, "password": PASSWORD}
    )
    await assert_error(response, {400, 422})
    # nothing stored: the name cannot log in
    assert (await login_response(client, username)).status_code in {401, 422}


@pytest.mark.parametrize(
    "password", ["x" * 7, "x" * 1025, ""], ids=["7-chars", "1025-chars", "empty"]
)
async def test_register_password_invalid_422(client: QuartClient, password: str) -> None:
    response = await client.post("/api/v1/register", json={"username": "bob", "password": password})
    await assert_error(response, {400, 422})
    await api_register(client, "bob")  # the name is still free


@pytest.mark.parametrize(
    "password",
    ["k7#Qm!2z", "x" * 1024, "pass word with spaces", "пароль-ünïcödé ✓ 🔑"],
    ids=["8-chars", "1024-chars", "spaces", "unicode"],
)
async def test_register_password_edges_accepted(client: QuartClient, password: str) -> None:
    await api_register(client, "bob", password)
    assert (await api_login(client, "bob", password))["username"] == "bob"


@pytest.mark.parametrize("taken", ["alice", "Alice", "ALICE", "aLiCe"])
async def test_register_taken_any_case_409(client: QuartClient, taken: str) -> None:
    await api_register(client, "alice")
    response = await client.post("/api/v1/register", json={"username": taken, "password": PASSWORD})
    await assert_error(response, 409)
    # the original account is intact and the newcomer's password does not work for it
    assert (await login_response(client, "alice", "other password")).status_code == 401
    await api_login(client, "alice")


async def test_register_long_passwords_sharing_72_bytes_differ(client: QuartClient) -> None:
    await api_register(client, "bob", "a" * 72 + "right")
    assert (await login_response(client, "bob", "a" * 72 + "wrong")).status_code == 401
    await api_login(client, "bob", "a" * 72 + "right")


async def test_login_valid_sets_httponly_lax_cookie(client: QuartClient) -> None:
    user = await api_register(client)
    response = await login_response(client)
    assert response.status_code == 200
    assert await response.get_json() == user
    cookies = set_cookies(response)
    assert AUTH_COOKIE in cookies
    for name, attributes in cookies.items():
        assert "httponly" in attributes, name
        assert attributes.get("samesite", "").lower() == "lax", name
        assert "secure" not in attributes, name  # plain http
    assert "max-age" not in cookies[AUTH_COOKIE]
    assert "expires" not in cookies[AUTH_COOKIE]


async def test_login_wrong_password_and_unknown_user_same_401(client: QuartClient) -> None:
    await api_register(client)
    wrong = await login_response(client, "alice", "not the password")
    unknown = await login_response(client, "nobody", PASSWORD)
    wrong_error = await assert_error(wrong, 401)
    unknown_error = await assert_error(unknown, 401)
    assert wrong_error == unknown_error
    assert AUTH_COOKIE not in set_cookies(wrong) | set_cookies(unknown)
    await assert_error(await client.get("/api/v1/me"), 401)


async def test_login_remember_gives_30_day_cookie(client: QuartClient) -> None:
    await api_register(client)
    response = await login_response(client, remember=True)
    assert response.status_code == 200
    cookie = set_cookies(response)[AUTH_COOKIE]
    assert "max-age" in cookie or "expires" in cookie
    if "max-age" in cookie:
        assert abs(int(cookie["max-age"]) - THIRTY_DAYS) <= 3600
    if "expires" in cookie:
        expires = parsedate_to_datetime(cookie["expires"])
        assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) <= timedelta(hours=1)


async def test_login_remember_false_gives_session_cookie(client: QuartClient) -> None:
    await api_register(client)
    response = await login_response(client, remember=False)
    cookie = set_cookies(response)[AUTH_COOKIE]
    assert "max-age" not in cookie and "expires" not in cookie


async def test_logout_ends_session(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post("/api/v1/logout")
    assert response.status_code == 204
    assert await response.get_data() == b""
    await assert_error(await client.get("/api/v1/me"), 401)
    await assert_error(await client.post("/api/v1/logout"), 401)


async def test_logout_copied_cookie_refused_afterwards(
    client: QuartClient, other_client: QuartClient
) -> None:
    await api_register(client)
    token = set_cookies(await login_response(client))[AUTH_COOKIE][""]
    stolen = {"Cookie": f"{AUTH_COOKIE}={token}"}
    assert (await other_client.get("/api/v1/me", headers=stolen)).status_code == 200
    assert (await client.post("/api/v1/logout")).status_code == 204
    await assert_error(await other_client.get("/api/v1/me", headers=stolen), 401)
    replay = await other_client.post(
        "/api/v1/posts", json={"title": "t", "body": "b"}, headers=stolen
    )
    await assert_error(replay, 401)


async def test_logout_anonymous_401(client: QuartClient) -> None:
    await assert_error(await client.post("/api/v1/logout"), 401)


async def test_me_logged_in_returns_user(client: QuartClient) -> None:
    user = await api_user(client)
    response = await client.get("/api/v1/me")
    assert response.status_code == 200
    assert await response.get_json() == {**user, "email": None, "email_verified": False}


@pytest.mark.parametrize("cookie", [None, "garbage", "a.b.c"])
async def test_me_anonymous_or_forged_cookie_401(client: QuartClient, cookie: str | None) -> None:
    headers = {} if cookie is None else {"Cookie": f"{AUTH_COOKIE}={cookie}"}
    await assert_error(await client.get("/api/v1/me", headers=headers), 401)


async def change_password(client: QuartClient, current: str, new: str) -> int:
    response = await client.post(
        "/api/v1/password", json={"current_password": current, "new_password": new}
    )
    if response.status_code != 204:
        await assert_error(response, response.status_code)
    return response.status_code


async def test_password_change_revokes_other_sessions(
    client: QuartClient, other_client: QuartClient
) -> None:
    await api_user(client)
    await api_login(other_client)
    assert await change_password(client, PASSWORD, "brand new password") == 204
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.post("/api/v1/posts", json={"title": "t", "body": "b"})).status_code == 201
    await assert_error(await other_client.get("/api/v1/me"), 401)
    assert (await login_response(other_client, "alice", PASSWORD)).status_code == 401
    await api_login(other_client, "alice", "brand new password")


async def test_password_wrong_current_400(client: QuartClient, other_client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(
        "/api/v1/password",
        json={"current_password": "not the password", "new_password": "brand new password"},
    )
    await assert_error(response, 400)
    assert (await login_response(other_client, "alice", "brand new password")).status_code == 401
    await api_login(other_client)


async def test_password_new_too_short_422(client: QuartClient, other_client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(
        "/api/v1/password", json={"current_password": PASSWORD, "new_password": "short"}
    )
    await assert_error(response, {400, 422})
    assert (await login_response(other_client, "alice", "short")).status_code == 401
    await api_login(other_client)


async def test_password_anonymous_401(client: QuartClient) -> None:
    await api_register(client)
    response = await client.post(
        "/api/v1/password", json={"current_password": PASSWORD, "new_password": "brand new one"}
    )
    await assert_error(response, 401)
    await api_login(client)
