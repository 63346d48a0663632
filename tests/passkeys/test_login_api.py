"""Signing in with a passkey (SPEC §12): no username, both factors, every refusal a 401."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from passlib.totp import TOTP
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock, create_app
from quart_blog.clock import ManualClock
from quart_blog.passkeys.challenges import COOKIE_PATH, cookie_name
from quart_blog.security.limits import LOGIN_PER_ADDRESS
from tests.api.helpers import AUTH_COOKIE, JSON_HEADERS, assert_error, set_cookies
from tests.factories import api_register, api_user
from tests.passkeys.authenticator import SoftAuthenticator
from tests.passkeys.conftest import PUBLIC_URL, RP_ID
from tests.passkeys.helpers import (
    LOGIN,
    LOGIN_OPTIONS,
    add_passkey,
    events,
    listed,
    options,
    sign_in,
    stored_passkeys,
)
from tests.views.helpers import sql

LOGIN_COOKIE = cookie_name("login")


@pytest.fixture
async def alice(client: QuartClient, authenticator: SoftAuthenticator) -> dict[str, Any]:
    """alice with a passkey on ``authenticator``; ``client`` is logged out again."""
    user = await api_user(client)
    await add_passkey(client, authenticator)
    assert (await client.post("/api/v1/logout")).status_code == 204
    return user


async def is_logged_in(client: QuartClient) -> bool:
    response = await client.get("/api/v1/me")
    assert response.status_code in (200, 401)
    return response.status_code == 200


async def test_request_options_name_no_user(client: QuartClient) -> None:
    response = await client.post(LOGIN_OPTIONS)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["rpId"] == RP_ID
    assert body["userVerification"] == "required"
    assert body.get("allowCredentials", []) == []  # a discoverable credential names the user
    cookie = set_cookies(response)[LOGIN_COOKIE]
    assert (cookie["path"], cookie["samesite"]) == (COOKIE_PATH, "Strict")
    assert "httponly" in cookie


async def test_sign_in_without_a_username(
    alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    response = await sign_in(client, authenticator)
    assert response.status_code == 200
    assert await response.get_json() == {"id": alice["id"], "username": "alice"}
    assert AUTH_COOKIE in set_cookies(response)
    assert await is_logged_in(client)
    # A fresh login counts as recent authentication: sensitive actions are allowed.
    assert (await client.post("/api/v1/passkeys/register/options")).status_code == 200


async def test_a_use_updates_the_count_and_last_used(
    app: Quart, alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    assert (await sign_in(client, authenticator)).status_code == 200
    assert (await sign_in(client, authenticator)).status_code == 200
    [(_id, _user, _name, count, last_used)] = await stored_passkeys(app)
    assert count == 2
    assert last_used is not None
    [item] = await listed(client)
    assert item["last_used_at"] is not None


async def test_a_passkey_is_both_factors(
    alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    """With TOTP on, the password login asks for a code; a passkey login does not."""
    login = await client.post(
        "/api/v1/login", json={"username": "alice", "password": "correct horse battery"}
    )
    assert login.status_code == 200
    enrol = await client.post("/api/v1/me/2fa/totp")
    assert enrol.status_code == 200, await enrol.get_data(as_text=True)
    secret = (await enrol.get_json())["secret"]
    code = TOTP(key=secret, format="base32").generate().token
    confirm = await client.post("/api/v1/me/2fa/totp/confirm", json={"code": code})
    assert confirm.status_code == 200, await confirm.get_data(as_text=True)
    assert (await client.post("/api/v1/logout")).status_code == 204
    password_login = await client.post(
        "/api/v1/login", json={"username": "alice", "password": "correct horse battery"}
    )
    await assert_error(password_login, 401, "mfa_required")
    assert not await is_logged_in(client)

    response = await sign_in(client, authenticator)
    assert response.status_code == 200
    assert await is_logged_in(client)


@pytest.mark.parametrize(
    ("falsify", "why"),
    [
        ({"origin": "https://evil.example"}, "signed for another origin"),
        ({"origin": "http://localhost"}, "signed for the request's Host, not PUBLIC_URL"),
        ({"origin": "https://blog.example.org:8443"}, "another port is another origin"),
        ({"rp_id": "evil.example"}, "for another relying party"),
        ({"user_verified": False}, "no user verification: one factor only"),
        ({"tamper_signature": True}, "a bad signature"),
        ({"user_handle": b"999"}, "a user handle that is not the credential's"),
    ],
)
async def test_a_response_that_does_not_verify_is_401_and_no_session(
    alice: dict[str, Any],
    client: QuartClient,
    authenticator: SoftAuthenticator,
    falsify: dict[str, Any],
    why: str,
) -> None:
    response = await sign_in(client, authenticator, **falsify)
    await assert_error(response, 401, "invalid_credentials")
    assert AUTH_COOKIE not in set_cookies(response), why
    assert not await is_logged_in(client), why


async def test_an_unknown_credential_is_401(client: QuartClient) -> None:
    await api_register(client)
    stranger = SoftAuthenticator(PUBLIC_URL)
    stranger.create(
        {"rp": {"id": RP_ID}, "user": {"id": "MQ"}, "challenge": "AAAA"}
    )  # made, never registered
    await assert_error(await sign_in(client, stranger), 401, "invalid_credentials")
    assert not await is_logged_in(client)


async def test_a_used_challenge_is_refused(
    alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    response = await client.post(LOGIN_OPTIONS)
    token = set_cookies(response)[LOGIN_COOKIE][""]
    assertion = authenticator.get(await response.get_json())
    assert (await client.post(LOGIN, json={"credential": assertion})).status_code == 200
    assert (await client.post("/api/v1/logout")).status_code == 204
    # The very same response, and even the same challenge cookie: refused.
    client.set_cookie("localhost", LOGIN_COOKIE, token, path=COOKIE_PATH)
    replay = await client.post(LOGIN, json={"credential": assertion})
    await assert_error(replay, 401, "invalid_credentials")
    assert not await is_logged_in(client)


async def test_an_expired_challenge_is_refused(
    alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        assertion = authenticator.get(await options(client, LOGIN_OPTIONS))
        manual.advance(121)
        response = await client.post(LOGIN, json={"credential": assertion})
        await assert_error(response, 401, "invalid_credentials")
        assert not await is_logged_in(client)


async def test_a_response_without_its_challenge_cookie_is_refused(
    alice: dict[str, Any],
    client: QuartClient,
    other_client: QuartClient,
    authenticator: SoftAuthenticator,
) -> None:
    assertion = authenticator.get(await options(client, LOGIN_OPTIONS))
    stolen = await other_client.post(LOGIN, json={"credential": assertion})
    await assert_error(stolen, 401, "invalid_credentials")
    assert not await is_logged_in(other_client)


async def test_a_new_options_call_voids_the_older_challenge(
    alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    first = authenticator.get(await options(client, LOGIN_OPTIONS))
    await options(client, LOGIN_OPTIONS)
    await assert_error(await client.post(LOGIN, json={"credential": first}), 401)


async def test_a_sign_count_that_went_back_is_refused_and_logged(
    app: Quart,
    alice: dict[str, Any],
    client: QuartClient,
    authenticator: SoftAuthenticator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await sign_in(client, authenticator, sign_count=7)).status_code == 200
    assert (await client.post("/api/v1/logout")).status_code == 204
    with caplog.at_level(logging.WARNING):
        for count in (7, 3, 0):
            response = await sign_in(client, authenticator, sign_count=count)
            await assert_error(response, 401, "invalid_credentials")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("cloned authenticator" in r.getMessage() for r in warnings)
    assert not await is_logged_in(client)
    [(_id, _user, _name, count, _last)] = await stored_passkeys(app)
    assert count == 7


async def test_authenticators_that_do_not_count_sign_in_every_time(
    app: Quart, client: QuartClient
) -> None:
    device = SoftAuthenticator(PUBLIC_URL, counting=False)
    await api_user(client)
    await add_passkey(client, device)
    for _ in range(3):
        assert (await client.post("/api/v1/logout")).status_code == 204
        assert (await sign_in(client, device)).status_code == 200
    [(_id, _user, _name, count, _last)] = await stored_passkeys(app)
    assert count == 0


async def test_a_removed_passkey_no_longer_signs_in(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    added = await add_passkey(client, authenticator)
    assert (await client.delete(f"/api/v1/passkeys/{added['id']}")).status_code == 204
    assert (await client.post("/api/v1/logout")).status_code == 204
    await assert_error(await sign_in(client, authenticator), 401, "invalid_credentials")


async def test_a_deleted_account_takes_its_passkeys(
    app: Quart, alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await sql(app, "DELETE FROM users WHERE id = :id", id=alice["id"])
    assert await stored_passkeys(app) == []
    await assert_error(await sign_in(client, authenticator), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body",
    [b"{", b"{}", b'{"credential": "x"}', b'{"credential": null}', b'{"credential": {}, "x": 1}'],
)
async def test_malformed_bodies_are_clear_errors(client: QuartClient, body: bytes) -> None:
    await options(client, LOGIN_OPTIONS)
    response = await client.post(LOGIN, data=body, headers=JSON_HEADERS)
    await assert_error(response, {400, 401, 422})
    assert not await is_logged_in(client)


async def test_a_garbled_credential_is_401_not_a_500(client: QuartClient) -> None:
    await options(client, LOGIN_OPTIONS)
    garbled = {"id": "!!", "rawId": "!!", "type": "public-key", "response": {"signature": 1}}
    await assert_error(await client.post(LOGIN, json={"credential": garbled}), 401)


async def test_a_refused_passkey_login_is_in_the_security_log(
    app: Quart, alice: dict[str, Any], client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await sign_in(client, authenticator, origin="https://evil.example")
    assert (await sign_in(client, authenticator)).status_code == 200
    logged = await events(app, alice["id"])
    assert logged[-2:] == ["login_failed", "login"]


@pytest.fixture
async def limited_app(app_overrides: dict[str, str]) -> AsyncIterator[Quart]:
    """The app with rate limits on (in the database store)."""
    app = create_app({**app_overrides, "RATE_LIMITS": "on"}, testing=True)
    async with app.test_app():
        yield app


@pytest.mark.parametrize("path", [LOGIN_OPTIONS, LOGIN])
async def test_passkey_login_is_limited_per_address(limited_app: Quart, path: str) -> None:
    """Like the password login: past the burst, 429 with ``Retry-After``.

    The limiter reads the system clock, refilling one request a second; twice the burst
    is far more requests than a slow run can earn back meanwhile.
    """
    client = limited_app.test_client()
    statuses = []
    for _ in range(2 * LOGIN_PER_ADDRESS.count):
        response = await client.post(path, json={"credential": {}})
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert set(statuses[:-1]) <= {200, 401}
    await assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    assert len(statuses) > LOGIN_PER_ADDRESS.count


async def test_of_two_racing_uses_of_one_response_one_signs_in(
    app: Quart,
    alice: dict[str, Any],
    client: QuartClient,
    other_client: QuartClient,
    authenticator: SoftAuthenticator,
) -> None:
    response = await client.post(LOGIN_OPTIONS)
    token = set_cookies(response)[LOGIN_COOKIE][""]
    assertion = authenticator.get(await response.get_json())
    other_client.set_cookie("localhost", LOGIN_COOKIE, token, path=COOKIE_PATH)
    answers = await asyncio.gather(
        client.post(LOGIN, json={"credential": assertion}),
        other_client.post(LOGIN, json={"credential": assertion}),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 401]
    [(_id, _user, _name, count, _last)] = await stored_passkeys(app)
    assert count == 1
