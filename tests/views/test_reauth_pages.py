"""Recent authentication on the pages (SPEC §13): /reauth, and a sensitive form refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart, Response
from quart.testing import QuartClient
from sqlalchemy import text

from quart_blog import clock, create_app
from quart_blog.clock import ManualClock
from quart_blog.db import get_database
from tests.factories import PASSWORD, form_login, page_user, submit
from tests.views.helpers import text_of

REAUTH_SECONDS = 600


async def session_count(app: Quart) -> int:
    """How many login sessions exist."""
    async with app.app_context(), get_database().engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM auth_sessions"))).scalar())


def reauth_next(response: Response) -> str | None:
    """The ``next`` of a 303 to /reauth, or ``None`` if the answer is not one."""
    if response.status_code != 303:
        return None
    parts = urlsplit(response.headers["Location"])
    if parts.path != "/reauth":
        return None
    return parse_qs(parts.query).get("next", [""])[0]


async def test_fresh_login_counts_as_recent(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    await page_user(client)
    await form_login(other_client)
    response = await submit(client, "/account/sessions/revoke", {}, page="/account")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/account"
    assert await session_count(app) == 1


@pytest.mark.parametrize(
    ("age", "recent"), [(REAUTH_SECONDS - 5, True), (REAUTH_SECONDS + 1, False)]
)
async def test_stale_session_is_sent_to_reauth_and_nothing_changes(
    app: Quart, client: QuartClient, other_client: QuartClient, age: int, recent: bool
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await page_user(client)
        await form_login(other_client)
        manual.advance(age)
        response = await submit(client, "/account/sessions/revoke", {}, page="/account")
        if recent:
            assert reauth_next(response) is None
            assert await session_count(app) == 1
        else:
            # A refused POST goes back to the page its form was on.
            assert reauth_next(response) == "/account"
            assert await session_count(app) == 2


async def test_reauth_with_password_then_the_action_works(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await page_user(client)
        await form_login(other_client)
        manual.advance(REAUTH_SECONDS + 1)
        page = await client.get("/reauth?next=/account")
        assert page.status_code == 200
        html = await text_of(page)
        assert 'name="password"' in html and 'value="/account"' in html

        wrong = await submit(
            client, "/reauth", {"password": "not the password", "next": "/account"}, "/account"
        )
        assert wrong.status_code == 400
        assert "not your password" in await text_of(wrong)

        right = await submit(
            client, "/reauth", {"password": PASSWORD, "next": "/account"}, "/account"
        )
        assert right.status_code == 303
        assert right.headers["Location"] == "/account"
        response = await submit(client, "/account/sessions/revoke", {}, page="/account")
        assert reauth_next(response) is None
        assert await session_count(app) == 1

        # The check lasts REAUTH_SECONDS from the re-authentication, not from the login.
        manual.advance(REAUTH_SECONDS + 1)
        await form_login(other_client)
        response = await submit(client, "/account/sessions/revoke", {}, page="/account")
        assert reauth_next(response) == "/account"


@pytest.mark.parametrize("unsafe", ["//evil.example/", "https://evil.example/", "/\\evil"])
async def test_reauth_never_redirects_off_site(client: QuartClient, unsafe: str) -> None:
    await page_user(client)
    response = await submit(client, "/reauth", {"password": PASSWORD, "next": unsafe}, "/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"


async def test_reauth_get_keeps_the_page_to_return_to(client: QuartClient) -> None:
    await page_user(client)
    response = await client.get("/reauth?next=/account/email")
    assert 'value="/account/email"' in await text_of(response)


async def test_reauth_setting_is_honoured(app_overrides: dict[str, str]) -> None:
    app = create_app({**app_overrides, "REAUTH_SECONDS": "30"}, testing=True, send_mail=False)
    async with app.test_app():
        client, other = app.test_client(), app.test_client()
        with clock.use(ManualClock(clock.utcnow())) as manual:
            assert isinstance(manual, ManualClock)
            await page_user(client)
            await form_login(other)
            manual.advance(31)
            response = await submit(client, "/account/sessions/revoke", {}, page="/account")
            assert reauth_next(response) == "/account"
