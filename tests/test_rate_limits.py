"""Brute-force limits (SPEC §8): 429 + Retry-After, keyed by the trusted client address."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock, create_app
from quart_blog.clock import ManualClock
from quart_blog.errors import how_long
from quart_blog.security.limits import LOGIN_ATTEMPTS, REGISTER_PER_ADDRESS
from tests.factories import PASSWORD, api_register, csrf_token

REDIS_URL = os.environ.get("TEST_REDIS_URL")
STORES = ["database"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=STORES)
def limited_overrides(
    request: pytest.FixtureRequest, app_overrides: dict[str, str]
) -> dict[str, str]:
    """Limits on, in the shared database table or in Redis."""
    overrides = {**app_overrides, "RATE_LIMITS": "on"}
    if request.param == "redis":
        assert REDIS_URL is not None
        overrides["REDIS_URL"] = REDIS_URL
    return overrides


@pytest.fixture
async def limited_app(limited_overrides: dict[str, str]) -> AsyncIterator[Quart]:
    app = create_app(limited_overrides, testing=True)
    async with app.test_app():
        store = app.extensions["quart_blog.limit_store"]
        if hasattr(store, "redis"):
            await store.redis.flushdb()
        yield app


async def wrong_login(client: QuartClient, username: str = "alice", **kwargs: str) -> int:
    response = await client.post(
        "/api/v1/login", json={"username": username, "password": "wrong password"}, **kwargs
    )
    return response.status_code


async def test_login_attempts_limited_per_username_and_address(limited_app: Quart) -> None:
    client = limited_app.test_client()
    await api_register(client)
    statuses = [await wrong_login(client) for _ in range(LOGIN_ATTEMPTS)]
    assert statuses == [401] * LOGIN_ATTEMPTS
    response = await client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.get_json()
    assert body["error"]["code"] == "rate_limited"
    # Another account from the same address is not affected.
    assert await wrong_login(client, "bob") == 401


async def test_login_limit_not_bypassed_by_forwarded_for(limited_app: Quart) -> None:
    client = limited_app.test_client()
    for attempt in range(LOGIN_ATTEMPTS):
        await wrong_login(client, headers={"X-Forwarded-For": f"10.0.0.{attempt}"})
    spoofed = await wrong_login(client, headers={"X-Forwarded-For": "10.9.9.9"})
    assert spoofed == 429


async def test_login_success_resets_attempts(limited_app: Quart) -> None:
    client = limited_app.test_client()
    await api_register(client)
    for _ in range(LOGIN_ATTEMPTS - 1):
        assert await wrong_login(client) == 401
    ok = await client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(LOGIN_ATTEMPTS - 1):
        assert await wrong_login(client) == 401


async def test_login_page_answers_429_page(limited_app: Quart) -> None:
    client = limited_app.test_client()
    for _ in range(LOGIN_ATTEMPTS + 1):
        token = await csrf_token(client)
        response = await client.post(
            "/login", form={"username": "alice", "password": "nope nope", "csrf_token": token}
        )
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert response.mimetype == "text/html"
    # The page says how long, as the header does.
    wait = int(response.headers["Retry-After"])
    assert wait > 1
    assert f"try again in {how_long(wait)}." in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (1, "1 second"),
        (40, "40 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (3600, "1 hour"),
        (3660, "1 hour 1 minute"),
        (7300, "2 hours 2 minutes"),
    ],
)
def test_waits_are_said_as_people_say_them(seconds: int, said: str) -> None:
    assert how_long(seconds) == said


async def test_registration_limited_per_address(limited_app: Quart) -> None:
    client = limited_app.test_client()
    statuses = []
    for number in range(REGISTER_PER_ADDRESS.count + 1):
        response = await client.post(
            "/api/v1/register", json={"username": f"user{number}", "password": PASSWORD}
        )
        statuses.append(response.status_code)
    assert statuses[:-1] == [201] * REGISTER_PER_ADDRESS.count
    assert statuses[-1] == 429


async def test_limits_shared_between_workers(limited_overrides: dict[str, str]) -> None:
    """Two apps on one database (two workers) count attempts together."""
    first, second = (create_app(limited_overrides, testing=True) for _ in range(2))
    async with first.test_app(), second.test_app():
        clients = [first.test_client(), second.test_client()]
        store = first.extensions["quart_blog.limit_store"]
        if hasattr(store, "redis"):
            await store.redis.flushdb()
        statuses = [await wrong_login(clients[n % 2]) for n in range(LOGIN_ATTEMPTS + 1)]
    assert statuses[-1] == 429


async def test_rate_limits_off_disables_limits(app: Quart) -> None:
    client = app.test_client()
    statuses = {await wrong_login(client) for _ in range(LOGIN_ATTEMPTS + 3)}
    assert statuses == {401}


async def test_limit_exact_at_any_fraction_of_a_second(limited_app: Quart) -> None:
    """Stored times keep every digit: the last allowed attempt is not refused by rounding."""
    # Lua's tostring would store this as ...600.1235, 43 µs late, on every step.
    start = datetime.fromtimestamp(1_767_225_600.123457, UTC)
    with clock.use(ManualClock(start)):
        client = limited_app.test_client()
        statuses = [await wrong_login(client) for _ in range(LOGIN_ATTEMPTS + 1)]
    assert statuses == [401] * LOGIN_ATTEMPTS + [429]
