"""The token lookup is a compiled statement (``Prepared``), like the session's: one query per
request that gives exactly what SQLAlchemy's session gives (SPEC §14, issue: a Bearer read
costs no more than a cookie read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Quart
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from quart_blog.db import get_database
from quart_blog.db.prepared import compile_plan
from quart_blog.tokens.bearer import hash_token
from quart_blog.tokens.models import ApiToken
from quart_blog.tokens.queries import ACTIVE_TOKEN
from tests.factories import api_user
from tests.tokens.helpers import bearer, make_token


async def lookup(app: Quart, values: dict[str, Any]) -> tuple[Any, list[tuple[Any, ...]]]:
    """The prepared row for ``values`` and the rows the session gives for the same statement."""
    async with get_database(app).sessionmaker() as session:
        prepared = await ACTIVE_TOKEN.first(session, values)
        through = [tuple(row) for row in (await session.execute(ACTIVE_TOKEN.statement, values))]
        return prepared, through


async def test_the_lookup_matches_the_session_and_respects_expiry(app: Quart) -> None:
    client = app.test_client()
    user = await api_user(client)
    made = await make_token(client, scope="read", days=2)
    now = datetime.now(UTC)
    values = {"token_hash": hash_token(made["token"]), "now": now}
    active, through = await lookup(app, values)
    assert active is not None and [tuple(active)] == through
    assert (active.token_id, active.user_id, active.username, active.scope) == (
        made["id"],
        user["id"],
        "alice",
        "read",
    )
    assert active.last_used_at is None
    # Once used, the time comes back aware, in UTC, on both paths.
    await app.test_client().get("/api/v1/me", headers=bearer(made["token"]))
    active, through = await lookup(app, values)
    assert active is not None and [tuple(active)] == through
    assert active.last_used_at is not None and active.last_used_at.tzinfo is UTC
    later = {**values, "now": now + timedelta(days=3)}
    assert (await lookup(app, later))[0] is None
    assert (await lookup(app, {**values, "token_hash": "0" * 64}))[0] is None


async def test_the_table_is_keyed_by_the_hash(app: Quart) -> None:
    client = app.test_client()
    await api_user(client)
    made = await make_token(client)
    async with get_database(app).sessionmaker() as session:
        stored = (await session.execute(select(ApiToken.token_hash))).scalar_one()
    assert stored == hash_token(made["token"])


def test_sqlite_runs_it_packed_in_one_step() -> None:
    assert compile_plan(ACTIVE_TOKEN.statement, sqlite.dialect()).packed
