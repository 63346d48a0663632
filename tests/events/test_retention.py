"""Old entries are pruned: kept for a year, pruned in batches, at most once an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.events import retention
from quart_blog.events.retention import RETENTION, get_pruner, prune_old_events
from tests.events.helpers import insert_events
from tests.factories import api_login, api_user
from tests.views.helpers import sql

START = datetime(2026, 1, 1, tzinfo=UTC)


async def stored_types(app: Quart) -> list[str]:
    return [str(row[0]) for row in await sql(app, "SELECT type FROM auth_events ORDER BY id")]


async def test_entries_older_than_the_retention_go(app: Quart, client: QuartClient) -> None:
    with clock.use(ManualClock(START)) as manual:
        user = await api_user(client)  # "login", at START
        await insert_events(app, user["id"], ["logout"], at=START + timedelta(days=200))
        manual.advance(RETENTION.total_seconds() - 1)
        assert await get_pruner(app).prune_if_due() == 0  # a second short of a year: kept
        assert await stored_types(app) == ["login", "logout"]

        manual.advance(retention.PRUNE_EVERY_S - 1)
        assert await get_pruner(app).prune_if_due() is None  # pruned within the hour: not due
        manual.advance(1)
        assert await get_pruner(app).prune_if_due() == 1
        assert await stored_types(app) == ["logout"]
        # Still listed to its owner (logged in anew: a year ended the session) until its
        # own year is up.
        await api_login(client)
        response = await client.get("/api/v1/me/events")
        assert [item["type"] for item in (await response.get_json())["items"]] == [
            "login",
            "logout",
        ]


async def test_pruning_goes_in_batches_until_nothing_old_is_left(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    alice = await api_user(client)
    bob = await api_user(other_client, "bob")
    old = START - RETENTION - timedelta(days=1)
    await insert_events(app, alice["id"], ["logout"] * 7, at=old)
    await insert_events(app, bob["id"], ["logout"] * 4, at=old)
    with clock.use(ManualClock(START)):
        async with app.app_context():
            assert await prune_old_events(batch=3) == 11
            assert await prune_old_events(batch=3) == 0
    assert await stored_types(app) == ["login", "login"]  # the logins are recent (real time)
