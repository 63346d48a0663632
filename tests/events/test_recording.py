"""Every event of SPEC §14 that accounts and recovery cause is logged with its change."""

from __future__ import annotations

from quart import Quart
from quart.testing import QuartClient

from tests.events.helpers import FIREFOX_LINUX, events_of, types_of
from tests.factories import PASSWORD, api_login, api_register, api_user, csrf_token, form_login
from tests.recovery.helpers import delivered, register_with_email, token_of
from tests.smtp import SmtpSink
from tests.views.helpers import sql

NEW_PASSWORD = "a brand new passphrase"
CLIENT = ("198.51.100.7", 40000)


async def all_events(app: Quart) -> list[tuple[int, str]]:
    """Every row of the log, anyone's: ``(user_id, type)`` in order."""
    return [
        (int(row[0]), str(row[1]))
        for row in await sql(app, "SELECT user_id, type FROM auth_events ORDER BY id")
    ]


async def test_login_is_logged_with_address_and_device(client: QuartClient) -> None:
    await api_register(client)
    response = await client.post(
        "/api/v1/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"User-Agent": FIREFOX_LINUX, "X-Forwarded-For": "203.0.113.9"},
        scope_base={"client": CLIENT},
    )
    assert response.status_code == 200
    [event] = await events_of(client)
    assert set(event) == {"id", "type", "created_at", "address", "device"}
    assert event["type"] == "login"
    # No proxy is trusted (TRUSTED_PROXIES=0): the socket's peer, never the header.
    assert event["address"] == CLIENT[0]
    assert event["device"] == "Firefox 133 on Linux"
    assert event["created_at"].endswith("Z")


async def test_wrong_password_is_logged_and_unknown_names_log_nothing(
    app: Quart, client: QuartClient
) -> None:
    user = await api_register(client)
    wrong = await client.post("/api/v1/login", json={"username": "alice", "password": "nope1234"})
    assert wrong.status_code == 401
    unknown = await client.post("/api/v1/login", json={"username": "nobody", "password": "x" * 8})
    assert unknown.status_code == 401
    assert await all_events(app) == [(user["id"], "login_failed")]
    page = await client.post(
        "/login",
        form={"username": "Alice", "password": "wrong one", "csrf_token": await csrf_token(client)},
    )
    assert page.status_code == 401
    await api_login(client)
    assert await types_of(client) == ["login", "login_failed", "login_failed"]


async def test_logout_is_logged(client: QuartClient) -> None:
    await api_user(client)
    assert (await client.post("/api/v1/logout")).status_code == 204
    await api_login(client)
    assert await types_of(client) == ["login", "logout", "login"]


async def test_password_change_is_logged_only_when_it_happens(client: QuartClient) -> None:
    await api_user(client)
    refused = await client.post(
        "/api/v1/password", json={"current_password": "not it at all", "new_password": NEW_PASSWORD}
    )
    assert refused.status_code == 400
    changed = await client.post(
        "/api/v1/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    assert await types_of(client) == ["password_changed", "login"]


async def test_revoking_other_sessions_is_logged(
    client: QuartClient, other_client: QuartClient
) -> None:
    await api_register(client)
    await form_login(client)
    await form_login(other_client)
    token = await csrf_token(client, "/account")
    response = await client.post("/account/sessions/revoke", form={"csrf_token": token})
    assert response.status_code == 303
    assert await types_of(client) == ["sessions_revoked", "login", "login"]


async def test_email_change_and_verification_are_logged(
    app: Quart, client: QuartClient, other_client: QuartClient, smtp: SmtpSink
) -> None:
    await api_user(client)
    await api_user(other_client, "bob")
    taken = await other_client.put(
        "/api/v1/me/email", json={"email": "bob@example.org", "current_password": PASSWORD}
    )
    assert taken.status_code == 202
    [bob_link] = await delivered(app, smtp, 1)
    bob_verified = await other_client.post(
        "/api/v1/email/verify", json={"token": token_of(bob_link)}
    )
    assert bob_verified.status_code == 204
    # The address is taken: the change is refused, and so nothing is logged for it.
    refused = await client.put(
        "/api/v1/me/email", json={"email": "BOB@example.org", "current_password": PASSWORD}
    )
    assert refused.status_code == 409
    assert await types_of(client) == ["login"]

    changed = await client.put(
        "/api/v1/me/email", json={"email": "alice@example.org", "current_password": PASSWORD}
    )
    assert changed.status_code == 202
    [_bob, _bob_notice, alice_link] = await delivered(app, smtp, 3)
    verified = await client.post("/api/v1/email/verify", json={"token": token_of(alice_link)})
    assert verified.status_code == 204
    assert await types_of(client) == ["email_verified", "email_changed", "login"]
    assert await types_of(other_client) == ["email_verified", "email_changed", "login"]


async def test_password_reset_is_logged(app: Quart, client: QuartClient, smtp: SmtpSink) -> None:
    await register_with_email(client)
    [verify] = await delivered(app, smtp, 1)
    verified = await client.post("/api/v1/email/verify", json={"token": token_of(verify)})
    assert verified.status_code == 204
    forgot = await client.post("/api/v1/password/forgot", json={"email": "alice@example.org"})
    assert forgot.status_code == 202
    [_verify, _verified_notice, reset] = await delivered(app, smtp, 3)
    response = await client.post(
        "/api/v1/password/reset", json={"token": token_of(reset), "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    await api_login(client, password=NEW_PASSWORD)
    assert await types_of(client) == ["login", "password_reset", "email_verified"]
