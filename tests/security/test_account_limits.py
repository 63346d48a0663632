"""Failed logins counted per account across addresses, and device trust (SPEC §13).

Every guess comes from a fresh browser at a new client address (the ASGI ``client`` of
the request, which is what ``request.remote_addr`` reports), as a botnet's would.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.accounts.passwords import get_hasher
from quart_blog.clock import ManualClock
from quart_blog.security import device_trust
from quart_blog.security.limits import ACCOUNT_FAILURES, DEVICE_ATTEMPTS
from tests.api.helpers import assert_error, set_cookies
from tests.factories import PASSWORD, SECRET_KEY, api_register, csrf_token
from tests.views.helpers import copy_cookies, running_app, text_of

REDIS_URL = os.environ.get("TEST_REDIS_URL")
STORES = ["database"] + (["redis"] if REDIS_URL else [])
FAILURES = ACCOUNT_FAILURES.count
GUESSES = 30
WINDOW = ACCOUNT_FAILURES.period.total_seconds()
OTHER_KEY = "another-secret-key-fedcba9876543210"


@pytest.fixture(params=STORES)
def limited_overrides(
    request: pytest.FixtureRequest, app_overrides: dict[str, str]
) -> dict[str, str]:
    """Limits on, kept in the shared database table or in Redis."""
    overrides = {**app_overrides, "RATE_LIMITS": "on"}
    if request.param == "redis":
        assert REDIS_URL is not None
        overrides["REDIS_URL"] = REDIS_URL
    return overrides


@pytest.fixture(name="manual")
def _manual() -> Iterator[ManualClock]:
    """Time stands still unless the test moves it."""
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        yield manual


@pytest.fixture(name="app")
async def _app(limited_overrides: dict[str, str], manual: ManualClock) -> AsyncIterator[Quart]:
    """The app with limits on and an empty limit store; alice is registered."""
    async with limited_app(limited_overrides) as app:
        await api_register(app.test_client())
        yield app


@asynccontextmanager
async def limited_app(overrides: dict[str, str]) -> AsyncIterator[Quart]:
    """``running_app`` with an empty Redis (the database is fresh per test anyway)."""
    async with running_app(overrides) as app:
        store = app.extensions["quart_blog.limit_store"]
        if hasattr(store, "redis"):
            await store.redis.flushdb()
        yield app


def address(number: int) -> dict[str, Any]:
    """Request arguments that make it come from client address number ``number``."""
    return {"scope_base": {"client": (f"198.51.{number // 250}.{number % 250 + 1}", 40000)}}


OWNER = address(1000)


async def api_login(
    client: QuartClient, where: dict[str, Any], password: str = PASSWORD, username: str = "alice"
) -> Any:
    """POST the API login from ``where``; the raw response."""
    return await client.post(
        "/api/v1/login", json={"username": username, "password": password}, **where
    )


async def form_login(
    client: QuartClient, where: dict[str, Any], password: str = PASSWORD, username: str = "alice"
) -> Any:
    """POST the login form from ``where``; the raw response."""
    form = {"username": username, "password": password, "csrf_token": await csrf_token(client)}
    return await client.post("/login", form=form, **where)


async def distributed_guess(
    app: Quart, username: str = "alice", guesses: int = GUESSES
) -> list[Any]:
    """Wrong passwords for ``username``, each from a new browser at a new address."""
    return [
        await api_login(app.test_client(), address(n), "wrong password", username)
        for n in range(guesses)
    ]


def assert_refused(response: Any) -> None:
    """A 429 that says when to come back."""
    assert response.status_code == 429, response.status_code
    assert int(response.headers["Retry-After"]) >= 1


async def owner_browser(app: Quart) -> QuartClient:
    """The owner's browser, which logged in once (and so holds the device cookie)."""
    owner = app.test_client()
    response = await api_login(owner, OWNER)
    assert response.status_code == 200
    assert device_trust.COOKIE_NAME in set_cookies(response)
    return owner


async def test_distributed_guess_refused_after_the_limit(app: Quart) -> None:
    responses = await distributed_guess(app)
    assert [r.status_code for r in responses[:FAILURES]] == [401] * FAILURES
    for response in responses[FAILURES:]:
        assert_refused(response)
        await assert_error(response, 429, "rate_limited")


async def test_distributed_guess_refused_on_the_login_page(app: Quart) -> None:
    statuses = []
    for n in range(GUESSES):
        response = await form_login(app.test_client(), address(n), "wrong password")
        statuses.append(response.status_code)
    assert statuses == [401] * FAILURES + [429] * (GUESSES - FAILURES)
    assert_refused(response)
    assert response.mimetype == "text/html"
    assert "try again in" in await text_of(response)


async def test_unknown_username_limited_the_same(app: Quart) -> None:
    statuses = [response.status_code for response in await distributed_guess(app, "nobody")]
    assert statuses == [401] * FAILURES + [429] * (GUESSES - FAILURES)


async def test_owner_with_device_cookie_gets_in_during_the_guess(app: Quart) -> None:
    owner = await owner_browser(app)
    await distributed_guess(app)
    assert (await api_login(owner, OWNER, "a typo password")).status_code == 401
    assert (await api_login(owner, OWNER)).status_code == 200
    assert (await form_login(owner, OWNER)).status_code == 303


async def test_right_password_without_device_cookie_refused_during_the_guess(app: Quart) -> None:
    await distributed_guess(app)
    assert_refused(await api_login(app.test_client(), OWNER))
    assert_refused(await form_login(app.test_client(), OWNER))


async def test_refused_before_any_password_hashing(app: Quart) -> None:
    owner = await owner_browser(app)
    await distributed_guess(app)
    # With the hasher refusing all work, an attempt that reached it would be a 503.
    get_hasher(app).max_queued = 0
    assert_refused(await api_login(app.test_client(), OWNER))
    assert (await api_login(owner, OWNER)).status_code == 503


async def test_trusted_device_has_its_own_small_budget(app: Quart) -> None:
    owner = await owner_browser(app)
    await distributed_guess(app)
    # From any address: the device's budget, not the address's, is what runs out.
    for n in range(DEVICE_ATTEMPTS.count):
        assert (await api_login(owner, address(500 + n), "wrong password")).status_code == 401
    assert_refused(await api_login(owner, address(600)))


async def test_success_neither_resets_nor_counts_account_failures(app: Quart) -> None:
    await distributed_guess(app, guesses=FAILURES - 1)
    # The owner, from a new browser, gets in: that is no failure...
    assert (await api_login(app.test_client(), OWNER)).status_code == 200
    # ...and no fresh allowance for the guesser either.
    last, refused = await distributed_guess(app, guesses=2)
    assert last.status_code == 401
    assert_refused(refused)


async def forged_cookie(_app: Quart, owner: QuartClient) -> str:
    """alice's very claim, signed with a key the app never had."""
    claim = device_trust_claim(device_cookie(owner))
    return URLSafeTimedSerializer(OTHER_KEY, salt=device_trust.SALT).dumps(claim)


async def tampered_cookie(_app: Quart, owner: QuartClient) -> str:
    """alice's real device cookie with its first character changed."""
    value = device_cookie(owner)
    return ("A" if value[0] != "A" else "B") + value[1:]


async def other_account_cookie(app: Quart, _owner: QuartClient) -> str:
    """The device cookie bob's browser got at his own login."""
    bob = app.test_client()
    await api_register(bob, "bob")
    assert (await api_login(bob, address(700), username="bob")).status_code == 200
    return device_cookie(bob)


def device_cookie(client: QuartClient) -> str:
    """The value of the device cookie ``client`` holds."""
    assert client.cookie_jar is not None
    return next(c.value or "" for c in client.cookie_jar if c.name == device_trust.COOKIE_NAME)


@pytest.mark.parametrize("make_cookie", [forged_cookie, tampered_cookie, other_account_cookie])
async def test_untrusted_device_cookie_gives_no_exemption(app: Quart, make_cookie: Any) -> None:
    value = await make_cookie(app, await owner_browser(app))
    browser = app.test_client()
    browser.set_cookie("localhost", device_trust.COOKIE_NAME, value)
    await distributed_guess(app)
    assert_refused(await api_login(browser, OWNER))


async def test_device_cookie_signed_with_a_removed_key_is_not_trusted(
    limited_overrides: dict[str, str], manual: ManualClock
) -> None:
    old_key = {**limited_overrides, "SECRET_KEY": OTHER_KEY}
    async with limited_app(old_key) as app:
        await api_register(app.test_client())
        owner = await owner_browser(app)
    rotated = {**limited_overrides, "SECRET_KEY": f"{SECRET_KEY},{OTHER_KEY}"}
    removed = {**limited_overrides, "SECRET_KEY": SECRET_KEY}
    for overrides, trusted in ((rotated, True), (removed, False)):
        async with limited_app(overrides) as app:
            browser = app.test_client()
            copy_cookies(owner, browser)
            await distributed_guess(app)
            response = await api_login(browser, OWNER)
            assert (response.status_code == 200) is trusted, response.status_code


async def test_guess_window_ends(app: Quart, manual: ManualClock) -> None:
    responses = await distributed_guess(app)
    wait = int(responses[-1].headers["Retry-After"])
    manual.advance(wait - 1)
    assert_refused(await api_login(app.test_client(), OWNER))
    manual.advance(WINDOW)
    assert (await api_login(app.test_client(), OWNER)).status_code == 200
    # A whole window later, the guesser's count is spent down.
    assert [r.status_code for r in await distributed_guess(app, guesses=FAILURES - 1)] == [401] * (
        FAILURES - 1
    )


async def test_password_checks_of_a_session_count_too(app: Quart) -> None:
    owner = await owner_browser(app)
    thief = app.test_client()
    copy_cookies(owner, thief)
    thief.delete_cookie("localhost", device_trust.COOKIE_NAME)
    await distributed_guess(app)
    # A stolen session cookie alone is no device: its password checks are refused too.
    assert_refused(await thief.post("/api/v1/reauth", json={"password": PASSWORD}, **OWNER))
    owned = await owner.post("/api/v1/reauth", json={"password": PASSWORD}, **OWNER)
    assert owned.status_code == 204


async def test_account_count_shared_between_workers(limited_overrides: dict[str, str]) -> None:
    """Two apps on one store (two workers, or two instances) count one account together."""
    async with limited_app(limited_overrides) as first, running_app(limited_overrides) as second:
        await api_register(first.test_client())
        statuses = []
        for n in range(FAILURES + 1):
            worker = (first, second)[n % 2]
            response = await api_login(worker.test_client(), address(n), "wrong password")
            statuses.append(response.status_code)
    assert statuses == [401] * FAILURES + [429]


@pytest.mark.parametrize(("scheme", "secure"), [("http", False), ("https", True)])
async def test_device_cookie_attributes(app: Quart, scheme: str, secure: bool) -> None:
    response = await app.test_client().post(
        "/api/v1/login", json={"username": "alice", "password": PASSWORD}, scheme=scheme
    )
    cookie = set_cookies(response)[device_trust.COOKIE_NAME]
    assert cookie["max-age"] == str(365 * 24 * 3600)
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert ("secure" in cookie) is secure


async def test_device_keeps_its_id_across_logins(app: Quart) -> None:
    owner = await owner_browser(app)
    first = device_trust_claim(device_cookie(owner))
    await owner.post("/api/v1/logout")
    assert (await api_login(owner, OWNER)).status_code == 200
    assert device_trust_claim(device_cookie(owner)) == first


def device_trust_claim(value: str) -> Any:
    """The payload of a device cookie signed with the test key."""
    return URLSafeTimedSerializer(SECRET_KEY, salt=device_trust.SALT).loads(value)
