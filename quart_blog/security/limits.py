"""Brute-force limits (SPEC §8, §11): who a client is, which limits apply, the throttles.

Per-address limits on login and registration go through Quart-Rate-Limiter.
Login attempts per username+address are counted here, atomically and before
the password is checked, and forgotten on success, so a user's own typos
never lock them out for long and parallel guesses cannot all get through.
Forgot-password requests are counted here too, per client address and per target
address, in one bucket each for the page and the API.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from math import ceil

from quart import Quart, current_app, request
from quart_rate_limiter import RateLimit, RateLimiter, RateLimitExceeded

from quart_blog import clock
from quart_blog.config import get_settings
from quart_blog.security.limit_stores import DatabaseStore, LimitStore, RedisLimitStore

LOGIN_PER_ADDRESS = RateLimit(60, timedelta(minutes=1))
REGISTER_PER_ADDRESS = RateLimit(20, timedelta(minutes=10))
# Attempts per username+address: 10 in a burst, then one more every 90 seconds.
LOGIN_ATTEMPTS = 10
LOGIN_ATTEMPTS_PERIOD = timedelta(minutes=15)
FORGOT_PER_ADDRESS = RateLimit(20, timedelta(hours=1))
FORGOT_PER_TARGET = RateLimit(5, timedelta(hours=1))
EXTENSION_KEY = "quart_blog.limit_store"


async def client_address() -> str:
    """The client's address.

    ``request.remote_addr`` is the socket peer, rewritten from
    ``X-Forwarded-For`` only by Hypercorn's ProxyFix across ``TRUSTED_PROXIES``
    hops; the raw header is never read here, so clients cannot choose their key.
    """
    return request.remote_addr or "unknown"


def make_store(redis_url: str | None) -> LimitStore:
    """Redis when configured, else the shared database table."""
    return RedisLimitStore(redis_url) if redis_url else DatabaseStore()


def init_app(app: Quart) -> None:
    """Give ``app`` its limit store and Quart-Rate-Limiter, keyed by the trusted client address.

    The key is never the raw ``X-Forwarded-For`` (Quart-Rate-Limiter's default).
    ``RATE_LIMITS=off`` turns every limit off (benchmarks only).
    """
    settings = get_settings(app)
    store = app.extensions[EXTENSION_KEY] = make_store(settings.redis_url)
    limiter = RateLimiter(key_function=client_address, store=store)
    limiter.init_app(app, enabled=settings.rate_limits)


def get_limit_store(app: Quart | None = None) -> LimitStore:
    """The limit store of ``app`` (default: the running app)."""
    store: LimitStore = (app or current_app).extensions[EXTENSION_KEY]
    return store


def limits_enabled() -> bool:
    """Whether brute-force limits are on (``RATE_LIMITS``)."""
    return get_settings().rate_limits


def hashed_key(kind: str, *parts: str) -> str:
    """A store key for ``parts`` of bounded length that does not hold them in clear."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def attempt_key(username: str, address: str) -> str:
    """Key for login attempts on one account from one address."""
    return hashed_key("login-attempts", username.lower(), address)


async def consume(key: str, limit: RateLimit) -> None:
    """Count one event under ``key``; raise ``RateLimitExceeded`` (429) when over ``limit``."""
    store = get_limit_store()
    period = limit.period.total_seconds()
    inverse = period / limit.count
    now = clock.timestamp()
    tat = await store.consume(key, now, inverse, ceiling=now + period + inverse)
    # GCRA: allowed while the arrival time stays within one period of now; the
    # next event is allowed once it would be again (hence "+ inverse").
    if tat - now > period:
        raise RateLimitExceeded(max(1, ceil(tat - now - period + inverse)))


async def count_login_attempt(username: str) -> None:
    """Count one login attempt on ``username`` from this client; 429 when over the limit."""
    if limits_enabled():
        limit = RateLimit(LOGIN_ATTEMPTS, LOGIN_ATTEMPTS_PERIOD)
        await consume(attempt_key(username, await client_address()), limit)


async def count_forgot_password(email: str) -> None:
    """Count one forgot-password request from this client and for ``email``.

    Both counts are taken whatever the address, so the limit tells nothing about
    whether an account has it.
    """
    if limits_enabled():
        await consume(hashed_key("forgot-from", await client_address()), FORGOT_PER_ADDRESS)
        await consume(hashed_key("forgot-for", email.lower()), FORGOT_PER_TARGET)


async def forget_login_attempts(username: str) -> None:
    """A successful login clears the account+address counter."""
    if limits_enabled():
        await get_limit_store().reset(attempt_key(username, await client_address()))
