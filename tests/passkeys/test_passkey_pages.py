"""Passkeys on the pages (SPEC §12, §13): the account card, removing, login and reauth parts.

The ceremonies themselves run in a browser (tests/browser/test_browser_passkeys.py); here:
what each page offers, with and without script, and the Remove form.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.factories import api_user, page_user, submit
from tests.passkeys.authenticator import SoftAuthenticator
from tests.passkeys.helpers import add_passkey, events, listed, stored_passkeys
from tests.views.helpers import Tags, text_of

SCRIPT = "/static/passkeys.js"
REAUTH_SECONDS = 600


def scripts(html: str) -> list[str]:
    """The ``src`` of every script on a page (an inline one would show as "")."""
    return [attrs.get("src", "") for attrs in Tags(html).named("script")]


def with_attribute(html: str, name: str) -> list[dict[str, str]]:
    """Every element carrying attribute ``name``, as its attributes."""
    return [attrs for _tag, attrs in Tags(html).tags if name in attrs]


async def test_account_page_lists_passkeys_escaped(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await page_user(client)
    added = await add_passkey(client, authenticator, "<script>alert(1)</script>")
    html = await text_of(await client.get("/account"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert f'action="/account/passkeys/{added["id"]}/delete"' in html
    assert "Never" in html  # not used yet
    assert SCRIPT in scripts(html)
    assert "" not in scripts(html)  # no inline script


async def test_account_page_without_passkeys(client: QuartClient) -> None:
    await page_user(client)
    html = await text_of(await client.get("/account"))
    assert "You have no passkeys yet." in html
    assert with_attribute(html, "data-passkeys-list") == []  # no empty table
    # The add form waits for the script; without it the page says what is needed.
    [form] = with_attribute(html, "data-passkey-add")
    assert "hidden" in form
    assert form["data-options-url"] == "/api/v1/passkeys/register/options"
    assert form["data-add-url"] == "/api/v1/passkeys"
    assert form["data-reauth-url"] == "/reauth?next=/account"
    assert "Adding a passkey needs JavaScript" in html
    [status] = with_attribute(html, "data-passkey-status")
    assert status["aria-live"] == "polite"


async def test_remove_form(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await page_user(client)
    user_id = (await (await client.get("/api/v1/me")).get_json())["id"]
    added = await add_passkey(client, authenticator, "Laptop")
    response = await submit(client, f"/account/passkeys/{added['id']}/delete", {}, "/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert await listed(client) == []
    assert "passkey_removed" in await events(app, user_id)
    html = await text_of(await client.get("/account"))
    assert "Passkey “Laptop” removed." in html


async def test_remove_form_for_another_users_passkey_is_404(
    app: Quart, client: QuartClient, other_client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await api_user(other_client, "bob")
    bobs = await add_passkey(other_client, authenticator)
    await page_user(client)
    response = await submit(client, f"/account/passkeys/{bobs['id']}/delete", {}, "/account")
    assert response.status_code == 404
    assert len(await stored_passkeys(app)) == 1


async def test_remove_form_without_csrf_token_is_403(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await page_user(client)
    added = await add_passkey(client, authenticator)
    response = await client.post(f"/account/passkeys/{added['id']}/delete", form={})
    assert response.status_code == 403
    assert len(await stored_passkeys(app)) == 1


async def test_remove_form_needs_recent_authentication(
    app: Quart, client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await page_user(client)
        added = await add_passkey(client, authenticator)
        manual.advance(REAUTH_SECONDS + 1)
        response = await submit(client, f"/account/passkeys/{added['id']}/delete", {}, "/account")
        assert response.status_code == 303
        location = urlsplit(response.headers["Location"])
        assert location.path == "/reauth"
        assert parse_qs(location.query)["next"] == ["/account"]
        assert len(await stored_passkeys(app)) == 1


async def test_login_page_offers_a_passkey_once_script_runs(client: QuartClient) -> None:
    html = await text_of(await client.get("/login?next=/posts/new"))
    [section] = with_attribute(html, "data-passkey-login")
    assert "hidden" in section  # shown by the script where WebAuthn works
    assert section["data-options-url"] == "/api/v1/passkeys/login/options"
    assert section["data-verify-url"] == "/api/v1/passkeys/login"
    assert section["data-next"] == "/posts/new"
    assert "Sign in with a passkey" in html
    assert SCRIPT in scripts(html)
    assert "" not in scripts(html)


async def test_login_page_passkey_goes_to_posts_without_next(client: QuartClient) -> None:
    html = await text_of(await client.get("/login?next=//evil.example"))
    [section] = with_attribute(html, "data-passkey-login")
    assert section["data-next"] == "/posts"


async def test_reauth_page_offers_a_passkey_only_to_accounts_with_one(
    client: QuartClient, authenticator: SoftAuthenticator
) -> None:
    await page_user(client)
    html = await text_of(await client.get("/reauth?next=/account"))
    assert with_attribute(html, "data-passkey-reauth") == []
    await add_passkey(client, authenticator)
    html = await text_of(await client.get("/reauth?next=/account"))
    [section] = with_attribute(html, "data-passkey-reauth")
    assert section["data-next"] == "/account"
    assert section["data-verify-url"] == "/api/v1/passkeys/reauth"
    assert "Use a passkey" in html
    assert SCRIPT in scripts(html)


async def test_script_is_served(client: QuartClient) -> None:
    response = await client.get(SCRIPT)
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    body = await text_of(response)
    assert "navigator.credentials.create" in body
    assert "navigator.credentials.get" in body
