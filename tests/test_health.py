"""``GET /healthz`` (SPEC §5): 200 ``{"status":"ok"}`` when the database answers, else 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quart import Quart
from sqlalchemy import event

from quart_blog import create_app
from quart_blog.db import Database, get_database
from tests.factories import SECRET_KEY

PROBES = 50


def get_database_of(app: Quart) -> Database:
    database = get_database(app)
    return database


def count_pings(app: Quart) -> tuple[list[str], Callable[[], None]]:
    """Record every ``SELECT 1`` the app's engine sends; returns the list and an undo."""
    pings: list[str] = []
    engine = get_database_of(app).engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "SELECT 1":
            pings.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return pings, lambda: event.remove(engine, "before_cursor_execute", record)


async def test_healthz_is_ok_when_the_database_answers(app: Quart) -> None:
    response = await app.test_client().get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_concurrent_health_checks_share_a_database_round_trip(app: Quart) -> None:
    """A flood of probes must not take every pooled connection from real requests."""
    pings, undo = count_pings(app)
    try:
        client = app.test_client()
        responses = await asyncio.gather(*(client.get("/healthz") for _ in range(PROBES)))
    finally:
        undo()
    assert [response.status_code for response in responses] == [200] * PROBES
    assert 1 <= len(pings) <= PROBES // 4, len(pings)


async def test_probes_right_after_a_good_round_trip_are_answered_from_it(app: Quart) -> None:
    pings, undo = count_pings(app)
    try:
        client = app.test_client()
        statuses = [(await client.get("/healthz")).status_code for _ in range(PROBES)]
    finally:
        undo()
    assert statuses == [200] * PROBES
    assert len(pings) <= 2, len(pings)  # one per half second


async def test_each_probe_pings_once_the_last_answer_is_stale(app: Quart) -> None:
    get_database_of(app).ping_fresh_for = 0.0
    pings, undo = count_pings(app)
    try:
        client = app.test_client()
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
    finally:
        undo()
    assert len(pings) == 3


async def test_a_failed_ping_is_never_reused(app: Quart) -> None:
    database = get_database_of(app)
    database.ping_fresh_for = 0.2
    engine = database.engine.sync_engine
    client = app.test_client()
    assert (await client.get("/healthz")).status_code == 200

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "SELECT 1":
            raise OSError("database unreachable")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        await asyncio.sleep(database.ping_fresh_for)  # the good answer is now stale
        for _ in range(2):
            response = await client.get("/healthz")
            assert response.status_code == 503
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert (await client.get("/healthz")).status_code == 200  # recovery shows at once


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
