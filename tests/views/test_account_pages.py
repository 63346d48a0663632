"""The account page: sessions, password change, logging out other browsers (SPEC §5, §8)."""

from __future__ import annotations

import html
import re

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.accounts import devices
from quart_blog.clock import ManualClock
from tests.factories import PASSWORD, api_register, form_login, submit
from tests.views.helpers import Tags, is_logged_in, login_with_agent, text_of

NEW_PASSWORD = "a brand new passphrase"
ROW_RE = re.compile(r"<tr\b.*?</tr>", re.DOTALL)
BODY_ROW_RE = re.compile(r"<tbody>.*?</tbody>", re.DOTALL)
DEVICE_RE = re.compile(r'<td data-label="Device"[^>]*>([^<]*)</td>')
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def session_rows(page: str, agent: str) -> list[str]:
    """The table rows of the account page that mention ``agent``."""
    return [row for row in ROW_RE.findall(page) if agent in row]


def devices_in_order(page: str) -> list[str]:
    """The Device column of the sessions table, top to bottom."""
    [body] = BODY_ROW_RE.findall(page)
    return [html.unescape(name).strip() for name in DEVICE_RE.findall(body)]


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


async def test_current_session_first_then_most_recently_seen(app: Quart) -> None:
    windows, iphone, linux = app.test_client(), app.test_client(), app.test_client()
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_register(windows)
        await login_with_agent(windows, CHROME_WINDOWS)
        manual.advance(120)
        await login_with_agent(iphone, SAFARI_IPHONE)
        manual.advance(120)
        await login_with_agent(linux, FIREFOX_LINUX)
        manual.advance(120)
        # The oldest session asks: it is first, then the newest, then the middle one.
        page = await text_of(await windows.get("/account", headers={"User-Agent": CHROME_WINDOWS}))
        assert devices_in_order(page) == [
            "Chrome 131 on Windows",
            "Firefox 133 on Linux",
            "Safari on iPhone",
        ]
        [first] = ROW_RE.findall(BODY_ROW_RE.findall(page)[0])[:1]
        assert 'class="current"' in first and "This session" in first
        manual.advance(120)
        # Windows was just seen, so from the iPhone it comes right after the iPhone itself.
        page = await text_of(await iphone.get("/account"))
        assert devices_in_order(page) == [
            "Safari on iPhone",
            "Chrome 131 on Windows",
            "Firefox 133 on Linux",
        ]
        assert page.count("This session") == 1


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (CHROME_WINDOWS, "Chrome 131 on Windows"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (FIREFOX_LINUX, "Firefox 133 on Linux"),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
    ],
)
async def test_device_names_a_person_understands(
    client: QuartClient, agent: str, name: str
) -> None:
    await api_register(client)
    await login_with_agent(client, agent)
    page = await text_of(await client.get("/account"))
    assert devices_in_order(page) == [name]
    [row] = ROW_RE.findall(BODY_ROW_RE.findall(page)[0])
    if agent:  # the raw User-Agent stays at hand, as the cell's tooltip
        assert f'title="{html.escape(agent)}"' in row
    else:
        assert "title=" not in row


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPad",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (CHROME_WINDOWS + " Edg/131.0.0.0", "Edge 131 on Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "A browser on Linux"),
        ("Browser-One/1.0", "Browser-One/1.0"),
        ("   ", "Unknown device"),
        ("x" * 200, "x" * 39 + "…"),
    ],
)
def test_device_name_cases(agent: str, name: str) -> None:
    assert devices.device_name(agent) == name


async def test_device_names_parse_each_agent_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_names", {})
    seen: list[str] = []
    parse = devices.device_name

    def counting(agent: str) -> str:
        seen.append(agent)
        return parse(agent)

    monkeypatch.setattr(devices, "device_name", counting)
    assert await devices.device_names(["curl/8.5.0", FIREFOX_LINUX, "curl/8.5.0"]) == {
        "curl/8.5.0": "curl",
        FIREFOX_LINUX: "Firefox 133 on Linux",
    }
    assert await devices.device_names([FIREFOX_LINUX]) == {FIREFOX_LINUX: "Firefox 133 on Linux"}
    assert sorted(seen) == sorted(["curl/8.5.0", FIREFOX_LINUX])


async def test_sessions_table_status_header_has_text(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    page = await text_of(await client.get("/account"))
    assert '<th scope="col"></th>' not in page
    assert '<span class="visually-hidden">Status</span>' in page
    assert 'data-label="Logged in"' in page and 'data-label="Last seen"' in page
