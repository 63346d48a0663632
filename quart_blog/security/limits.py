"""Brute-force limits (SPEC §8, §11, §13): who a client is, which limits apply, the throttles.

Per-address limits on login and registration go through Quart-Rate-Limiter.
Login attempts per username+address are counted here, atomically and before
the password is checked, and forgotten on success, so a user's own typos
never lock them out for long and parallel guesses cannot all get through.

Failed password attempts are also counted per account across all addresses
(SPEC §13), so a guess spread over a botnet is refused too. That count is never
reset by a success (the owner logging in would hand the guesser a fresh
allowance); only the owner's own right attempt is taken back. A browser holding
the account's device cookie (``device_trust``) is counted in its own small
bucket instead, so the owner gets in while everyone else is refused.

Forgot-password requests are counted here too, per client address and per target
address, in one bucket each for the page and the API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from math import ceil

from quart import Quart, current_app, request
from quart_rate_limiter import RateLimit, RateLimiter, RateLimitExceeded

from quart_blog import clock
from quart_blog.config import get_settings
from quart_blog.security import device_trust
from quart_blog.security.limit_stores import DatabaseStore, LimitStore, RedisLimitStore

LOGIN_PER_ADDRESS = RateLimit(60, timedelta(minutes=1))
REGISTER_PER_ADDRESS = RateLimit(20, timedelta(minutes=10))
# Attempts per username+address: 10 in a burst, then one more every 90 seconds.
LOGIN_ATTEMPTS = 10
LOGIN_ATTEMPTS_PERIOD = timedelta(minutes=15)
# Failures per account from everywhere but its trusted devices: 20, then one per 45 s.
ACCOUNT_FAILURES = RateLimit(20, timedelta(minutes=15))
# Attempts from one trusted device (a browser that signed in to the account before).
DEVICE_ATTEMPTS = RateLimit(10, timedelta(minutes=15))
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


def account_key(username: str) -> str:
    """Key for failures on one account name, known or not (so the limit reveals nothing)."""
    return hashed_key("login-account", username.lower())


def device_key(device_id: str) -> str:
    """Key for login attempts from one trusted device."""
    return hashed_key("login-device", device_id)


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


async def refund(key: str, limit: RateLimit) -> None:
    """Take back one event ``consume`` counted under ``key``, keeping the others."""
    await get_limit_store().refund(
        key, clock.timestamp(), limit.period.total_seconds() / limit.count
    )


@dataclass(frozen=True)
class LoginAttempt:
    """A counted password attempt; ``succeeded`` settles it once the password proved right."""

    username: str = ""
    address: str = ""
    device_id: str | None = None  # the trusted device it came from, if any
    counted: bool = False

    async def succeeded(self) -> None:
        """Forget this address's (and device's) attempts; take back only this one account-wide."""
        if not self.counted:
            return
        await get_limit_store().reset(attempt_key(self.username, self.address))
        if self.device_id is not None:
            await get_limit_store().reset(device_key(self.device_id))
        else:
            await refund(account_key(self.username), ACCOUNT_FAILURES)


async def count_login_attempt(username: str) -> LoginAttempt:
    """Count one password attempt on ``username`` from this client; 429 when over a limit.

    Always per username+address; then in the trusted device's own bucket, or else
    towards the account-wide limit. Everything is counted before the password is
    checked (no bcrypt work for a refused attempt, and parallel guesses cannot all
    slip through); ``LoginAttempt.succeeded`` takes back what a right password should
    not have cost.
    """
    if not limits_enabled():
        return LoginAttempt()
    address = await client_address()
    await consume(attempt_key(username, address), RateLimit(LOGIN_ATTEMPTS, LOGIN_ATTEMPTS_PERIOD))
    device_id = await device_trust.trusted_device(username)
    if device_id is None:
        await consume(account_key(username), ACCOUNT_FAILURES)
    else:
        await consume(device_key(device_id), DEVICE_ATTEMPTS)
    return LoginAttempt(username, address, device_id, counted=True)


async def count_forgot_password(email: str) -> None:
    """Count one forgot-password request from this client and for ``email``.

    Both counts are taken whatever the address, so the limit tells nothing about
    whether an account has it.
    """
    if limits_enabled():
        await consume(hashed_key("forgot-from", await client_address()), FORGOT_PER_ADDRESS)
        await consume(hashed_key("forgot-for", email.lower()), FORGOT_PER_TARGET)
