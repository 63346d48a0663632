"""Password hashing: no 72-byte truncation, long Unicode, hash upgrades, off-loop (SPEC §7, §8)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from passlib.context import CryptContext
from quart import Quart
from quart.testing import QuartClient

from tests.factories import PASSWORD, api_register, form_login, submit
from tests.views.helpers import running_app, sql

SHARED_PREFIX = "p" * 72
LONG_UNICODE = ("pässwörd ключ 🔑 密码 " * 60)[:1024]


async def stored_hash(app: Quart, username: str = "alice") -> str:
    """The password hash the database holds for ``username``."""
    [(found,)] = await sql(
        app, "SELECT password_hash FROM users WHERE username_lower = :name", name=username
    )
    return str(found)


async def store_hash(app: Quart, password_hash: str, username: str = "alice") -> None:
    """Overwrite a user's hash, as if it had been made by an older version of the app."""
    await sql(
        app,
        "UPDATE users SET password_hash = :hash WHERE username_lower = :name",
        hash=password_hash,
        name=username,
    )


async def test_password_bytes_beyond_72_count(client: QuartClient) -> None:
    first, second = SHARED_PREFIX + "a" * 8, SHARED_PREFIX + "b" * 8
    assert len(first.encode()) == len(second.encode()) == 80
    await api_register(client, "alice", first)
    assert (await form_login(client, "alice", second)).status_code == 401
    assert (await form_login(client, "alice", first)).status_code == 303


async def test_password_multibyte_prefix_beyond_72_bytes(client: QuartClient) -> None:
    prefix = "é" * 36  # 72 bytes in UTF-8
    await api_register(client, "alice", prefix + "one!")
    assert (await form_login(client, "alice", prefix + "two!")).status_code == 401


async def test_password_long_unicode_works(client: QuartClient) -> None:
    assert len(LONG_UNICODE) == 1024
    form = {"username": "alice", "password": LONG_UNICODE, "confirm": LONG_UNICODE}
    assert (await submit(client, "/register", form, "/register")).status_code == 303
    assert (await form_login(client, "alice", LONG_UNICODE)).status_code == 303
    assert (await form_login(client, "alice", LONG_UNICODE[:-1] + "x")).status_code == 401


@pytest.mark.parametrize(
    ("old_context", "prefix"),
    [
        (CryptContext(schemes=["bcrypt"], bcrypt__rounds=4), "$2b$"),
        (CryptContext(schemes=["bcrypt_sha256"], bcrypt_sha256__rounds=4), "$bcrypt-sha256$"),
    ],
    ids=["plain-bcrypt", "low-cost"],
)
async def test_login_upgrades_stale_hash(
    app_overrides: dict[str, str], old_context: CryptContext, prefix: str
) -> None:
    async with running_app({**app_overrides, "BCRYPT_ROUNDS": "5"}) as app:
        client = app.test_client()
        await api_register(client)
        old_hash = old_context.hash(PASSWORD)
        await store_hash(app, old_hash)
        assert (await stored_hash(app)).startswith(prefix)
        assert (await form_login(client)).status_code == 303
        upgraded = await stored_hash(app)
        assert upgraded != old_hash
        assert upgraded.startswith("$bcrypt-sha256$")
        assert ",r=5$" in upgraded
        assert (await form_login(app.test_client())).status_code == 303


async def test_login_wrong_password_keeps_stale_hash(app: Quart, client: QuartClient) -> None:
    await api_register(client)
    old_hash = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(PASSWORD)
    await store_hash(app, old_hash)
    assert (await form_login(client, password="not the password")).status_code == 401
    assert await stored_hash(app) == old_hash


def record_threads(context: Any, threads: list[int], started: threading.Event) -> None:
    """Wrap the hasher's CryptContext so each call notes its thread and flags the start."""
    for name in ("hash", "verify", "verify_and_update"):
        original: Callable[..., Any] = getattr(context, name)

        def wrapper(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            started.set()
            return _original(*args, **kwargs)

        setattr(context, name, wrapper)


@pytest.mark.parametrize("username", ["alice", "nobody"])
async def test_hashing_runs_off_event_loop(app_overrides: dict[str, str], username: str) -> None:
    async with running_app({**app_overrides, "BCRYPT_ROUNDS": "12"}) as app:
        await api_register(app.test_client())
        threads: list[int] = []
        started = threading.Event()
        record_threads(app.extensions["quart_blog.passwords"].context, threads, started)
        order: list[str] = []

        async def log_in() -> None:
            response = await form_login(app.test_client(), username)
            order.append(f"login {response.status_code}")

        async def health_check() -> None:
            # Wait (in a thread, so the loop stays free) until bcrypt is running.
            assert await asyncio.to_thread(started.wait, 60)
            response = await app.test_client().get("/healthz")
            order.append(f"healthz {response.status_code}")

        await asyncio.gather(log_in(), health_check())
        expected = 303 if username == "alice" else 401
        assert order == ["healthz 200", f"login {expected}"]
        assert threads and threading.get_ident() not in threads
