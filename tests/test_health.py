"""``GET /healthz`` (SPEC §5): 200 ``{"status":"ok"}`` when the database answers, else 503."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from quart import Quart
from sqlalchemy import event

from quart_blog import create_app
from quart_blog.db import EXTENSION_KEY, Database
from tests.factories import SECRET_KEY

PROBES = 50


def get_database_of(app: Quart) -> Database:
    database: Database = app.extensions[EXTENSION_KEY]
    return database


async def test_healthz_is_ok_when_the_database_answers(app: Quart) -> None:
    response = await app.test_client().get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_concurrent_health_checks_share_a_database_round_trip(app: Quart) -> None:
    """A flood of probes must not take every pooled connection from real requests."""
    pings: list[str] = []
    engine = get_database_of(app).engine.sync_engine

    def count_pings(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "SELECT 1":
            pings.append(statement)

    event.listen(engine, "before_cursor_execute", count_pings)
    try:
        client = app.test_client()
        responses = await asyncio.gather(*(client.get("/healthz") for _ in range(PROBES)))
    finally:
        event.remove(engine, "before_cursor_execute", count_pings)
    assert [response.status_code for response in responses] == [200] * PROBES
    assert 1 <= len(pings) <= PROBES // 4, len(pings)


async def test_healthz_is_503_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    # The "database file" is a directory: SQLite cannot open it, the app still serves.
    app = create_app(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}",
            "SECRET_KEY": SECRET_KEY,
            "RATE_LIMITS": "off",
        },
        testing=True,
    )
    async with app.test_app():
        response = await app.test_client().get("/healthz")
        assert response.status_code == 503
        assert await response.get_json() == {"status": "unavailable"}
