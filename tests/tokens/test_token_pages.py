"""The /account/tokens page (SPEC §14): list, create (shown once) and revoke, with CSRF."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from tests.factories import api_user, csrf_token, page_user, submit
from tests.tokens.helpers import bearer, event_types, make_token, token_rows
from tests.views.helpers import Tags, text_of

PAGE = "/account/tokens"
TOKEN_RE = re.compile(r'value="(qb_[A-Za-z0-9_-]{43})"')
FORM = {"name": "backup script", "scope": "read", "expires_in_days": "30"}


async def create(client: QuartClient, **changes: str) -> tuple[int, str]:
    """Submit the create form (with its CSRF token); the status and the page."""
    response = await submit(client, PAGE, {**FORM, **changes}, page=PAGE)
    return response.status_code, await text_of(response)


async def test_the_page_lists_nothing_and_offers_the_form(client: QuartClient) -> None:
    await page_user(client)
    response = await client.get(PAGE)
    assert response.status_code == 200
    html = await text_of(response)
    assert "No tokens yet." in html
    tags = Tags(html)
    assert tags.field("name") is not None
    assert tags.field("expires_in_days") is not None
    scopes = [a["value"] for a in tags.named("input") if a.get("name") == "scope"]
    assert scopes == ["read", "write"]
    assert tags.field("csrf_token") is not None


async def test_a_new_token_is_shown_once_and_works(app: Quart, client: QuartClient) -> None:
    await page_user(client)
    status, html = await create(client)
    assert status == 200
    match = TOKEN_RE.search(html)
    assert match is not None
    assert "Copy it now" in html
    token = match.group(1)
    script = app.test_client()
    assert (await script.get("/api/v1/me", headers=bearer(token))).status_code == 200
    # Listed from now on, the secret never again.
    again = await text_of(await client.get(PAGE))
    assert "backup script" in again and token not in again and TOKEN_RE.search(again) is None
    assert "token_created" in await event_types(app)


async def test_the_page_with_the_secret_is_never_cached(client: QuartClient) -> None:
    await page_user(client)
    response = await submit(client, PAGE, FORM, page=PAGE)
    assert "no-store" in response.headers["Cache-Control"]


async def test_the_list_shows_what_the_api_made(client: QuartClient) -> None:
    await page_user(client)
    await make_token(client, name="<script>alert(1)</script>", scope="write", days=3)
    html = await text_of(await client.get(PAGE))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "write" in html and "Never" in html


async def test_creating_without_the_csrf_token_is_refused(app: Quart, client: QuartClient) -> None:
    await page_user(client)
    response = await client.post(PAGE, form=FORM)
    assert response.status_code == 403
    assert await token_rows(app) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"scope": "admin"},
        {"scope": ""},
        {"expires_in_days": "0"},
        {"expires_in_days": "366"},
        {"expires_in_days": "ten"},
        {"expires_in_days": "1.5"},
        {"expires_in_days": "٣"},
        {"expires_in_days": ""},
    ],
)
async def test_bad_input_is_400_with_the_form_as_typed(
    app: Quart, client: QuartClient, changes: dict[str, str]
) -> None:
    await page_user(client)
    status, html = await create(client, **changes)
    assert status == 400
    assert 'role="alert"' in html
    name = Tags(html).field("name")
    assert name is not None and name["value"] == changes.get("name", FORM["name"])
    assert await token_rows(app) == []


async def test_write_scope_is_kept_when_the_form_comes_back(client: QuartClient) -> None:
    await page_user(client)
    status, html = await create(client, scope="write", expires_in_days="0")
    assert status == 400
    checked = [a for a in Tags(html).named("input") if a.get("name") == "scope" and "checked" in a]
    assert [a["value"] for a in checked] == ["write"]


async def test_creating_needs_recent_authentication(app: Quart, client: QuartClient) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await page_user(client)
        token = await csrf_token(client, PAGE)
        manual.advance(601)
        response = await client.post(PAGE, form={**FORM, "csrf_token": token})
        assert response.status_code == 303
        location = urlsplit(response.headers["Location"])
        assert location.path == "/reauth"
        assert parse_qs(location.query)["next"] == [PAGE]
        assert await token_rows(app) == []


async def test_revoke_with_csrf(app: Quart, client: QuartClient) -> None:
    await page_user(client)
    made = await make_token(client)
    response = await submit(client, f"{PAGE}/{made['id']}/revoke", {}, page=PAGE)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(PAGE)
    assert await token_rows(app) == []
    assert "token_revoked" in await event_types(app)
    follow = await text_of(await client.get(PAGE))
    assert "Token revoked" in follow
    script = app.test_client()
    assert (await script.get("/api/v1/me", headers=bearer(made["token"]))).status_code == 401


async def test_revoke_without_csrf_is_refused(app: Quart, client: QuartClient) -> None:
    await page_user(client)
    made = await make_token(client)
    response = await client.post(f"{PAGE}/{made['id']}/revoke")
    assert response.status_code == 403
    assert len(await token_rows(app)) == 1


async def test_revoking_another_users_token_is_404(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    await page_user(client)
    await api_user(other_client, "bob")
    bobs = await make_token(other_client)
    response = await submit(client, f"{PAGE}/{bobs['id']}/revoke", {}, page=PAGE)
    assert response.status_code == 404
    assert len(await token_rows(app)) == 1


async def test_each_token_has_a_revoke_button(client: QuartClient) -> None:
    await page_user(client)
    first = await make_token(client, name="one")
    second = await make_token(client, name="two")
    tags = Tags(await text_of(await client.get(PAGE)))
    actions = [a["action"] for a in tags.named("form") if a.get("action", "").endswith("/revoke")]
    assert actions == [f"{PAGE}/{second['id']}/revoke", f"{PAGE}/{first['id']}/revoke"]


async def test_the_account_page_links_here(client: QuartClient) -> None:
    await page_user(client)
    html = await text_of(await client.get("/account"))
    assert f'href="{PAGE}"' in html


async def test_the_page_needs_login(client: QuartClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login?next=")
