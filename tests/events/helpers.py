"""Reading the security log through the API, and writing entries straight into the table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import insert

from quart_blog.db import get_database
from quart_blog.events.models import AuthEvent

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


async def events_of(client: QuartClient, limit: int = 100) -> list[dict[str, Any]]:
    """The first page of the logged-in user's log, newest first (the API's items)."""
    response = await client.get(f"/api/v1/me/events?limit={limit}")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def types_of(client: QuartClient) -> list[str]:
    """The event types of the log, newest first."""
    return [event["type"] for event in await events_of(client)]


async def insert_events(
    app: Quart,
    user_id: int,
    types: list[str],
    *,
    at: datetime,
    address: str = "192.0.2.1",
    user_agent: str = FIREFOX_LINUX,
) -> None:
    """Write entries straight into ``auth_events`` (faster than causing each one)."""
    rows = [
        {
            "user_id": user_id,
            "type": event_type,
            "created_at": at,
            "address": address,
            "user_agent": user_agent,
        }
        for event_type in types
    ]
    async with app.app_context(), get_database().engine.begin() as connection:
        await connection.execute(insert(AuthEvent), rows)
