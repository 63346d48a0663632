"""Removing passkeys, the notice for the last one, and confirming it is you with one (§12, §13)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.api.helpers import assert_error
from tests.factories import PASSWORD, api_login, api_register, api_user
from tests.passkeys.authenticator import SoftAuthenticator, unb64url
from tests.passkeys.conftest import PUBLIC_URL
from tests.passkeys.helpers import (
    REAUTH,
    REAUTH_OPTIONS,
    REGISTER_OPTIONS,
    add_passkey,
    events,
    listed,
    options,
    stored_passkeys,
)
from tests.recovery.helpers import delivered, token_of
from tests.smtp import SmtpSink, html_part, text_part

REAUTH_SECONDS = 600


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], smtp: SmtpSink) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": smtp.url}


async def verified_user(app: Quart, client: QuartClient, smtp: SmtpSink) -> dict[str, object]:
    """alice, logged in, with a confirmed address (so notices reach her)."""
    user = await api_register(client, email="alice@example.org")
    await api_login(client)
    [message] = await delivered(app, smtp, 1)
    response = await client.post("/api/v1/email/verify", json={"token": token_of(message)})
    assert response.status_code == 204
    return user


async def test_remove_one_of_yours(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    user = await api_user(client)
    first = await add_passkey(client, authenticator, "Phone")
    second = await add_passkey(client, SoftAuthenticator(PUBLIC_URL), "Key")
    response = await client.delete(f"/api/v1/passkeys/{first['id']}")
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert [item["id"] for item in await listed(client)] == [second["id"]]
    assert (await events(app, user["id"])).count("passkey_removed") == 1


async def test_another_users_passkey_is_404_and_stays(
    app: Quart, client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    added = await add_passkey(client, authenticator)
    await api_user(other_client, "bob")
    response = await other_client.delete(f"/api/v1/passkeys/{added['id']}")
    await assert_error(response, 404, "not_found")
    assert len(await stored_passkeys(app)) == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/passkeys/999999", "/api/v1/passkeys/99999999999999999999"]
)
async def test_no_such_passkey_is_404(client: QuartClient, path: str) -> None:
    await api_user(client)
    await assert_error(await client.delete(path), 404)


async def test_removing_needs_recent_authentication(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        added = await add_passkey(client, authenticator)
        manual.advance(REAUTH_SECONDS + 1)
        response = await client.delete(f"/api/v1/passkeys/{added['id']}")
        await assert_error(response, 403, "reauth_required")
        assert len(await stored_passkeys(app)) == 1
        # A password confirms it is you again.
        reauth = await client.post("/api/v1/reauth", json={"password": PASSWORD})
        assert reauth.status_code == 204
        assert (await client.delete(f"/api/v1/passkeys/{added['id']}")).status_code == 204


async def test_removing_the_last_passkey_mails_a_notice(
    app: Quart, client: QuartClient, smtp: SmtpSink, authenticator: SoftAuthenticator
) -> None:
    await verified_user(app, client, smtp)
    first = await add_passkey(client, authenticator, "Phone")
    second = await add_passkey(client, SoftAuthenticator(PUBLIC_URL), "Key <b>2</b>")
    assert (await client.delete(f"/api/v1/passkeys/{first['id']}")).status_code == 204
    await delivered(app, smtp, 2)  # not the last: no notice (the other is the verification)
    assert (await client.delete(f"/api/v1/passkeys/{second['id']}")).status_code == 204
    notice = (await delivered(app, smtp, 3))[-1]
    assert notice["To"] == "alice@example.org"
    assert "last passkey" in notice["Subject"]
    text = text_part(notice)
    assert "Key <b>2</b>" in text
    assert f"{PUBLIC_URL}/account" in text
    html = html_part(notice)
    assert "Key &lt;b&gt;2&lt;/b&gt;" in html
    assert "<b>2</b>" not in html


async def test_no_notice_without_a_verified_address(
    app: Quart, client: QuartClient, smtp: SmtpSink, authenticator: SoftAuthenticator
) -> None:
    await api_user(client)
    added = await add_passkey(client, authenticator)
    assert (await client.delete(f"/api/v1/passkeys/{added['id']}")).status_code == 204
    await delivered(app, smtp, 0)


async def test_reauth_options_allow_only_your_passkeys(
    client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(other_client, "bob")
    await add_passkey(other_client, SoftAuthenticator(PUBLIC_URL))
    await api_user(client)
    await add_passkey(client, authenticator)
    body = await options(client, REAUTH_OPTIONS)
    assert [unb64url(item["id"]) for item in body["allowCredentials"]] == [
        authenticator.credentials[0].credential_id
    ]
    assert body["userVerification"] == "required"


async def test_reauth_options_without_a_passkey_say_so(client: QuartClient) -> None:
    await api_user(client)
    error = await assert_error(await client.post(REAUTH_OPTIONS), 400)
    assert "no passkey" in error["message"]


async def test_a_passkey_confirms_it_is_you(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        await add_passkey(client, authenticator)
        manual.advance(REAUTH_SECONDS + 1)
        await assert_error(await client.post(REGISTER_OPTIONS), 403, "reauth_required")
        assertion = authenticator.get(await options(client, REAUTH_OPTIONS))
        response = await client.post(REAUTH, json={"credential": assertion})
        assert response.status_code == 204
        assert (await client.post(REGISTER_OPTIONS)).status_code == 200
        [(_id, _user, _name, count, last_used)] = await stored_passkeys(app)
        assert (count, last_used is not None) == (1, True)


async def test_another_users_passkey_does_not_confirm_you(
    client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    """bob's device answers alice's reauth challenge (e.g. on a shared computer): refused."""
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(other_client, "bob")
        bobs = SoftAuthenticator(PUBLIC_URL)
        await add_passkey(other_client, bobs)
        await api_user(client)
        await add_passkey(client, authenticator)
        manual.advance(REAUTH_SECONDS + 1)
        reauth_options = await options(client, REAUTH_OPTIONS)
        assertion = bobs.get(reauth_options)  # bob's device ignores the allow list
        response = await client.post(REAUTH, json={"credential": assertion})
        await assert_error(response, 401, "invalid_credentials")
        await assert_error(await client.post(REGISTER_OPTIONS), 403, "reauth_required")


async def test_a_login_challenge_does_not_confirm_you(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    """Each ceremony has its own challenge: a login answer is no reauth answer."""
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_user(client)
        await add_passkey(client, authenticator)
        manual.advance(REAUTH_SECONDS + 1)
        assertion = authenticator.get(await options(client, "/api/v1/passkeys/login/options"))
        response = await client.post(REAUTH, json={"credential": assertion})
        await assert_error(response, 401, "invalid_credentials")


async def test_reauth_with_a_bad_body_is_a_clear_error(client: QuartClient) -> None:
    await api_user(client)
    response = await client.post(REAUTH, json={"credential": 12})
    await assert_error(response, {400, 422})
