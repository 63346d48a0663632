"""The second factor on the pages (SPEC §12): /account/2fa, /login/2fa, /reauth by code."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart, Response
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.mfa.service import PENDING_COOKIE
from tests.api.helpers import AUTH_COOKIE, assert_error, set_cookies
from tests.factories import PASSWORD, csrf_token, form_login, page_user, submit
from tests.mfa.helpers import Authenticator, events, is_logged_in_api, status
from tests.views.helpers import Tags, sql, text_of

QR_RE = re.compile(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')
SECRET_RE = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
CODE_ITEM_RE = re.compile(r"<li><code>([a-z2-7-]{19})</code></li>")


@pytest.fixture
def manual() -> Iterator[ManualClock]:
    with clock.use(ManualClock(clock.utcnow())) as chosen:
        assert isinstance(chosen, ManualClock)
        yield chosen


def location(response: Response) -> tuple[str, dict[str, list[str]]]:
    """The path and query of a redirect."""
    assert response.status_code == 303, response.status_code
    parts = urlsplit(response.headers["Location"])
    return parts.path, parse_qs(parts.query)


async def page_enrol(client: QuartClient, manual: ManualClock) -> tuple[Authenticator, list[str]]:
    """Turn TOTP on through the pages: the app, and the recovery codes the page showed."""
    started = await submit(client, "/account/2fa/totp", {}, page="/account/2fa")
    assert location(started)[0] == "/account/2fa"
    html = await text_of(await client.get("/account/2fa"))
    secret_match = SECRET_RE.search(html)
    assert secret_match is not None, html
    authenticator = Authenticator(secret_match.group(1).replace(" ", ""), manual)
    confirmed = await submit(
        client, "/account/2fa/totp/confirm", {"code": authenticator.code()}, page="/account/2fa"
    )
    assert confirmed.status_code == 200
    codes = CODE_ITEM_RE.findall(await text_of(confirmed))
    assert len(codes) == 10
    return authenticator, codes


async def test_page_shows_a_qr_code_and_the_secret(
    client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    off = await text_of(await client.get("/account/2fa"))
    assert "Off." in off and 'action="/account/2fa/totp"' in off
    await submit(client, "/account/2fa/totp", {}, page="/account/2fa")
    response = await client.get("/account/2fa")
    html = await text_of(response)
    qr = QR_RE.search(html)
    assert qr is not None, html
    svg = base64.b64decode(qr.group(1)).decode()
    assert svg.startswith("<svg") and "<script" not in svg
    secret = SECRET_RE.search(html)
    assert secret is not None
    grouped = secret.group(1)
    assert all(len(group) == 4 for group in grouped.split(" "))
    # No inline script or style: the CSP forbids them, and data: images are allowed.
    tags = Tags(html)
    assert all("src" in script for script in tags.named("script"))
    assert not tags.named("style") and all("style" not in attrs for _t, attrs in tags.tags)
    csp = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "'unsafe-inline'" not in csp
    assert Tags(html).field("code") is not None
    # Still off until a code confirms it.
    assert (await status(client))["totp"] is False


async def test_wrong_code_on_the_page_is_400_and_keeps_the_enrolment(
    client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    await submit(client, "/account/2fa/totp", {}, page="/account/2fa")
    secret = SECRET_RE.search(await text_of(await client.get("/account/2fa")))
    assert secret is not None
    wrong = Authenticator(secret.group(1).replace(" ", ""), manual).wrong_code()
    response = await submit(
        client, "/account/2fa/totp/confirm", {"code": wrong}, page="/account/2fa"
    )
    assert response.status_code == 400
    html = await text_of(response)
    assert "not right" in html and QR_RE.search(html) is not None
    assert (Tags(html).field("code") or {}).get("aria-invalid") == "true"
    assert (await status(client))["totp"] is False


async def test_confirming_on_the_page_shows_the_codes_once(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    _authenticator, codes = await page_enrol(client, manual)
    assert await status(client) == {"totp": True, "recovery_codes_left": 10, "passkeys": 0}
    again = await text_of(await client.get("/account/2fa"))
    assert "On." in again and "10 of 10" in again
    assert not any(code in again for code in codes)


async def test_regenerate_and_turn_off_on_the_page(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    _authenticator, old = await page_enrol(client, manual)
    response = await submit(client, "/account/2fa/recovery-codes", {}, page="/account/2fa")
    assert response.status_code == 200
    new = CODE_ITEM_RE.findall(await text_of(response))
    assert len(new) == 10 and not set(new) & set(old)
    response = await submit(client, "/account/2fa/totp/disable", {}, page="/account/2fa")
    assert location(response)[0] == "/account/2fa"
    assert "is off" in await text_of(await client.get("/account/2fa"))
    assert (await status(client))["totp"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/account/2fa/totp",
        "/account/2fa/totp/confirm",
        "/account/2fa/totp/disable",
        "/account/2fa/recovery-codes",
    ],
)
async def test_page_changes_need_recent_authentication(
    app: Quart, client: QuartClient, manual: ManualClock, path: str
) -> None:
    await page_user(client)
    await page_enrol(client, manual)
    before = await sql(app, "SELECT secret, confirmed_at FROM mfa_totp")
    manual.advance(601)
    response = await submit(client, path, {"code": "000000"}, page="/account/2fa")
    assert location(response) == ("/reauth", {"next": ["/account/2fa"]})
    assert await sql(app, "SELECT secret, confirmed_at FROM mfa_totp") == before


async def test_login_form_goes_to_the_code_step(client: QuartClient, manual: ManualClock) -> None:
    await page_user(client)
    authenticator, _codes = await page_enrol(client, manual)
    await submit(client, "/logout", {}, page="/logout")
    token = await csrf_token(client, "/login")
    response = await client.post(
        "/login?next=/posts/new",
        form={"username": "alice", "password": PASSWORD, "csrf_token": token},
    )
    assert location(response) == ("/login/2fa", {"next": ["/posts/new"]})
    cookies = set_cookies(response)
    assert AUTH_COOKIE not in cookies and PENDING_COOKIE in cookies
    assert not await is_logged_in_api(client)

    form_page = await client.get("/login/2fa?next=/posts/new")
    assert form_page.status_code == 200
    html = await text_of(form_page)
    assert Tags(html).field("code") is not None and 'value="/posts/new"' in html

    wrong = await submit(
        client,
        "/login/2fa",
        {"code": authenticator.wrong_code(), "next": "/posts/new"},
        page="/login/2fa",
    )
    assert wrong.status_code == 401
    assert Tags(await text_of(wrong)).field("code") is not None
    right = await submit(
        client,
        "/login/2fa",
        {"code": authenticator.next_code(), "next": "/posts/new"},
        page="/login/2fa",
    )
    assert location(right)[0] == "/posts/new"
    assert await is_logged_in_api(client)


async def test_code_step_never_redirects_off_site(client: QuartClient, manual: ManualClock) -> None:
    await page_user(client)
    authenticator, _codes = await page_enrol(client, manual)
    await submit(client, "/logout", {}, page="/logout")
    await form_login(client)
    response = await submit(
        client,
        "/login/2fa",
        {"code": authenticator.next_code(), "next": "//evil.example/"},
        page="/login/2fa",
    )
    assert location(response)[0] == "/posts"


async def test_five_wrong_codes_on_the_page_start_over(
    client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    authenticator, _codes = await page_enrol(client, manual)
    await submit(client, "/logout", {}, page="/logout")
    await form_login(client)
    wrong = {"code": authenticator.wrong_code()}
    for _ in range(4):
        response = await submit(client, "/login/2fa", wrong, page="/login/2fa")
        assert response.status_code == 401
    response = await submit(client, "/login/2fa", wrong, page="/login/2fa")
    assert location(response)[0] == "/login"
    assert "Log in again" in await text_of(await client.get("/login"))
    assert not await is_logged_in_api(client)


async def test_code_page_without_a_pending_login(client: QuartClient) -> None:
    response = await client.get("/login/2fa")
    assert response.status_code == 200
    html = await text_of(response)
    assert "Log in again" in html and Tags(html).field("code") is None


async def test_reauth_page_takes_a_code_when_totp_is_on(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    without = Tags(await text_of(await client.get("/reauth?next=/account")))
    assert without.field("code") is None
    authenticator, _codes = await page_enrol(client, manual)
    manual.advance(601)
    page = Tags(await text_of(await client.get("/reauth?next=/account/2fa")))
    assert page.field("code") is not None
    assert "required" not in (page.field("password") or {})

    wrong = await submit(
        client,
        "/reauth",
        {"code": authenticator.wrong_code(), "next": "/account/2fa"},
        page="/account/2fa",
    )
    assert wrong.status_code == 400
    assert "code is not right" in await text_of(wrong)
    right = await submit(
        client,
        "/reauth",
        {"code": authenticator.next_code(), "next": "/account/2fa"},
        page="/account/2fa",
    )
    assert location(right)[0] == "/account/2fa"
    response = await submit(client, "/account/2fa/totp/disable", {}, page="/account/2fa")
    assert location(response)[0] == "/account/2fa"
    assert (await status(client))["totp"] is False


async def test_reauth_page_takes_a_recovery_code_once(
    app: Quart, client: QuartClient, manual: ManualClock
) -> None:
    await page_user(client)
    _authenticator, codes = await page_enrol(client, manual)
    manual.advance(601)
    used = await submit(client, "/reauth", {"code": codes[0], "next": "/account"}, "/account")
    assert location(used)[0] == "/account"
    [(user_id,)] = await sql(app, "SELECT id FROM users")
    assert (await events(app, int(user_id)))[-1] == "recovery_code_used"
    assert (await status(client))["recovery_codes_left"] == 9
    manual.advance(601)
    again = await submit(client, "/reauth", {"code": codes[0], "next": "/account"}, "/account")
    assert again.status_code == 400


async def test_api_reauth_by_code(app: Quart, client: QuartClient, manual: ManualClock) -> None:
    await page_user(client)
    authenticator, codes = await page_enrol(client, manual)
    manual.advance(601)
    await assert_error(
        await client.post("/api/v1/reauth", json={"code": authenticator.wrong_code()}),
        401,
        "invalid_credentials",
    )
    code = authenticator.next_code()
    assert (await client.post("/api/v1/reauth", json={"code": code})).status_code == 204
    assert (await client.post("/api/v1/me/2fa/recovery-codes")).status_code == 200
    # The accepted code is spent.
    manual.advance(601)
    await assert_error(
        await client.post("/api/v1/reauth", json={"code": code}), 401, "invalid_credentials"
    )
    # The regeneration voided the first codes.
    await assert_error(
        await client.post("/api/v1/reauth", json={"code": codes[1]}), 401, "invalid_credentials"
    )
