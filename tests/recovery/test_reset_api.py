"""SPEC §11 through the API: forgot password, reset it, and the notices."""

from __future__ import annotations

from datetime import timedelta

from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.factories import PASSWORD, api_login
from tests.recovery.conftest import PUBLIC_URL
from tests.recovery.helpers import delivered, me, outbox_rows, register_with_email, token_of
from tests.smtp import SmtpSink, link_in, text_part
from tests.tokens.helpers import bearer, make_token

NEW_PASSWORD = "a brand new passphrase"


async def verified_user(
    app: Quart, client: QuartClient, smtp: SmtpSink, name: str = "alice"
) -> str:
    """Register ``name`` with a verified address; the outbox is then empty."""
    email = f"{name}@example.org"
    await register_with_email(client, name, email)
    before = len(smtp.messages)
    await delivered(app, smtp, before + 1)
    token = token_of(smtp.messages[-1])
    assert (await client.post("/api/v1/email/verify", json={"token": token})).status_code == 204
    await delivered(app, smtp, before + 2)  # the "confirmed" notice
    return email


async def forgot(client: QuartClient, email: str) -> tuple[int, bytes]:
    response = await client.post("/api/v1/password/forgot", json={"email": email})
    return response.status_code, await response.get_data()


async def test_reset_sets_the_password_ends_every_session_and_tells(
    app: Quart, client: QuartClient, other_client: QuartClient, smtp: SmtpSink
) -> None:
    email = await verified_user(app, client, smtp)
    await api_login(client)
    await api_login(other_client)
    status, body = await forgot(client, email.upper())
    assert status == 202 and b"on its way" in body
    [reset_mail] = (await delivered(app, smtp, 3))[2:]
    assert reset_mail["To"] == email
    link = link_in(reset_mail)
    assert link.startswith(f"{PUBLIC_URL}/reset-password?token=")
    assert "30 minutes" in text_part(reset_mail)
    response = await client.post(
        "/api/v1/password/reset", json={"token": token_of(reset_mail), "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    for browser in (client, other_client):  # every session, this one too
        assert (await browser.get("/api/v1/me")).status_code == 401
    old = await client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    await api_login(client, password=NEW_PASSWORD)
    [notice] = (await delivered(app, smtp, 4))[3:]
    assert notice["To"] == email
    assert "reset" in notice["Subject"]
    again = await client.post(
        "/api/v1/password/reset", json={"token": token_of(reset_mail), "new_password": PASSWORD}
    )
    assert again.status_code == 400
    assert (await again.get_json())["error"]["code"] == "invalid_token"


async def test_reset_ends_every_api_token_too(
    app: Quart, client: QuartClient, other_client: QuartClient, smtp: SmtpSink
) -> None:
    """Whoever held the account may have made a token: it must not outlive the reset."""
    email = await verified_user(app, client, smtp)
    await api_login(client)
    token = (await make_token(client))["token"]
    assert (await other_client.get("/api/v1/posts", headers=bearer(token))).status_code == 200
    await forgot(client, email)
    [reset_mail] = (await delivered(app, smtp, 3))[2:]
    response = await client.post(
        "/api/v1/password/reset", json={"token": token_of(reset_mail), "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    assert (await other_client.get("/api/v1/posts", headers=bearer(token))).status_code == 401


async def test_unknown_and_unverified_addresses_get_the_same_answer_and_no_mail(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    email = await verified_user(app, client, smtp)
    await register_with_email(client, "bob", "bob@example.org")  # never verified
    await delivered(app, smtp, 3)
    known = await forgot(client, email)
    for address in ("nobody@example.org", "bob@example.org", "not an address"):
        assert await forgot(client, address) == known
    messages = await delivered(app, smtp, 4)
    assert messages[-1]["To"] == email
    assert all(row.sent_at is not None for row in await outbox_rows(app))


async def test_reset_link_expires_after_30_minutes(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        email = await verified_user(app, client, smtp)
        await forgot(client, email)
        [reset_mail] = (await delivered(app, smtp, 3))[2:]
        assert isinstance(manual, ManualClock)
        manual.advance(timedelta(minutes=30).total_seconds() + 1)
        response = await client.post(
            "/api/v1/password/reset",
            json={"token": token_of(reset_mail), "new_password": NEW_PASSWORD},
        )
    assert response.status_code == 400
    await api_login(client)  # the password did not change


async def test_a_newer_reset_link_voids_the_older(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    email = await verified_user(app, client, smtp)
    await forgot(client, email)
    await delivered(app, smtp, 3)
    await forgot(client, email)
    first, second = (await delivered(app, smtp, 4))[2:]
    old = await client.post(
        "/api/v1/password/reset", json={"token": token_of(first), "new_password": NEW_PASSWORD}
    )
    assert old.status_code == 400
    new = await client.post(
        "/api/v1/password/reset", json={"token": token_of(second), "new_password": NEW_PASSWORD}
    )
    assert new.status_code == 204


async def test_reset_refuses_bad_passwords_and_keeps_the_link(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    email = await verified_user(app, client, smtp)
    await forgot(client, email)
    [reset_mail] = (await delivered(app, smtp, 3))[2:]
    token = token_of(reset_mail)
    for bad in ["short", "x" * 1025, "nul\x00in the middle"]:
        response = await client.post(
            "/api/v1/password/reset", json={"token": token, "new_password": bad}
        )
        assert response.status_code in (400, 422), bad  # NUL: the JSON parser refuses it
    ok = await client.post(
        "/api/v1/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 204


async def test_password_change_mails_a_notice(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    email = await verified_user(app, client, smtp)
    await api_login(client)
    response = await client.post(
        "/api/v1/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204
    [notice] = (await delivered(app, smtp, 3))[2:]
    assert (notice["To"], "changed" in notice["Subject"]) == (email, True)
    assert "/forgot-password" in text_part(notice)  # what to do if it was not them


async def test_me_email_shape(app: Quart, client: QuartClient, smtp: SmtpSink) -> None:
    await verified_user(app, client, smtp)
    await api_login(client)
    body = await me(client)
    assert set(body) == {"id", "username", "email", "email_verified"}
