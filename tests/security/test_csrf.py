"""CSRF: every form POST needs this browser's token; tokens rotate at login and survive
key rotation (SPEC §4, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from quart import Quart
from quart.testing import QuartClient

from tests.factories import PASSWORD, api_post, api_register, csrf_token, form_login, page_user
from tests.views.helpers import Tags, copy_cookies, is_logged_in, running_app, snapshot, text_of

OLD_KEY = "old-key-0123456789abcdef"
NEW_KEY = "new-key-0123456789abcdef"
NEW_PASSWORD = "a brand new passphrase"


@dataclass(frozen=True)
class Route:
    """A form POST route, the form it takes, and whether it is used logged in."""

    path: str
    form: dict[str, str]
    logged_in: bool = True


ROUTES = [
    Route("/register", {"username": "bob", "password": PASSWORD, "confirm": PASSWORD}, False),
    Route("/login", {"username": "alice", "password": PASSWORD}, False),
    Route("/logout", {}),
    Route("/posts", {"title": "Sneaky", "body": "Sneaky"}),
    Route("/posts/{post}/edit", {"title": "Sneaky", "body": "Sneaky"}),
    Route("/posts/{post}/delete", {}),
    Route(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    ),
    Route("/account/sessions/revoke", {}),
]
ROUTE_IDS = [route.path for route in ROUTES]


@pytest.fixture(name="world")
async def _world(app: Quart, client: QuartClient, other_client: QuartClient) -> dict[str, Any]:
    """alice logged in on ``client`` and ``other_client``, with one post."""
    await api_register(client)
    await form_login(client)
    await form_login(other_client)
    post = await api_post(client)
    stranger = app.test_client()
    await csrf_token(stranger, "/login")  # an anonymous browser holding its own token seed
    return {"post": post["id"], "stranger": stranger}


async def attempt(
    world: dict[str, Any], client: QuartClient, route: Route, token: str | None
) -> Any:
    """POST ``route`` from ``client`` (or a fresh anonymous browser) with ``token``."""
    browser = client if route.logged_in else world["stranger"]
    form = dict(route.form)
    if token is not None:
        form["csrf_token"] = token
    return await browser.post(route.path.format(post=world["post"]), form=form)


async def assert_refused(app: Quart, response: Any, before: dict[str, Any]) -> None:
    """403, and nothing in the database changed."""
    assert response.status_code == 403, await text_of(response)
    assert await snapshot(app) == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_form_post_without_token_403(
    app: Quart, client: QuartClient, world: dict[str, Any], route: Route
) -> None:
    before = await snapshot(app)
    response = await attempt(world, client, route, None)
    await assert_refused(app, response, before)
    assert await is_logged_in(client)
    assert not await is_logged_in(world["stranger"])


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_form_post_token_from_other_browser_403(
    app: Quart, client: QuartClient, other_client: QuartClient, world: dict[str, Any], route: Route
) -> None:
    # Same user, other session (logged in) or another anonymous browser (logged out).
    donor = other_client if route.logged_in else app.test_client()
    token = await csrf_token(donor, "/login")
    before = await snapshot(app)
    response = await attempt(world, client, route, token)
    await assert_refused(app, response, before)


def tamper(token: str, how: str) -> str:
    """A token that looks plausible but must not verify."""
    if how == "forged":
        return str(URLSafeSerializer("attacker-key-0123456789", salt="quart-blog csrf").dumps("x"))
    if how == "truncated":
        return token[:-2]
    if how == "flipped":  # the signature's first character (its last may be padding bits)
        payload, _, signature = token.rpartition(".")
        return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    return "garbage"


@pytest.mark.parametrize("how", ["forged", "truncated", "flipped", "garbage"])
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_form_post_bad_token_403(
    app: Quart, client: QuartClient, world: dict[str, Any], route: Route, how: str
) -> None:
    browser = client if route.logged_in else world["stranger"]
    token = tamper(await csrf_token(browser, "/login"), how)
    before = await snapshot(app)
    response = await attempt(world, client, route, token)
    await assert_refused(app, response, before)


async def test_token_rotates_at_login(app: Quart, client: QuartClient) -> None:
    await api_register(client)
    before_login = await csrf_token(client, "/login")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": before_login}
    assert (await client.post("/login", form=form)).status_code == 303
    after_login = await csrf_token(client, "/posts/new")
    assert after_login != before_login
    snap = await snapshot(app)
    stale = await client.post(
        "/posts", form={"title": "t", "body": "b", "csrf_token": before_login}
    )
    await assert_refused(app, stale, snap)
    fresh = await client.post("/posts", form={"title": "t", "body": "b", "csrf_token": after_login})
    assert fresh.status_code == 303


async def test_token_rotates_at_relogin(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    first = await csrf_token(client, "/posts/new")
    await form_login(client)
    assert await csrf_token(client, "/posts/new") != first
    response = await client.post("/posts", form={"title": "t", "body": "b", "csrf_token": first})
    assert response.status_code == 403


async def test_secret_key_rotation_keeps_login_cookie_and_token(
    app_overrides: dict[str, str],
) -> None:
    async with running_app({**app_overrides, "SECRET_KEY": OLD_KEY}) as old_app:
        browser = old_app.test_client()
        await api_register(browser)
        await form_login(browser)
        form = {"title": "Signed before", "body": "b", "csrf_token": await csrf_token(browser)}

    async with running_app({**app_overrides, "SECRET_KEY": f"{NEW_KEY},{OLD_KEY}"}) as both:
        migrated = both.test_client()
        copy_cookies(browser, migrated)
        assert await is_logged_in(migrated)
        assert (await migrated.post("/posts", form=form)).status_code == 303
        fresh = {**form, "csrf_token": await csrf_token(migrated)}
        assert (await migrated.post("/posts", form=fresh)).status_code == 303

    async with running_app({**app_overrides, "SECRET_KEY": NEW_KEY}) as new_only:
        dropped = new_only.test_client()
        copy_cookies(browser, dropped)
        assert not await is_logged_in(dropped)
        before = await snapshot(new_only)
        await assert_refused(new_only, await dropped.post("/posts", form=form), before)
        assert len(before["posts"]) == 2


@pytest.mark.parametrize(("keys", "status"), [(f"{NEW_KEY},{OLD_KEY}", 303), (NEW_KEY, 403)])
async def test_secret_key_rotation_anonymous_token(
    app_overrides: dict[str, str], keys: str, status: int
) -> None:
    async with running_app({**app_overrides, "SECRET_KEY": OLD_KEY}) as old_app:
        visitor = old_app.test_client()
        token = await csrf_token(visitor, "/register")

    async with running_app({**app_overrides, "SECRET_KEY": keys}) as rotated:
        browser = rotated.test_client()
        copy_cookies(visitor, browser)
        form = {"username": "bob", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token}
        response = await browser.post("/register", form=form)
        assert response.status_code == status


async def test_stale_form_comes_back_filled_in_with_a_fresh_token(
    app: Quart, client: QuartClient
) -> None:
    """SPEC §8: a form refused for its token (logged in or out meanwhile in another tab)
    comes back with what was typed, passwords aside, and a token that now works."""
    await page_user(client)
    stale = await csrf_token(client, "/posts/new")
    await client.post("/logout", form={"csrf_token": await csrf_token(client, "/posts/new")})
    await form_login(client)  # another tab: logged out and in again, so a new session
    draft = {"title": "My <draft>", "body": "Line one\nline two", "csrf_token": stale}
    before = await snapshot(app)
    refused = await client.post("/posts", form=draft)
    await assert_refused(app, refused, before)
    html = await text_of(refused)
    tags = Tags(html)
    assert tags.field("title") is not None and tags.field("title")["value"] == "My <draft>"  # type: ignore[index]
    assert "Line one\nline two</textarea>" in html
    assert {"method": "post", "action": "/posts", "class": "card"} in tags.named("form")
    fresh = tags.field("csrf_token")
    assert fresh is not None and fresh["value"] != stale
    resent = await client.post(
        "/posts",
        form={"title": "My <draft>", "body": "Line one\nline two", "csrf_token": fresh["value"]},
    )
    assert resent.status_code == 303


async def test_stale_login_form_keeps_the_username_not_the_password(client: QuartClient) -> None:
    await api_register(client)
    response = await client.post(
        "/login?next=/posts/new",
        form={"username": "alice", "password": PASSWORD, "remember": "on", "csrf_token": "stale"},
    )
    assert response.status_code == 403
    html = await text_of(response)
    tags = Tags(html)
    assert tags.field("username")["value"] == "alice"  # type: ignore[index]
    assert tags.field("password") == {  # type: ignore[comparison-overlap]
        "id": tags.field("password")["id"],  # type: ignore[index]
        "name": "password",
        "type": "password",
        "value": "",
        "autocomplete": "current-password",
    }
    assert PASSWORD not in html
    assert {"method": "post", "action": "/login?next=/posts/new", "class": "card"} in tags.named(
        "form"
    )
