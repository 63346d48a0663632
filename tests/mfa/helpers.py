"""Driving the second factor through the public surface: an authenticator app, enrolment,
the login's code step, and what the database recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Any

from quart import Quart
from quart.testing import QuartClient

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.mfa.service import PENDING_COOKIE
from tests.api.helpers import AUTH_COOKIE, set_cookies
from tests.factories import PASSWORD
from tests.views.helpers import sql

STEP = 30


def rfc6238(secret: str, at: float) -> str:
    """The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of a base32 secret at Unix time ``at``.

    Written from the RFC, not with the library the app uses, so the tests check the
    algorithm the app promises authenticator apps.
    """
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // STEP), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@dataclass
class Authenticator:
    """An authenticator app holding ``secret``, reading the test's manual clock."""

    secret: str
    manual: ManualClock

    def code(self, steps: int = 0) -> str:
        """The code shown now, or ``steps`` time steps away (a phone whose clock is off)."""
        return rfc6238(self.secret, clock.timestamp() + steps * STEP)

    def wrong_code(self) -> str:
        """A code that is right for no step within the drift window (never a lucky guess)."""
        window = {self.code(steps) for steps in (-1, 0, 1)}
        return next(f"{n:06d}" for n in range(4) if f"{n:06d}" not in window)

    def next_code(self) -> str:
        """Wait for the next time step and read its code (codes are accepted once each)."""
        self.manual.advance(STEP)
        return self.code()


async def start_enrolment(client: QuartClient) -> dict[str, Any]:
    """POST /api/v1/me/2fa/totp: the pending secret and its otpauth URI."""
    response = await client.post("/api/v1/me/2fa/totp")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def enrol(client: QuartClient, manual: ManualClock) -> tuple[Authenticator, list[str]]:
    """Turn TOTP on through the API: the authenticator app and the 10 recovery codes."""
    app = Authenticator((await start_enrolment(client))["secret"], manual)
    response = await client.post("/api/v1/me/2fa/totp/confirm", json={"code": app.code()})
    assert response.status_code == 200, await response.get_data(as_text=True)
    codes: list[str] = (await response.get_json())["recovery_codes"]
    return app, codes


async def status(client: QuartClient) -> dict[str, Any]:
    """GET /api/v1/me/2fa."""
    response = await client.get("/api/v1/me/2fa")
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def password_step(
    client: QuartClient, username: str = "alice", password: str = PASSWORD, remember: bool = False
) -> Any:
    """POST /api/v1/login, asserting the answer is 401 mfa_required with no session."""
    response = await client.post(
        "/api/v1/login", json={"username": username, "password": password, "remember": remember}
    )
    assert response.status_code == 401, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["code"] == "mfa_required"
    cookies = set_cookies(response)
    assert AUTH_COOKIE not in cookies
    assert PENDING_COOKIE in cookies
    return response


async def code_step(client: QuartClient, code: str) -> Any:
    """POST /api/v1/login/2fa with ``code``: the raw answer."""
    return await client.post("/api/v1/login/2fa", json={"code": code})


async def two_step_login(client: QuartClient, code: str, username: str = "alice") -> None:
    """Log in with the password and then ``code``, asserting both steps succeed."""
    await password_step(client, username)
    response = await code_step(client, code)
    assert response.status_code == 200, await response.get_data(as_text=True)


async def is_logged_in_api(client: QuartClient) -> bool:
    """Whether the client's cookies open /api/v1/me."""
    response = await client.get("/api/v1/me")
    assert response.status_code in (200, 401)
    return response.status_code == 200


async def events(app: Quart, user_id: int) -> list[str]:
    """The user's security-log event types, oldest first."""
    rows = await sql(
        app, "SELECT type FROM auth_events WHERE user_id = :user ORDER BY id", user=user_id
    )
    return [str(row[0]) for row in rows]


# The tables a test counts a user's rows in (a fixed list: no name is ever interpolated).
COUNT_QUERIES = {
    table: f"SELECT count(*) FROM {table} WHERE user_id = :user"  # noqa: S608
    for table in (
        "mfa_totp",
        "recovery_codes",
        "pending_logins",
        "passkeys",
        "auth_sessions",
        "auth_events",
    )
}


async def count(app: Quart, table: str, user_id: int) -> int:
    """How many rows of ``table`` belong to the user."""
    rows = await sql(app, COUNT_QUERIES[table], user=user_id)
    return int(rows[0][0])


def ungrouped(code: str) -> str:
    """A recovery code as someone might type it: no dashes, upper case."""
    return code.replace("-", "").upper()
