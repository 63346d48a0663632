"""/account/security: the latest 50 entries, newest first, in words (SPEC §14)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from quart import Quart
from quart.testing import QuartClient

from quart_blog.events.log import EVENT_TYPES
from quart_blog.events.service import EVENT_WORDS
from tests.events.helpers import insert_events
from tests.factories import api_register, form_login
from tests.views.helpers import Tags, text_of

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROW_RE = re.compile(r"<tr>\s*<td data-label=\"What\">(.*?)</td>", re.DOTALL)


def what_column(page: str) -> list[str]:
    """The "What" cell of every row, top to bottom."""
    return [html.unescape(cell).strip() for cell in ROW_RE.findall(page)]


def test_every_event_type_has_words() -> None:
    assert set(EVENT_WORDS) == EVENT_TYPES


async def test_latest_fifty_newest_first(app: Quart, client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    user_id = int((await (await client.get("/api/v1/me")).get_json())["id"])
    await insert_events(app, user_id, ["logout"] * 49 + ["password_changed"] * 5, at=WHEN)
    response = await client.get("/account/security")
    assert response.status_code == 200
    page = await text_of(response)
    rows = what_column(page)
    assert len(rows) == 50
    assert rows[:5] == ["Password changed"] * 5
    assert rows[5:] == ["Logged out"] * 45  # the login and the oldest four are not shown
    assert '<time datetime="2026-03-01T12:00:00+00:00">2026-03-01 12:00 UTC</time>' in page
    assert "192.0.2.1" in page and "Firefox 133 on Linux" in page


async def test_what_a_browser_sent_is_escaped(app: Quart, client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    user_id = int((await (await client.get("/api/v1/me")).get_json())["id"])
    agent = '<script>alert("x")</script>'
    await insert_events(app, user_id, ["login_failed"], at=WHEN, address="", user_agent=agent)
    page = await text_of(await client.get("/account/security"))
    assert "<script>alert" not in page
    assert what_column(page)[0] == "Failed login: wrong password"
    assert "—" in page  # no address recorded
    # The raw User-Agent is there for who wants it, as the cell's tooltip.
    titles = [attrs.get("title") for attrs in Tags(page).named("td") if attrs.get("title")]
    assert agent in titles


async def test_the_account_page_links_log_export_and_deletion(client: QuartClient) -> None:
    await api_register(client)
    await form_login(client)
    links = {
        attrs.get("href") for attrs in Tags(await text_of(await client.get("/account"))).named("a")
    }
    assert {"/account/security", "/account/export", "/account/delete"} <= links
