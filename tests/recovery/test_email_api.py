"""SPEC §11 through the API: an address at registration, changing it, verifying it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.db.database import new_session
from quart_blog.recovery.models import OneTimeToken
from tests.factories import PASSWORD, api_login, api_user
from tests.recovery.conftest import PUBLIC_URL
from tests.recovery.helpers import delivered, me, outbox_rows, register_with_email, token_of
from tests.smtp import SmtpSink, html_part, link_in, text_part


async def stored_token_hashes(app: Quart) -> list[str]:
    async with app.app_context():
        session = new_session()
        try:
            return list((await session.execute(select(OneTimeToken.token_hash))).scalars())
        finally:
            await session.close()


async def test_registration_without_email_answers_as_before(client: QuartClient) -> None:
    user = await api_user(client)
    assert set(user) == {"id", "username"}
    assert await me(client) == {
        "id": user["id"],
        "username": "alice",
        "email": None,
        "email_verified": False,
    }


async def test_address_at_registration_gets_its_link_at_once(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    user = await register_with_email(client, email="Alice@Example.ORG")
    assert set(user) == {"id", "username"}
    [message] = await delivered(app, smtp, 1)
    assert message["To"] == "Alice@example.org"
    assert "quart-blog" in message["Subject"]
    link = link_in(message)
    assert link.startswith(f"{PUBLIC_URL}/verify-email?token=")
    assert link in html_part(message)
    assert "ignore this message" in text_part(message)  # what to do if it was not them
    token = token_of(message)
    assert len(token) >= 22  # at least 128 random bits, base64url
    # Only the SHA-256 is stored, never the token.
    assert await stored_token_hashes(app) == [hashlib.sha256(token.encode()).hexdigest()]
    await api_login(client)
    assert (await me(client))["email"] == "Alice@example.org"
    assert (await me(client))["email_verified"] is False


async def test_verify_marks_the_address_verified_once(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    await register_with_email(client)
    [message] = await delivered(app, smtp, 1)
    token = token_of(message)
    response = await client.post("/api/v1/email/verify", json={"token": token})
    assert response.status_code == 204
    await api_login(client)
    assert (await me(client))["email_verified"] is True
    [_, notice] = await delivered(app, smtp, 2)
    assert "confirmed" in notice["Subject"]
    again = await client.post("/api/v1/email/verify", json={"token": token})
    assert again.status_code == 400
    assert (await again.get_json())["error"]["code"] == "invalid_token"
    assert await stored_token_hashes(app) == []


async def test_bad_tokens_are_refused(client: QuartClient) -> None:
    for token in ["", "x", "A" * 43, "A" * 199, "../../etc/passwd", "é" * 30]:
        response = await client.post("/api/v1/email/verify", json={"token": token})
        assert response.status_code == 400, token
        assert (await response.get_json())["error"]["code"] == "invalid_token"
    too_long = await client.post("/api/v1/email/verify", json={"token": "A" * 500})
    assert too_long.status_code == 422


async def test_forged_host_never_reaches_a_message(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    response = await client.post(
        "/api/v1/register",
        json={"username": "alice", "password": PASSWORD, "email": "alice@example.org"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 201
    [message] = await delivered(app, smtp, 1)
    raw = message.as_string()
    assert "evil.example" not in raw
    assert link_in(message).startswith(f"{PUBLIC_URL}/")


@pytest.mark.parametrize(("age", "status"), [(-5, 204), (1, 400)])
async def test_verify_link_lasts_48_hours(
    app: Quart, client: QuartClient, smtp: SmtpSink, age: int, status: int
) -> None:
    """Used ``age`` seconds after its 48 hours are up (negative: before)."""
    with clock.use(ManualClock(clock.utcnow())) as manual:
        await register_with_email(client)
        [message] = await delivered(app, smtp, 1)
        assert isinstance(manual, ManualClock)
        manual.advance(timedelta(hours=48).total_seconds() + age)
        response = await client.post("/api/v1/email/verify", json={"token": token_of(message)})
    assert response.status_code == status


async def test_change_keeps_old_address_until_verified_and_tells_it(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    await register_with_email(client)
    await api_login(client)
    [first] = await delivered(app, smtp, 1)
    verified = await client.post("/api/v1/email/verify", json={"token": token_of(first)})
    assert verified.status_code == 204
    await delivered(app, smtp, 2)  # the "confirmed" notice
    response = await client.put(
        "/api/v1/me/email", json={"email": "new@example.org", "current_password": PASSWORD}
    )
    assert response.status_code == 202
    assert (await me(client))["email"] == "alice@example.org"  # not yet
    messages = await delivered(app, smtp, 4)
    by_recipient = {m["To"]: m for m in messages[2:]}
    assert set(by_recipient) == {"new@example.org", "alice@example.org"}
    assert "new@example.org" in text_part(by_recipient["alice@example.org"])
    link = link_in(by_recipient["new@example.org"])
    verify = await client.post("/api/v1/email/verify", json={"token": link.rsplit("=", 1)[1]})
    assert verify.status_code == 204
    now = await me(client)
    assert (now["email"], now["email_verified"]) == ("new@example.org", True)


async def test_change_refuses_wrong_password_taken_and_bad_addresses(
    client: QuartClient, other_client: QuartClient
) -> None:
    await register_with_email(other_client, "bob", "bob@example.org")
    await api_user(client)
    wrong = await client.put(
        "/api/v1/me/email", json={"email": "a@example.org", "current_password": "wrong password"}
    )
    assert wrong.status_code == 400
    taken = await client.put(
        "/api/v1/me/email", json={"email": "BOB@example.org", "current_password": PASSWORD}
    )
    assert taken.status_code == 409
    assert (await taken.get_json())["error"]["code"] == "conflict"
    for bad in ["not an address", "a@b", "x" * 300 + "@example.org", "a\x00@example.org"]:
        response = await client.put(
            "/api/v1/me/email", json={"email": bad, "current_password": PASSWORD}
        )
        assert response.status_code in (400, 422), bad  # NUL: the JSON parser refuses it
        assert (await response.get_json())["error"]["message"]
    accepted = await client.put(
        "/api/v1/me/email", json={"email": "a@example.org", "current_password": PASSWORD}
    )
    assert accepted.status_code == 202  # still logged in: the refusals changed nothing
    await client.post("/api/v1/logout")
    after = await client.put(
        "/api/v1/me/email", json={"email": "a@example.org", "current_password": PASSWORD}
    )
    assert after.status_code == 401


async def test_registration_with_a_taken_address_is_409(client: QuartClient) -> None:
    await register_with_email(client, "bob", "bob@example.org")
    response = await client.post(
        "/api/v1/register",
        json={"username": "carol", "password": PASSWORD, "email": "Bob@Example.org"},
    )
    assert response.status_code == 409
    invalid = await client.post(
        "/api/v1/register", json={"username": "dave", "password": PASSWORD, "email": "nope"}
    )
    assert invalid.status_code == 422


async def test_newer_link_voids_the_older(app: Quart, client: QuartClient, smtp: SmtpSink) -> None:
    await api_user(client)
    for address in ("one@example.org", "two@example.org"):
        response = await client.put(
            "/api/v1/me/email", json={"email": address, "current_password": PASSWORD}
        )
        assert response.status_code == 202
    first, second = await delivered(app, smtp, 2)
    old = await client.post("/api/v1/email/verify", json={"token": token_of(first)})
    assert old.status_code == 400
    new = await client.post("/api/v1/email/verify", json={"token": token_of(second)})
    assert new.status_code == 204
    assert (await me(client))["email"] == "two@example.org"


async def test_a_failed_registration_queues_nothing(app: Quart, client: QuartClient) -> None:
    await register_with_email(client, "bob", "bob@example.org")
    response = await client.post(
        "/api/v1/register",
        json={"username": "BOB", "password": PASSWORD, "email": "other@example.org"},
    )
    assert response.status_code == 409
    assert [row.recipient for row in await outbox_rows(app)] == ["bob@example.org"]
