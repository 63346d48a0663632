"""GET /api/v1/me/events (SPEC §14): your own log, newest first, paged with ``before``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.api.helpers import assert_error
from tests.events.helpers import insert_events
from tests.factories import api_user

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TYPES = ["password_changed", "logout", "sessions_revoked", "email_changed", "login_failed"]


async def page(client: QuartClient, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/me/events{query}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    assert set(body) == {"items", "next"}
    return body


async def test_pages_go_newest_first_and_end_with_null(app: Quart, client: QuartClient) -> None:
    user = await api_user(client)  # the login is the first entry
    await insert_events(app, user["id"], TYPES * 5, at=WHEN)
    first = await page(client, "")
    assert len(first["items"]) == 20  # the default limit
    seen = [item["id"] for item in first["items"]]
    cursor = first["next"]
    while cursor is not None:
        body = await page(client, f"?limit=7&before={cursor}")
        assert len(body["items"]) <= 7
        seen += [item["id"] for item in body["items"]]
        cursor = body["next"]
    assert len(seen) == 26
    assert seen == sorted(seen, reverse=True)
    everything = await page(client, "?limit=100")
    assert [item["id"] for item in everything["items"]] == seen
    assert everything["next"] is None
    assert everything["items"][-1]["type"] == "login"
    assert everything["items"][0] == {
        "id": seen[0],
        "type": "login_failed",
        "created_at": "2026-03-01T12:00:00Z",
        "address": "192.0.2.1",
        "device": "Firefox 133 on Linux",
    }


async def test_a_page_ending_exactly_at_the_last_entry_says_so(
    app: Quart, client: QuartClient
) -> None:
    user = await api_user(client)
    await insert_events(app, user["id"], ["logout"] * 3, at=WHEN)
    assert (await page(client, "?limit=4"))["next"] is None
    body = await page(client, "?limit=3")
    assert body["next"] == body["items"][-1]["id"]
    assert len((await page(client, f"?limit=3&before={body['next']}"))["items"]) == 1


async def test_nobody_sees_anyone_elses_log(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    alice = await api_user(client)
    bob = await api_user(other_client, "bob")
    await insert_events(app, bob["id"], ["password_changed"], at=WHEN)
    assert [item["type"] for item in (await page(client, ""))["items"]] == ["login"]
    mine = (await page(other_client, ""))["items"]
    assert [item["type"] for item in mine] == ["password_changed", "login"]
    # An id of bob's as ``before`` shows alice only her own, older entries.
    body = await page(client, f"?before={mine[0]['id']}")
    assert {item["id"] for item in body["items"]}.isdisjoint(item["id"] for item in mine)
    assert alice["id"] != bob["id"]


async def test_an_entry_made_outside_a_request_has_no_address(
    app: Quart, client: QuartClient
) -> None:
    user = await api_user(client)
    await insert_events(app, user["id"], ["mfa_disabled"], at=WHEN, address="", user_agent="")
    [newest, _login] = (await page(client, ""))["items"]
    assert newest["address"] is None
    assert newest["device"] == "Unknown device"


@pytest.mark.parametrize(
    "query",
    ["?limit=0", "?limit=101", "?limit=x", "?before=0", "?before=-3", "?before=" + "9" * 20],
)
async def test_bad_paging_is_a_422(client: QuartClient, query: str) -> None:
    await api_user(client)
    await assert_error(await client.get(f"/api/v1/me/events{query}"), 422)
