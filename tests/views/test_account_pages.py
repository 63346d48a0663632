"""The account page: sessions, password change, logging out other browsers (SPEC §5, §8)."""

from __future__ import annotations

import re

import pytest
from quart.testing import QuartClient

from tests.factories import PASSWORD, api_register, form_login, submit
from tests.views.helpers import Tags, is_logged_in, login_with_agent, text_of

NEW_PASSWORD = "a brand new passphrase"
ROW_RE = re.compile(r"<tr\b.*?</tr>", re.DOTALL)


def session_rows(page: str, agent: str) -> list[str]:
    """The table rows of the account page that mention ``agent``."""
    return [row for row in ROW_RE.findall(page) if agent in row]


async def two_browsers(client: QuartClient, other_client: QuartClient) -> None:
    """alice logged in twice: ``client`` as Browser-One, ``other_client`` as Browser-Two."""
    await api_register(client)
    await login_with_agent(client, "Browser-One/1.0")
    await login_with_agent(other_client, "Browser-Two/2.0")


async def test_account_lists_sessions_current_marked(
    client: QuartClient, other_client: QuartClient
) -> None:
    await two_browsers(client, other_client)
    response = await client.get("/account")
    page = await text_of(response)
    assert response.status_code == 200
    [mine] = session_rows(page, "Browser-One/1.0")
    [theirs] = session_rows(page, "Browser-Two/2.0")
    assert "current" in mine.lower() or "this session" in mine.lower()
    assert "current" not in theirs.lower() and "this session" not in theirs.lower()
    other_page = await text_of(await other_client.get("/account"))
    assert "this session" in session_rows(other_page, "Browser-Two/2.0")[0].lower()


async def test_account_shows_password_form(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    tags = Tags(await text_of(await client.get("/account")))
    for name in ("current_password", "new_password", "confirm", "csrf_token"):
        assert tags.field(name) is not None, name
    assert any(f.get("action") == "/account/sessions/revoke" for f in tags.named("form"))


async def test_change_password_revokes_other_sessions(
    client: QuartClient, other_client: QuartClient
) -> None:
    await two_browsers(client, other_client)
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = await submit(client, "/account/password", form, "/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert not await is_logged_in(other_client)
    assert await is_logged_in(client)
    assert (await client.get("/account")).status_code == 200
    assert (await form_login(other_client, password=PASSWORD)).status_code == 401
    assert (await form_login(other_client, password=NEW_PASSWORD)).status_code == 303


@pytest.mark.parametrize(
    "form",
    [
        {"current_password": "not my password", "new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": "different!!"},
        {"current_password": "", "new_password": NEW_PASSWORD},
    ],
)
async def test_change_password_invalid_400_unchanged(
    client: QuartClient, other_client: QuartClient, form: dict[str, str]
) -> None:
    await two_browsers(client, other_client)
    form.setdefault("confirm", form["new_password"])
    response = await submit(client, "/account/password", form, "/account")
    assert response.status_code == 400
    tags = Tags(await text_of(response))
    assert tags.field("current_password") is not None
    assert await is_logged_in(other_client)
    assert (await form_login(client, password=PASSWORD)).status_code == 303


async def test_revoke_other_sessions(client: QuartClient, other_client: QuartClient) -> None:
    await two_browsers(client, other_client)
    response = await submit(client, "/account/sessions/revoke", {}, "/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert not await is_logged_in(other_client)
    assert await is_logged_in(client)
    page = await text_of(await client.get("/account"))
    assert session_rows(page, "Browser-Two/2.0") == []
    assert len(session_rows(page, "Browser-One/1.0")) == 1
