"""Prepared statements (``quart_blog.db.prepared``) give exactly what SQLAlchemy's session gives,
and keep the session's transactions: atomic on their own, rolled back with a failed unit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest
from quart import Quart
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.accounts.models import AuthSession
from quart_blog.accounts.queries import ACTIVE_SESSION
from quart_blog.db import Database, get_database, get_session, single_write, write_transaction
from quart_blog.db.prepared import Prepared, compile_plan
from quart_blog.db.session import close_session
from quart_blog.posts.models import Post
from quart_blog.posts.queries import INSERT_POST, PAGE_BEFORE, PAGE_FIRST
from quart_blog.security.limit_stores import RateLimitEntry
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


async def test_a_prepared_write_in_a_unit_of_work_is_rolled_back_with_it(app: Quart) -> None:
    client = app.test_client()
    user = await api_user(client)
    async with app.app_context():
        session = get_session()
        with pytest.raises(RuntimeError, match="unit fails"):
            async with write_transaction(session):
                await INSERT_POST.all(session, new_post(user["id"], "rolled back"))
                raise RuntimeError("the unit fails after the INSERT")
        await close_session(None)
    async with database(app).sessionmaker() as check:
        titles = (await check.execute(select(Post.title))).scalars().all()
    assert titles == []


async def test_a_prepared_write_on_its_own_is_committed_at_once(app: Quart) -> None:
    client = app.test_client()
    user = await api_user(client)
    async with app.app_context():
        session = get_session()
        async with single_write(session):
            (row,) = await INSERT_POST.all(session, new_post(user["id"], "kept"))
        await close_session(None)
    async with database(app).sessionmaker() as check:
        found = (await check.execute(select(Post.id, Post.title))).all()
    assert [tuple(found_row) for found_row in found] == [(row.id, "kept")]
    assert row.created_at.tzinfo is UTC


async def test_a_statement_outside_a_transaction_holds_no_connection_after_it(
    app: Quart, database_url: str
) -> None:
    client = app.test_client()
    user = await api_user(client)
    pool = database(app).engine.pool
    async with app.app_context():
        session = get_session()
        assert await PAGE_FIRST.all(session, {"user_id": user["id"], "limit": 5}) == []
        # It ran alone, in autocommit: the session began nothing and the pool has it back.
        assert not session.in_transaction()
        assert pool.checkedout() == 0
        async with single_write(session):
            await INSERT_POST.all(session, new_post(user["id"], "alone"))
        assert pool.checkedout() == 0
        async with write_transaction(session):
            await INSERT_POST.all(session, new_post(user["id"], "in the unit"))
            # Inside a unit of work it runs on the unit's own connection, and nowhere else.
            assert pool.checkedout() == 1
            raw = await (await session.connection()).get_raw_connection()
            if database_url.startswith("postgresql"):
                assert raw.driver_connection.is_in_transaction()
            else:
                assert raw.driver_connection.in_transaction
        await close_session(None)
    assert pool.checkedout() == 0
    async with database(app).sessionmaker() as check:
        titles = (await check.execute(select(Post.title).order_by(Post.id))).scalars().all()
    assert titles == ["alone", "in the unit"]


async def test_a_statement_cancelled_on_its_thread_gives_its_connection_back_clean(
    app: Quart, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite-specific: holds the file's write lock from outside the app")
    client = app.test_client()
    user = await api_user(client)
    pool = database(app).engine.pool
    dropped: list[BaseException | None] = []
    event.listen(pool, "invalidate", lambda _conn, _record, error: dropped.append(error))
    outsider = sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///"))
    outsider.isolation_level = None
    outsider.execute("BEGIN IMMEDIATE")  # the INSERT below now waits in busy_timeout
    try:
        async with app.app_context():
            session = get_session()
            write = asyncio.ensure_future(INSERT_POST.all(session, new_post(user["id"], "late")))
            for _ in range(1000):  # until the statement is on its connection's thread
                if pool.checkedout() == 1:
                    break
                await asyncio.sleep(0)
            assert pool.checkedout() == 1
            write.cancel()
            await asyncio.sleep(0)
            outsider.execute("COMMIT")
            with pytest.raises(asyncio.CancelledError):
                await write
            assert pool.checkedout() == 0
            assert dropped == []  # rolled back on its thread, not thrown away
            # Every pooled connection is clean: each takes a statement outside a transaction.
            for _ in range(database(app).pool_size):
                await PAGE_FIRST.all(session, {"user_id": user["id"], "limit": 5})
            assert not session.in_transaction()
            await close_session(None)
    finally:
        outsider.close()
    assert pool.checkedout() == 0


async def test_driver_errors_arrive_as_sqlalchemy_errors(app: Quart) -> None:
    async with app.app_context():
        session = get_session()
        with pytest.raises(IntegrityError):  # no such user: the foreign key refuses it
            async with single_write(session):
                await INSERT_POST.all(session, new_post(987_654, "orphan"))
        await close_session(None)
    async with database(app).sessionmaker() as check:
        assert (await check.execute(select(Post.id))).all() == []


def new_post(user_id: int, title: str) -> dict[str, Any]:
    return {"user_id": user_id, "title": title, "body": "body", "now": datetime.now(UTC)}


def test_sqlite_selects_come_back_packed_only_when_json_keeps_every_value() -> None:
    dialect = sqlite.dialect()
    assert compile_plan(PAGE_FIRST.statement, dialect).packed
    assert compile_plan(ACTIVE_SESSION.statement, dialect).packed
    # REAL would lose digits in SQLite's JSON: such a SELECT is fetched row by row.
    assert not compile_plan(select(RateLimitEntry.key, RateLimitEntry.tat), dialect).packed
    assert not compile_plan(PAGE_FIRST.statement, postgresql.dialect()).packed


async def test_an_empty_packed_page_is_an_empty_list(app: Quart) -> None:
    async with database(app).sessionmaker() as session:
        assert await PAGE_FIRST.all(session, {"user_id": 12345, "limit": 5}) == []


async def test_timestamps_keep_their_instant_whatever_offset_they_were_written_with(
    app: Quart,
) -> None:
    client = app.test_client()
    user = await api_user(client)
    written = datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with app.app_context():
        session = get_session()
        async with single_write(session):
            values = {**new_post(user["id"], "offset"), "now": written}
            (row,) = await INSERT_POST.all(session, values)
        await close_session(None)
    async with database(app).sessionmaker() as check:
        page = await PAGE_FIRST.all(check, {"user_id": user["id"], "limit": 1})
        through_orm = (await check.execute(select(Post.created_at))).scalar_one()
    expected = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    for value in (row.created_at, page[0].created_at, page[0].updated_at, through_orm):
        assert value == expected
        assert value.tzinfo is UTC
