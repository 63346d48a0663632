"""``quart-blog mail``: list what is queued, retrying or refused, and retry it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.live import cli_env, run_cli
from tests.recovery.helpers import deliver, outbox_rows, register_with_email
from tests.smtp import free_port


@pytest.fixture
def app_overrides(app_overrides: dict[str, str]) -> dict[str, str]:
    return {**app_overrides, "MAIL_URL": f"smtp://127.0.0.1:{free_port()}"}  # nobody there


async def mail_cli(args: list[str], database_url: str, tmp_path: Path) -> str:
    env = cli_env(tmp_path, DATABASE_URL=database_url)
    done = await asyncio.to_thread(run_cli, ["mail", *args], env, tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_list_shows_retrying_messages_and_retry_makes_them_due(
    app: Quart, client: QuartClient, database_url: str, tmp_path: Path
) -> None:
    assert "nothing queued" in await mail_cli(["list"], database_url, tmp_path)
    await register_with_email(client)
    await deliver(app)  # the mail server is down: one failed attempt
    listing = await mail_cli(["list"], database_url, tmp_path)
    assert "verify-email" in listing and "alice@example.org" in listing
    assert "retrying (1 attempts" in listing and "last error" in listing
    assert "1 not delivered" in listing
    assert "1 message(s) due now" in await mail_cli(["retry"], database_url, tmp_path)
    [row] = await outbox_rows(app)
    assert row.next_attempt_at <= datetime.now(UTC)  # due: the next claim takes it
    assert "0 message(s)" in await mail_cli(["retry", "999"], database_url, tmp_path)
