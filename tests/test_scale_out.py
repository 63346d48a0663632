"""Two app instances behind one PostgreSQL and one Redis behave as one site (SPEC §10).

Needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL; skips otherwise.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import asyncio as aioredis

from quart_blog.security.limits import LOGIN_ATTEMPTS
from tests.factories import PASSWORD
from tests.live import LiveServer, login, me

REDIS_URL = os.environ.get("TEST_REDIS_URL")
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def instances(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    if not database_url.startswith("postgresql") or REDIS_URL is None:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL)")
    asyncio.run(forget_limits(REDIS_URL))
    env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RATE_LIMITS": "on"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        LiveServer(tmp_path / "a", workers=1, **env) as first,
        LiveServer(tmp_path / "b", workers=1, **env) as second,
    ):
        yield first, second


async def forget_limits(url: str) -> None:
    client = aioredis.from_url(url)
    keys = [key async for key in client.scan_iter("quart-blog:limits:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def test_sessions_and_revocation_cross_instances(instances: tuple[LiveServer, LiveServer]) -> None:
    a, b = (server.base_url for server in instances)
    registered = httpx.post(
        f"{a}/api/v1/register", json={"username": "alice", "password": PASSWORD}
    )
    assert registered.status_code == 201

    on_a = login(a)
    assert (me(a, on_a), me(b, on_a)) == (200, 200)  # a session made on A works on B

    on_b = login(b)
    changed = httpx.post(
        f"{a}/api/v1/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Cookie": on_a},
    )
    assert changed.status_code == 204
    assert (me(a, on_b), me(b, on_b)) == (401, 401)  # other sessions revoked on both
    assert (me(a, on_a), me(b, on_a)) == (200, 200)  # this one kept

    logout = httpx.post(f"{b}/api/v1/logout", headers={"Cookie": on_a})
    assert logout.status_code == 204
    assert (me(a, on_a), me(b, on_a)) == (401, 401)  # logout on B revokes on A too
    assert me(a, login(a, NEW_PASSWORD)) == 200


def test_login_limit_counted_across_instances(instances: tuple[LiveServer, LiveServer]) -> None:
    servers = [server.base_url for server in instances]
    statuses = []
    for attempt in range(LOGIN_ATTEMPTS + 1):
        response = httpx.post(
            f"{servers[attempt % 2]}/api/v1/login",
            json={"username": "mallory", "password": "wrong password"},
        )
        statuses.append(response.status_code)
    assert statuses[:-1] == [401] * LOGIN_ATTEMPTS
    assert statuses[-1] == 429
