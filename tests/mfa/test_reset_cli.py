"""``quart-blog reset-2fa USERNAME``: the administrator's way back in for a user who lost
every factor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quart import Quart

from quart_blog import clock
from quart_blog.clock import ManualClock
from quart_blog.db import migrations
from tests.factories import PASSWORD, SECRET_KEY, api_user
from tests.live import cli_env, run_cli
from tests.mfa.helpers import count, enrol, events, is_logged_in_api, password_step
from tests.views.helpers import running_app, sql

FACTOR_TABLES = ("mfa_totp", "recovery_codes", "passkeys", "pending_logins", "auth_sessions")


def overrides(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'blog.db'}",
        "SECRET_KEY": SECRET_KEY,
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMITS": "off",
    }


async def reset_2fa(tmp_path: Path, username: str) -> tuple[int, str, str]:
    """Run the command against the test's SQLite file: (exit code, stdout, stderr)."""
    result = await asyncio.to_thread(run_cli, ["reset-2fa", username], cli_env(tmp_path), tmp_path)
    return result.returncode, result.stdout, result.stderr


async def add_passkey(app: Quart, user_id: int) -> None:
    """A passkey row, as a registration would leave it."""
    await sql(
        app,
        "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, name, transports,"
        " created_at) VALUES (:user, :credential, :key, 0, 'phone', '', :now)",
        user=user_id,
        credential=b"credential-1",
        key=b"cose-key",
        now=clock.utcnow(),
    )


async def test_reset_removes_every_factor_and_every_session(tmp_path: Path) -> None:
    await asyncio.to_thread(migrations.upgrade, overrides(tmp_path)["DATABASE_URL"])
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        async with running_app(overrides(tmp_path)) as app:
            browser, halfway = app.test_client(), app.test_client()
            user = await api_user(browser)
            await enrol(browser, manual)
            await add_passkey(app, user["id"])
            await password_step(halfway)  # a login waiting for its code
            assert all([await count(app, table, user["id"]) for table in FACTOR_TABLES])

            code, stdout, stderr = await reset_2fa(tmp_path, "alice")

            assert code == 0, stderr
            assert "alice" in stdout and "TOTP removed" in stdout
            assert "10 recovery code(s)" in stdout and "1 passkey(s)" in stdout
            assert "1 session(s) revoked" in stdout
            for table in FACTOR_TABLES:
                assert await count(app, table, user["id"]) == 0, table
            assert (await events(app, user["id"]))[-1] == "mfa_disabled"
            assert not await is_logged_in_api(browser)
            # The password alone logs in now.
            response = await halfway.post(
                "/api/v1/login", json={"username": "alice", "password": PASSWORD}
            )
            assert response.status_code == 200


async def test_reset_of_an_unknown_user_fails_with_one_line(tmp_path: Path) -> None:
    code, stdout, stderr = await reset_2fa(tmp_path, "nobody")
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "nobody" in lines[0], stderr
    assert "Traceback" not in stderr and not stdout.strip()


async def test_reset_of_a_user_without_a_second_factor(tmp_path: Path) -> None:
    await asyncio.to_thread(migrations.upgrade, overrides(tmp_path)["DATABASE_URL"])
    async with running_app(overrides(tmp_path)) as app:
        await api_user(app.test_client())
        code, stdout, stderr = await reset_2fa(tmp_path, "ALICE")
        assert code == 0, stderr
        assert "was off" in stdout
