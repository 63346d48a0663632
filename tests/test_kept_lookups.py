"""Session lookups kept between requests on SQLite never outlive a change to them.

A worker keeps what a session lookup found (``accounts.sessions.KeptLookups``) until any
process writes ``users`` or ``auth_sessions`` (``db.changes``). These tests check that it
really is kept, and that logout, revocation, password changes and expiry still take effect
on the very next request, on every worker and every instance sharing the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import event, text

from quart_blog import clock
from quart_blog.accounts.sessions import BROWSER_SESSION_LIFETIME
from quart_blog.app import create_app
from quart_blog.db import get_database
from quart_blog.db.changes import ChangeCounter, changes_watched
from quart_blog.db.engine import BEGIN_MODE
from tests.factories import PASSWORD, api_post, api_register, api_user
from tests.live import LiveServer, login, me

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("lookups are kept on SQLite only; PostgreSQL looks up every request")


def counter(app: Quart) -> ChangeCounter:
    changes = get_database(app).changes
    assert changes is not None
    return changes


def database_file(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite+aiosqlite:///"))


async def me_in_app(client: QuartClient) -> int:
    return (await client.get("/api/v1/me")).status_code


@pytest.mark.usefixtures("sqlite_only")
async def test_a_kept_lookup_is_used_until_the_app_writes_users_or_sessions(
    app: Quart, client: QuartClient, database_url: str
) -> None:
    await api_user(client)
    assert await me_in_app(client) == 200  # looked up, and kept

    # Behind the app's back (the sqlite3 shell, say): no process is told, so the kept
    # lookup still answers; this is what shows that it is kept at all.
    with sqlite3.connect(database_file(database_url)) as raw:
        raw.execute("DELETE FROM auth_sessions")
    assert await me_in_app(client) == 200

    # Posts are not what a session check reads: writing them keeps the lookup.
    before = counter(app).value
    await api_post(client)
    assert counter(app).value == before

    # Any write to users or auth_sessions by the app, here another user registering,
    # drops every kept lookup: the next request looks again and finds no session.
    await api_register(app.test_client(), "bob")
    assert counter(app).value != before
    assert await me_in_app(client) == 401


@pytest.mark.usefixtures("sqlite_only")
async def test_a_session_write_counts_when_its_transaction_ends_not_before(app: Quart) -> None:
    changes = counter(app)
    engine = get_database(app).engine
    async with engine.connect() as connection:
        writing = await connection.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
        before = changes.value
        async with writing.begin():
            await writing.execute(text("UPDATE auth_sessions SET last_seen_at = last_seen_at"))
            # Not yet: a lookup made now still sees the old rows, and may be kept.
            assert changes.value == before
        assert changes.value != before

        before = changes.value
        async with writing.begin():
            await writing.execute(text("SELECT count(*) FROM users"))
            await writing.execute(text("DELETE FROM posts"))
        assert changes.value == before  # neither a read nor a write of posts counts


@pytest.mark.usefixtures("sqlite_only")
async def test_a_kept_lookup_still_expires_on_time(client: QuartClient) -> None:
    with clock.use(clock.ManualClock()) as manual:
        await api_user(client)
        assert await me_in_app(client) == 200
        assert await me_in_app(client) == 200  # from the kept lookup
        manual.advance(BROWSER_SESSION_LIFETIME.total_seconds() - 1)
        assert await me_in_app(client) == 200
        manual.advance(1)
        assert await me_in_app(client) == 401


def test_revocation_reaches_every_worker_and_instance_on_one_sqlite_file(
    tmp_path: Path,
) -> None:
    """Two instances (one of two workers) on one file: kept lookups everywhere, then
    a password change and a logout on one are seen by the others at once."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        LiveServer(tmp_path / "a", workers=2, DATABASE_URL=database) as first,
        LiveServer(tmp_path / "b", workers=1, DATABASE_URL=database) as second,
    ):
        a, b = first.base_url, second.base_url
        registered = httpx.post(
            f"{a}/api/v1/register", json={"username": "alice", "password": PASSWORD}
        )
        assert registered.status_code == 201
        kept, other = login(a), login(b)
        # Enough requests that every worker has looked both sessions up and kept them.
        for _ in range(6):
            assert (me(a, kept), me(b, kept), me(a, other), me(b, other)) == (
                200,
                200,
                200,
                200,
            )

        changed = httpx.post(
            f"{b}/api/v1/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Cookie": kept},
        )
        assert changed.status_code == 204
        for _ in range(4):  # the other session is revoked on every worker of both
            assert (me(a, other), me(b, other)) == (401, 401)
            assert (me(a, kept), me(b, kept)) == (200, 200)

        assert httpx.post(f"{b}/api/v1/logout", headers={"Cookie": kept}).status_code == 204
        for _ in range(4):
            assert (me(a, kept), me(b, kept)) == (401, 401)
        assert me(a, login(a, NEW_PASSWORD)) == 200


def test_lookups_are_never_kept_for_a_file_the_driver_has_not_opened(tmp_path: Path) -> None:
    assert ChangeCounter.registered(f"sqlite+aiosqlite:///{tmp_path / 'unopened.db'}") is None
    assert ChangeCounter.registered("sqlite+aiosqlite://") is None
    assert ChangeCounter.registered("postgresql+asyncpg://localhost/test") is None


async def test_a_refresh_due_is_written_once_however_many_requests_find_it_due(
    app: Quart, client: QuartClient
) -> None:
    """Under load every request of a session arriving while its refresh is due saw the old
    ``last_seen_at``: each wrote it, a burst of writes once a minute (on both backends)."""
    writes: list[str] = []

    def count_refresh(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("UPDATE auth_sessions SET last_seen_at="):
            writes.append(statement)

    with clock.use(clock.ManualClock()) as manual:
        await api_user(client)
        assert await me_in_app(client) == 200
        event.listen(get_database(app).engine.sync_engine, "before_cursor_execute", count_refresh)
        manual.advance(timedelta(minutes=1).total_seconds())
        codes = await asyncio.gather(*(me_in_app(client) for _ in range(20)))
        assert codes == [200] * 20
        assert len(writes) == 1
        manual.advance(timedelta(minutes=1).total_seconds())
        assert await me_in_app(client) == 200
        assert len(writes) == 2  # due again a minute on


@pytest.mark.usefixtures("sqlite_only")
async def test_a_last_seen_refresh_is_written_and_drops_no_kept_lookup(
    app: Quart, client: QuartClient, database_url: str
) -> None:
    with clock.use(clock.ManualClock()) as manual:
        await api_user(client)
        assert await me_in_app(client) == 200
        before = counter(app).value
        manual.advance(timedelta(minutes=1).total_seconds())
        assert await me_in_app(client) == 200  # looked up again, and last_seen_at written
        assert counter(app).value == before  # which decides nothing: nobody's lookup dropped
        with sqlite3.connect(database_file(database_url)) as raw:
            (seen,) = raw.execute("SELECT last_seen_at FROM auth_sessions").fetchone()
            assert seen.startswith(manual.utcnow().strftime("%Y-%m-%d %H:%M:%S"))
            raw.execute("DELETE FROM auth_sessions")
        assert await me_in_app(client) == 200  # the refreshed lookup was kept


def test_only_the_bare_last_seen_refresh_goes_uncounted() -> None:
    refresh = "UPDATE auth_sessions SET last_seen_at=? WHERE auth_sessions.id = ?"
    assert not changes_watched(refresh)
    for counted in (
        "UPDATE auth_sessions SET last_seen_at=?, expires_at=? WHERE auth_sessions.id = ?",
        "UPDATE auth_sessions SET reauth_at=? WHERE auth_sessions.id = ?",
        "UPDATE auth_sessions SET last_seen_at=? WHERE auth_sessions.user_id = ?",
        "DELETE FROM auth_sessions WHERE auth_sessions.id = ?",
        "UPDATE users SET password_hash=? WHERE users.id = ?",
    ):
        assert changes_watched(counted), counted
    assert not changes_watched("INSERT INTO posts (user_id, title) VALUES (?, ?)")


AUTH_COOKIE = "quart_blog_auth"
OTHER_KEY = "another-secret-key-0123456789abcdef"


def auth_cookie(client: QuartClient) -> str:
    assert client.cookie_jar is not None
    return next(cookie.value for cookie in client.cookie_jar if cookie.name == AUTH_COOKIE)


def changed_at(token: str, index: int) -> str:
    """The token with the character at ``index`` replaced by another."""
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


async def me_with(client: QuartClient, token: str) -> int:
    response = await client.get("/api/v1/me", headers={"Cookie": f"{AUTH_COOKIE}={token}"})
    return response.status_code


async def test_a_remembered_auth_cookie_never_lets_an_altered_one_through(
    app: Quart, client: QuartClient
) -> None:
    await api_user(client)
    token = auth_cookie(client)
    stranger = app.test_client()
    assert await me_with(stranger, token) == 200  # its signature checked, and remembered
    # The signature's first character, never its last: base64 leaves the last character's
    # low bits unused, so changing those may leave the decoded signature as it was.
    signature = token.rindex(".") + 1
    for altered in (changed_at(token, 0), changed_at(token, signature), token + "x", token[:-2]):
        assert await me_with(stranger, altered) == 401
    assert await me_with(stranger, token) == 200


async def test_a_cookie_is_trusted_only_by_apps_holding_its_key(
    app: Quart, client: QuartClient, app_overrides: dict[str, str]
) -> None:
    await api_user(client)
    token = auth_cookie(client)
    assert await me_with(app.test_client(), token) == 200

    other = create_app({**app_overrides, "SECRET_KEY": OTHER_KEY}, testing=True)
    rotated = create_app(
        {**app_overrides, "SECRET_KEY": f"{OTHER_KEY},{app_overrides['SECRET_KEY']}"},
        testing=True,
    )
    async with other.test_app(), rotated.test_app():
        assert await me_with(other.test_client(), token) == 401  # not remembered across apps
        assert await me_with(rotated.test_client(), token) == 200  # the old key still verifies
