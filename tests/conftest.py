"""Fixtures: a migrated database per test (SQLite, and PostgreSQL when asked), app, clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from quart_blog import create_app
from quart_blog.db import migrations
from tests.factories import SECRET_KEY

REDIS_DATABASES = 16  # Redis's default number of numbered databases


async def create_database(url: str, name: str) -> None:
    """Create the PostgreSQL database ``name`` on ``url``'s server unless it exists."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found.first() is None:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


def isolate_xdist_worker() -> None:
    """Under pytest-xdist, give each worker its own PostgreSQL database and Redis database.

    Workers run tests at the same time: sharing one database would let one worker's
    TRUNCATE empty another's tables mid-test, and one's FLUSHDB forget another's limits.
    Runs at import, before any test module reads ``TEST_DATABASE_URL``/``TEST_REDIS_URL``.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", …
    if not worker:
        return
    if pg := os.environ.get("TEST_DATABASE_URL"):
        url = make_url(pg)
        name = f"{url.database}_{worker}"
        asyncio.run(create_database(pg, name))
        os.environ["TEST_DATABASE_URL"] = url.set(database=name).render_as_string(
            hide_password=False
        )
    if redis := os.environ.get("TEST_REDIS_URL"):
        parts = urlsplit(redis)
        base = int(parts.path.strip("/") or 0)
        number = (base - int(worker.removeprefix("gw"))) % REDIS_DATABASES
        os.environ["TEST_REDIS_URL"] = urlunsplit(parts._replace(path=f"/{number}"))


isolate_xdist_worker()
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# How long a thread a test started may take to finish once everything is closed.
THREAD_EXIT_TIMEOUT = 5.0


def pytest_report_header() -> list[str]:
    """Say which optional backends this run covers (they skip on a machine without them)."""
    redis = os.environ.get("TEST_REDIS_URL")
    return [
        f"PostgreSQL: {PG_URL or 'not set (TEST_DATABASE_URL): PostgreSQL tests skip'}",
        f"Redis: {redis or 'not set (TEST_REDIS_URL): Redis tests skip'}",
    ]


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Every thread a test starts (database connections, hashing pools) ends with it.

    Set up before, and so torn down after, every other fixture of the test, the app and
    its event loop included. A thread left running (an unclosed aiosqlite connection, say)
    would report to a loop that is closed by then, and fail some later, innocent test.
    """
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in set(threading.enumerate()) - before:
        thread.join(THREAD_EXIT_TIMEOUT)
        if thread.is_alive():
            leaked.append(thread.name)
    assert not leaked, f"threads still running after the test: {sorted(leaked)}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test gets a copy (no DDL per test)."""
    path = tmp_path_factory.mktemp("template") / "blog.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """The PostgreSQL test database, migrated once per run."""
    assert PG_URL is not None
    migrations.downgrade(PG_URL, "base")
    migrations.upgrade(PG_URL)
    return PG_URL


def truncate_postgres(url: str) -> None:
    """Empty every table between tests (fast, and keeps the migrated schema)."""

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "TRUNCATE users, posts, auth_sessions, rate_limits, one_time_tokens,"
                    " outbox_messages RESTART IDENTITY CASCADE"
                )
            )
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test, on each backend under test."""
    if request.param == "sqlite":
        path = tmp_path / "blog.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        yield url
        truncate_postgres(url)


@pytest.fixture
def app_overrides(database_url: str) -> dict[str, str]:
    """The environment the test app is built from; tests may add to it before ``app``."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMITS": "off",
    }


@pytest.fixture
def send_mail() -> bool:
    """Whether the test app runs its background mail sender (tests of mail turn it on)."""
    return False


@pytest.fixture(name="app")
async def _app(app_overrides: dict[str, str], send_mail: bool) -> AsyncIterator[Quart]:
    """The app with its serving hooks run (engine open), closed after the test."""
    app = create_app(app_overrides, testing=True, send_mail=send_mail)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> QuartClient:
    """A test client with its own cookie jar (one browser)."""
    return app.test_client()


@pytest.fixture
def other_client(app: Quart) -> QuartClient:
    """A second, independent browser."""
    return app.test_client()
