"""Prepared statements (``quart_blog.db.prepared``) give exactly what SQLAlchemy's session gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from quart import Quart
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.models import AuthSession
from quart_blog.accounts.queries import ACTIVE_SESSION
from quart_blog.db import Database, get_database
from quart_blog.db.prepared import Prepared
from quart_blog.posts.models import Post
from quart_blog.posts.queries import PAGE_BEFORE, PAGE_FIRST
from tests.factories import api_post, api_user


def database(app: Quart) -> Database:
    found = get_database(app)
    return found


async def through_the_session(
    session: AsyncSession, prepared: Prepared[Any], values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await session.execute(prepared.statement, values)).all()]


async def test_posts_pages_match_the_session_row_for_row(app: Quart) -> None:
    client = app.test_client()
    user = await api_user(client)
    for number in range(7):
        await api_post(client, title=f"post {number}", body=f"body {number} ünïcødé")
    async with database(app).sessionmaker() as session:
        first = await PAGE_FIRST.all(session, {"user_id": user["id"], "limit": 5})
        assert [tuple(row) for row in first] == await through_the_session(
            session, PAGE_FIRST, {"user_id": user["id"], "limit": 5}
        )
        values = {"user_id": user["id"], "limit": 5, "before": first[-1].id}
        rest = await PAGE_BEFORE.all(session, values)
        assert [tuple(row) for row in rest] == await through_the_session(
            session, PAGE_BEFORE, values
        )
    assert [row.title for row in first + rest] == [f"post {n}" for n in range(6, -1, -1)]
    assert rest[-1].body == "body 0 ünïcødé"
    for row in first + rest:
        assert row.created_at.tzinfo is UTC
        assert abs(datetime.now(UTC) - row.updated_at) < timedelta(minutes=1)


async def test_session_lookup_matches_and_respects_expiry(app: Quart) -> None:
    client = app.test_client()
    user = await api_user(client)
    async with database(app).sessionmaker() as session:
        token_hash = (await session.execute(select(AuthSession.token_hash))).scalar_one()
        now = datetime.now(UTC)
        values = {"token_hash": token_hash, "now": now}
        active = await ACTIVE_SESSION.first(session, values)
        assert active is not None
        assert [tuple(active)] == await through_the_session(session, ACTIVE_SESSION, values)
        assert (active.user_id, active.username) == (user["id"], user["username"])
        assert active.last_seen_at.tzinfo is UTC
        later = {"token_hash": token_hash, "now": now + timedelta(days=400)}
        assert await ACTIVE_SESSION.first(session, later) is None
        assert await ACTIVE_SESSION.first(session, {"token_hash": "0" * 64, "now": now}) is None


def test_row_type_must_name_the_columns() -> None:
    class Wrong(NamedTuple):
        ident: int

    with pytest.raises(TypeError, match="Wrong"):
        Prepared(select(Post.id), Wrong)
