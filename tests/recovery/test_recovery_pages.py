"""SPEC §11 pages: the forms, the flashes, links that only show a page until POSTed."""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.testing import QuartClient

from tests.factories import PASSWORD, form_login, page_user, submit
from tests.recovery.helpers import delivered, token_of
from tests.smtp import SmtpSink
from tests.views.helpers import Tags, is_logged_in, text_of

NEW_PASSWORD = "a brand new passphrase"


async def flashes_after(client: QuartClient, response: Any, path: str) -> str:
    """The page a 303 leads to (where the flash shows)."""
    assert response.status_code == 303
    assert response.headers["Location"].endswith(path)
    return await text_of(await client.get(path))


async def register_on_page(client: QuartClient, email: str) -> Any:
    form = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD, "email": email}
    return await submit(client, "/register", form, "/register")


async def test_forms_have_labels_and_autocomplete_hints(client: QuartClient) -> None:
    login = await text_of(await client.get("/login"))
    assert 'href="/forgot-password"' in login and "Forgot your password?" in login
    for path, fields in {
        "/register": {"email": "email"},
        "/forgot-password": {"email": "email"},
    }.items():
        html = await text_of(await client.get(path))
        tags = Tags(html)
        for name, hint in fields.items():
            attrs = tags.field(name)
            assert attrs is not None, (path, name)
            assert attrs["autocomplete"] == hint
            assert f'for="{attrs["id"]}"' in html


async def test_register_verify_forget_reset_on_pages(
    app: Quart, client: QuartClient, other_client: QuartClient, smtp: SmtpSink
) -> None:
    page = await flashes_after(
        client, await register_on_page(client, "alice@example.org"), "/login"
    )
    assert "alice@example.org" in page
    [verify_mail] = await delivered(app, smtp, 1)
    token = token_of(verify_mail)

    # A GET on the link shows a button and uses nothing (mail scanners follow links).
    for _ in range(2):
        confirm = await client.get(f"/verify-email?token={token}")
        assert confirm.status_code == 200
        assert Tags(await text_of(confirm)).field("token") == {
            "type": "hidden",
            "name": "token",
            "value": token,
        }
    response = await submit(
        client, "/verify-email", {"token": token}, f"/verify-email?token={token}"
    )
    assert "confirmed" in await flashes_after(client, response, "/login")
    used = await submit(client, "/verify-email", {"token": token}, "/login")
    assert used.status_code == 400
    assert (await client.get(f"/verify-email?token={token}")).status_code == 400

    await form_login(client)
    await form_login(other_client)
    account = await text_of(await client.get("/account"))
    assert "alice@example.org" in account and "(confirmed)" in account

    known = await submit(
        client, "/forgot-password", {"email": "alice@example.org"}, "/forgot-password"
    )
    unknown = await submit(
        other_client, "/forgot-password", {"email": "nobody@example.org"}, "/forgot-password"
    )
    assert known.headers["Location"] == unknown.headers["Location"]
    known_page = await flashes_after(client, known, "/login")
    unknown_page = await flashes_after(other_client, unknown, "/login")
    flash = "a link to reset its password"
    assert flash in known_page and flash in unknown_page

    [reset_mail] = (await delivered(app, smtp, 3))[2:]
    reset_token = token_of(reset_mail)
    form_page = await client.get(f"/reset-password?token={reset_token}")
    assert form_page.status_code == 200
    assert Tags(await text_of(form_page)).field("new_password")["autocomplete"] == "new-password"  # type: ignore[index]
    mismatch = await submit(
        client,
        "/reset-password",
        {"token": reset_token, "new_password": NEW_PASSWORD, "confirm": "something else"},
        f"/reset-password?token={reset_token}",
    )
    assert mismatch.status_code == 400
    assert "do not match" in await text_of(mismatch)
    done = await submit(
        client,
        "/reset-password",
        {"token": reset_token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        f"/reset-password?token={reset_token}",
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert not await is_logged_in(client)
    assert not await is_logged_in(other_client)
    assert (await form_login(client, password=NEW_PASSWORD)).status_code == 303
    reused = await client.get(f"/reset-password?token={reset_token}")
    assert reused.status_code == 400


async def test_bad_links_are_400_pages(client: QuartClient) -> None:
    for path in ("/verify-email?token=nope", "/reset-password?token=nope", "/reset-password"):
        response = await client.get(path)
        assert response.status_code == 400, path
        assert "text/html" in response.headers["Content-Type"]
    bad = await submit(
        client,
        "/reset-password",
        {"token": "A" * 43, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        "/forgot-password",
    )
    assert bad.status_code == 400


async def test_account_email_form_sets_the_address(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    await page_user(client)
    account = await text_of(await client.get("/account"))
    assert "No address yet" in account and 'href="/account/email"' in account
    form = await client.get("/account/email")
    tags = Tags(await text_of(form))
    assert tags.field("email")["autocomplete"] == "email"  # type: ignore[index]
    assert tags.field("current_password")["autocomplete"] == "current-password"  # type: ignore[index]
    wrong = await submit(
        client,
        "/account/email",
        {"email": "alice@example.org", "current_password": "not it at all"},
        "/account/email",
    )
    assert wrong.status_code == 400
    assert 'value="alice@example.org"' in await text_of(wrong)  # what was typed stays
    ok = await submit(
        client,
        "/account/email",
        {"email": "alice@example.org", "current_password": PASSWORD},
        "/account/email",
    )
    assert "alice@example.org" in await flashes_after(client, ok, "/account")
    [message] = await delivered(app, smtp, 1)
    response = await submit(client, "/verify-email", {"token": token_of(message)}, "/account/email")
    page = await flashes_after(client, response, "/account")  # logged in: back to the account
    assert "(confirmed)" in page
