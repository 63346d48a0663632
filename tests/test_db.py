"""SPEC §9: SQLite pragmas, cascades, concurrent writers, cancelled requests leave no trace."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import make_url, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from quart_blog import create_app
from quart_blog.db import get_database, get_session
from quart_blog.db.engine import BEGIN_MODE, SQLITE_POOL_SIZE
from quart_blog.db.session import close_session
from tests.factories import PASSWORD, api_login, api_post, api_user, submit

WRITERS = 40
CANCELLATIONS = 240
LOCKED = "database is locked"


async def engine_of(app: Quart) -> AsyncEngine:
    """The running app's engine (created by its serving hooks)."""
    async with app.app_context():
        return get_database().engine


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL; skips the test on any other backend."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite-specific")
    assert url.database
    return Path(url.database)


@asynccontextmanager
async def second_worker(app_overrides: dict[str, str]) -> AsyncIterator[QuartClient]:
    """Another app instance on the same database, as a second Hypercorn worker would be."""
    other = create_app(app_overrides, testing=True)
    async with other.test_app():
        yield other.test_client()


def checkpoint(path: Path, mode: str) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(mode)`` from a separate connection: (busy, log, checkpointed)."""
    connection = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        row = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    finally:
        connection.close()
    busy, log, checkpointed = row
    return int(busy), int(log), int(checkpointed)


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def idle_connections_in_transaction(engine: AsyncEngine) -> list[bool]:
    """Check out every idle pooled connection at once and ask SQLite if it is mid-transaction."""
    async with AsyncExitStack() as stack:
        states = []
        for _ in range(engine.sync_engine.pool.checkedin()):
            connection = await stack.enter_async_context(engine.connect())
            raw = await connection.get_raw_connection()
            states.append(bool(raw.driver_connection.in_transaction))
        return states


async def disconnect_mid_flight(
    client: QuartClient, method: str, path: str, body: dict[str, Any] | None, delay: float
) -> int:
    """Send a request, then drop the client after ``delay`` seconds, as Hypercorn reports it.

    Hypercorn turns a vanished client into ``http.disconnect`` (on which plain Quart would
    cancel the handler). Returns how many pooled connections were checked out at the
    disconnect.
    """
    pool = (await engine_of(client.app)).sync_engine.pool
    headers = {"Content-Type": "application/json"} if body is not None else {}
    async with client.request(path, method=method, headers=headers) as connection:
        await connection.send(b"" if body is None else json.dumps(body).encode())
        await connection.send_complete()
        await asyncio.sleep(delay)
        checked_out: int = pool.checkedout()
        await connection.disconnect()
    return checked_out


async def test_a_body_cut_off_by_a_disconnect_is_not_handled_as_complete(
    app: Quart, client: QuartClient
) -> None:
    """What arrived of a body before the client left is neither stored nor waited on."""
    await api_user(client)
    whole = json.dumps({"title": "cut off", "body": "x" * 1000}).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(whole))}
    # Without the abandon, the handler would wait out BODY_TIMEOUT (30 s) for the rest.
    async with asyncio.timeout(5):
        async with client.request("/api/v1/posts", method="POST", headers=headers) as connection:
            await connection.send(whole[:40])
            await asyncio.sleep(0.01)
            await connection.disconnect()
    listing = await client.get("/api/v1/posts")
    assert (await listing.get_json())["items"] == []
    engine = await engine_of(app)
    for _ in range(250):
        if not engine.sync_engine.pool.checkedout():
            break
        await asyncio.sleep(0.02)
    assert engine.sync_engine.pool.checkedout() == 0


async def test_sqlite_writers_take_turns_on_the_writer_file_and_readers_do_not(
    client: QuartClient, database_url: str
) -> None:
    """While another process holds ``<database>-writer``, writes wait and reads go on."""
    path = sqlite_path(database_url)
    await api_user(client)
    await api_post(client, title="before")
    with open(f"{path}-writer", "a+b") as other_process:  # noqa: ASYNC230 (a local file)
        fcntl.flock(other_process, fcntl.LOCK_EX)
        try:
            pending = asyncio.ensure_future(api_post(client, title="queued"))
            await asyncio.sleep(0.3)
            assert not pending.done()  # waiting its turn, not failing
            listing = await asyncio.wait_for(client.get("/api/v1/posts"), timeout=5)
            assert [post["title"] for post in (await listing.get_json())["items"]] == ["before"]
        finally:
            fcntl.flock(other_process, fcntl.LOCK_UN)
        created = await asyncio.wait_for(pending, timeout=5)
        assert created["title"] == "queued"
        # Every kind of write unit gives the turn back: a lone statement above, a
        # BEGIN IMMEDIATE transaction (a password change) here.
        new = "An0ther-pass-word"
        form = {"current_password": PASSWORD, "new_password": new, "confirm": new}
        changed = await submit(client, "/account/password", form, "/account")
        assert changed.status_code == 303
        fcntl.flock(other_process, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: no BlockingIOError
        fcntl.flock(other_process, fcntl.LOCK_UN)


async def test_sqlite_every_connection_has_wal_busy_timeout_and_foreign_keys(
    app: Quart, database_url: str
) -> None:
    sqlite_path(database_url)
    engine = await engine_of(app)
    opened = SQLITE_POOL_SIZE  # every connection of the fixed pool (it has no overflow)

    async with AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(opened)]
        drivers = {id((await c.get_raw_connection()).driver_connection) for c in connections}
        assert len(drivers) == opened
        for connection in connections:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
            foreign = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
            assert str(journal).lower() == "wal"
            assert int(busy) > 0
            assert int(foreign) == 1


async def test_sqlite_foreign_keys_are_enforced(app: Quart, database_url: str) -> None:
    sqlite_path(database_url)

    with pytest.raises(IntegrityError):
        async with (await engine_of(app)).begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO posts (user_id, title, body, created_at, updated_at) "
                    "VALUES (424242, 't', 'b', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )


async def test_user_delete_cascades_to_posts_and_sessions(
    app: Quart, client: QuartClient, other_client: QuartClient
) -> None:
    alice = await api_user(client)
    await api_login(other_client)  # a second session for alice
    for number in range(3):
        await api_post(client, title=f"post {number}")
    bob = await api_user(other_client, "bob")
    await api_post(other_client, title="bob's")
    engine = await engine_of(app)
    count_posts = text("SELECT count(*) FROM posts WHERE user_id = :id")
    count_sessions = text("SELECT count(*) FROM auth_sessions WHERE user_id = :id")
    async with engine.connect() as connection:
        assert (await connection.execute(count_posts, {"id": alice["id"]})).scalar_one() == 3
        assert (await connection.execute(count_sessions, {"id": alice["id"]})).scalar_one() == 2

    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": alice["id"]})

    async with engine.connect() as connection:
        assert (await connection.execute(count_posts, {"id": alice["id"]})).scalar_one() == 0
        assert (await connection.execute(count_sessions, {"id": alice["id"]})).scalar_one() == 0
        assert (await connection.execute(count_posts, {"id": bob["id"]})).scalar_one() == 1
        assert (await connection.execute(count_sessions, {"id": bob["id"]})).scalar_one() == 1
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_sqlite_concurrent_writers_two_workers_lose_nothing(
    app: Quart,
    client: QuartClient,
    app_overrides: dict[str, str],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sqlite_path(database_url)
    await api_user(client)
    async with second_worker(app_overrides) as worker_two:
        await api_login(worker_two)
        clients = (client, worker_two)

        responses = await asyncio.gather(
            *(
                clients[number % 2].post(
                    "/api/v1/posts", json={"title": f"post {number}", "body": "concurrent"}
                )
                for number in range(WRITERS)
            )
        )

        bodies = [await response.get_data(as_text=True) for response in responses]
        assert [response.status_code for response in responses] == [201] * WRITERS, bodies
        listing = await (await worker_two.get("/api/v1/posts?limit=100")).get_json()
    titles = sorted(item["title"] for item in listing["items"])
    assert titles == sorted(f"post {number}" for number in range(WRITERS))
    assert listing["next"] is None
    assert all(LOCKED not in body for body in bodies)
    assert LOCKED not in caplog.text


async def test_sqlite_concurrent_read_then_write_paths_two_workers_never_locked(
    app: Quart,
    client: QuartClient,
    app_overrides: dict[str, str],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logins (read, then insert a session) and edits (ownership read, then UPDATE) under load."""
    sqlite_path(database_url)
    await api_user(client)
    posts = [await api_post(client, title=f"post {number}") for number in range(10)]
    async with second_worker(app_overrides) as worker_two:
        await api_login(worker_two)
        logins = [app.test_client() for _ in range(5)] + [worker_two.app.test_client()] * 5
        clients = (client, worker_two)

        responses = await asyncio.gather(
            *(
                clients[number % 2].patch(
                    f"/api/v1/posts/{posts[number % 10]['id']}",
                    json={"title": f"edit {number}"},
                )
                for number in range(30)
            ),
            *(
                clients[number % 2].post(
                    "/api/v1/posts", json={"title": f"new {number}", "body": "x"}
                )
                for number in range(10)
            ),
            *(
                login.post("/api/v1/login", json={"username": "alice", "password": "wrong pass"})
                if number % 3 == 0
                else login.post(
                    "/api/v1/login",
                    json={"username": "alice", "password": "correct horse battery"},
                )
                for number, login in enumerate(logins)
            ),
        )

        bodies = [await response.get_data(as_text=True) for response in responses]
        statuses = [response.status_code for response in responses]
        assert statuses[:30] == [200] * 30, bodies
        assert statuses[30:40] == [201] * 10, bodies
        assert statuses[40:] == [401 if n % 3 == 0 else 200 for n in range(len(logins))], bodies
        listing = await (await client.get("/api/v1/posts?limit=100")).get_json()
    assert len(listing["items"]) == 20
    assert all(LOCKED not in body for body in bodies)
    assert LOCKED not in caplog.text


async def test_wal_checkpoint_probe_detects_an_open_read_transaction(
    app: Quart, client: QuartClient, database_url: str
) -> None:
    """Control for the next test: a pooled connection parked in a read blocks TRUNCATE."""
    path = sqlite_path(database_url)
    await api_user(client)
    await api_post(client)
    assert wal_size(path) > 0

    async with (await engine_of(app)).connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        assert not driver.in_transaction
        await driver.execute("BEGIN")
        await (await driver.execute("SELECT count(*) FROM posts")).fetchall()
        assert driver.in_transaction
        busy, _log, _checkpointed = await asyncio.to_thread(checkpoint, path, "TRUNCATE")
        assert busy == 1
        await driver.rollback()

    assert await asyncio.to_thread(checkpoint, path, "TRUNCATE") == (0, 0, 0)


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Keep the cyclic garbage collector from running during the test.

    An idle server allocates nothing, so its collector never runs: whatever a cancelled request
    leaves to be cleaned up by ``gc`` stays put there. Without this the test would pass or fail
    depending on when a collection happens to run.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def test_cancelled_requests_return_connections_clean(
    app: Quart, client: QuartClient, database_url: str, no_gc: None
) -> None:
    """Clients that vanish mid-request leave no transaction, lock or read snapshot behind.

    The requests are cut by ``http.disconnect`` rather than by cancelling a ``client.get``
    task: in Quart's test client that only cancels the waiting side. Handlers are never
    cancelled (``quart_blog.serving.runner``): each runs to completion and returns its connection.
    """
    path = sqlite_path(database_url)
    await api_user(client)
    for number in range(5):
        await api_post(client, title=f"post {number}")
    engine = await engine_of(app)
    pool = engine.sync_engine.pool

    left_mid_query = 0
    for attempt in range(CANCELLATIONS):
        delay = (attempt % 80) * 0.0001  # 0 to 8 ms: before, during and after the queries
        if attempt % 3:
            held = await disconnect_mid_flight(client, "GET", "/api/v1/posts", None, delay)
        else:
            body = {"title": f"cancelled {attempt}", "body": "x"}
            held = await disconnect_mid_flight(client, "POST", "/api/v1/posts", body, delay)
        if held:
            left_mid_query += 1
    # Otherwise the test proved nothing: some clients must have left during a live DB session.
    assert left_mid_query > 0

    for _ in range(250):  # up to 5 s for shielded closes that may still be finishing
        if not pool.checkedout():
            break
        await asyncio.sleep(0.02)
    assert pool.checkedout() == 0, pool.status()
    assert not any(await idle_connections_in_transaction(engine)), pool.status()

    # A write after the storm neither waits on a leaked lock nor fails.
    post = await asyncio.wait_for(api_post(client, title="after"), timeout=5)
    assert post["title"] == "after"
    assert wal_size(path) > 0
    busy, log, checkpointed = await asyncio.to_thread(checkpoint, path, "PASSIVE")
    if log != checkpointed:
        gc.collect()
        retry = await asyncio.to_thread(checkpoint, path, "PASSIVE")
        pytest.fail(
            f"an idle server's WAL does not checkpoint: (busy, log, checkpointed) = "
            f"{(busy, log, checkpointed)}; after gc.collect(): {retry}. Something a cancelled "
            f"request left behind still holds a read snapshot ({pool.status()})"
        )
    assert busy == 0
    assert log == checkpointed > 0  # every frame copied back: no reader pins an old snapshot
    assert await asyncio.to_thread(checkpoint, path, "TRUNCATE") == (0, 0, 0)
    assert wal_size(path) == 0
    listing = await (await client.get("/api/v1/posts?limit=100")).get_json()
    assert all(item["body"] for item in listing["items"])  # nothing half-written


async def test_a_request_cancelled_while_closing_its_session_returns_the_connection_first(
    app: Quart, database_url: str
) -> None:
    """The cancelled task ends only after its connection is back in the pool, rolled back."""
    engine = await engine_of(app)
    pool = engine.sync_engine.pool
    async with app.app_context():
        session = get_session()
        # An open transaction, so closing needs a round trip to the database (a ROLLBACK).
        await session.connection(execution_options={BEGIN_MODE: "IMMEDIATE"})
        await session.execute(text("SELECT 1"))
        assert pool.checkedout() == 1
        closing = asyncio.ensure_future(close_session(None))
        await asyncio.sleep(0)  # closing has started
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert pool.checkedout() == 0, pool.status()


async def test_postgresql_connections_the_server_killed_are_replaced_before_use(
    app: Quart, client: QuartClient, database_url: str
) -> None:
    """A PostgreSQL restart or a killed backend costs no request an error (no pre-ping)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL-specific")
    await api_user(client)
    engine = await engine_of(app)
    async with engine.connect() as pooled:
        driver = (await pooled.get_raw_connection()).driver_connection
        pid = (await pooled.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await pooled.rollback()  # so going back to the pool sends nothing that would notice
        async with engine.connect() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # asyncpg marks the connection closed when the loop sees the socket's EOF.
        for _ in range(500):
            if driver.is_closed():
                break
            await asyncio.sleep(0.01)
        assert driver.is_closed()
    # The dead connection is back in the pool now; no request may get it.
    for _ in range(3):
        response = await client.get("/api/v1/posts")
        assert response.status_code == 200


async def test_db_pool_size_sets_the_fixed_pool_of_each_worker(
    app_overrides: dict[str, str],
) -> None:
    sized = create_app({**app_overrides, "DB_POOL_SIZE": "3"}, testing=True)
    async with sized.test_app():
        engine = await engine_of(sized)
        pool: Any = engine.pool
        assert pool.size() == 3
        async with AsyncExitStack() as stack:
            held = [await stack.enter_async_context(engine.connect()) for _ in range(3)]
            assert len({id((await c.get_raw_connection()).driver_connection) for c in held}) == 3
            assert (pool.checkedout(), pool.overflow()) == (3, 0)  # all three from the pool
