"""SPEC §3: the ``quart-blog`` console script's ``db upgrade`` and ``create-user``."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from quart_blog import create_app
from tests.factories import PASSWORD, SECRET_KEY
from tests.live import cli_env, run_cli

APP_TABLES = {"users", "posts", "auth_sessions"}


def database_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def cli_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{database_file(tmp_path)}"


def quart_blog(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run ``quart-blog ARGS`` against this test's SQLite file; (exit code, stdout, stderr)."""
    result = run_cli(list(args), cli_env(tmp_path, DATABASE_URL=cli_url(tmp_path)), tmp_path)
    return result.returncode, result.stdout, result.stderr


def table_names(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        connection.close()
    return {name for (name,) in rows}


def usernames(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT username FROM users ORDER BY id").fetchall()
    finally:
        connection.close()
    return [name for (name,) in rows]


async def api_login_status(tmp_path: Path, username: str, password: str) -> tuple[int, object]:
    """Log in through an app built on the CLI's database, as the server would."""
    app = create_app(
        {"DATABASE_URL": cli_url(tmp_path), "SECRET_KEY": SECRET_KEY, "RATE_LIMITS": "off"},
        testing=True,
    )
    async with app.test_app():
        client = app.test_client()
        response = await client.post(
            "/api/v1/login", json={"username": username, "password": password}
        )
        body = await response.get_json()
        if response.status_code == 200:
            me = await client.get("/api/v1/me")
            assert me.status_code == 200
    return response.status_code, body


def test_cli_db_upgrade_creates_tables(tmp_path: Path) -> None:
    code, stdout, stderr = quart_blog(tmp_path, "db", "upgrade")

    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert stdout.strip()
    assert APP_TABLES | {"alembic_version"} <= table_names(database_file(tmp_path))


def test_cli_db_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    assert quart_blog(tmp_path, "db", "upgrade")[0] == 0

    code, _stdout, stderr = quart_blog(tmp_path, "db", "upgrade")

    assert code == 0, stderr
    assert table_names(database_file(tmp_path)) >= APP_TABLES


async def test_cli_create_user_can_log_in(tmp_path: Path) -> None:
    code, stdout, stderr = await asyncio.to_thread(
        quart_blog, tmp_path, "create-user", "bob", "--password", PASSWORD
    )

    assert code == 0, stderr
    assert "bob" in stdout
    assert usernames(database_file(tmp_path)) == ["bob"]
    status, body = await api_login_status(tmp_path, "bob", PASSWORD)
    assert status == 200, body
    assert isinstance(body, dict)
    assert body["username"] == "bob"
    wrong_status, _body = await api_login_status(tmp_path, "bob", PASSWORD + "!")
    assert wrong_status == 401


@pytest.mark.parametrize("taken", ["bob", "BOB"])
def test_cli_create_user_taken_name_fails_with_one_line(tmp_path: Path, taken: str) -> None:
    assert quart_blog(tmp_path, "create-user", "bob", "--password", PASSWORD)[0] == 0

    code, _stdout, stderr = quart_blog(tmp_path, "create-user", taken, "--password", PASSWORD)

    lines = stderr.strip().splitlines()
    assert code != 0
    assert len(lines) == 1, stderr
    assert "taken" in lines[0]
    assert "Traceback" not in stderr
    assert usernames(database_file(tmp_path)) == ["bob"]


@pytest.mark.parametrize("username", ["x!", "ab", "a" * 33, "bob smith", "bøb"])
def test_cli_create_user_invalid_username_exits_2_with_rule(tmp_path: Path, username: str) -> None:
    code, _stdout, stderr = quart_blog(tmp_path, "create-user", username, "--password", PASSWORD)

    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert "3-32" in lines[0]
    assert "Traceback" not in stderr
    path = database_file(tmp_path)
    assert not path.exists() or not usernames(path)


def test_cli_create_user_short_password_exits_2_with_rule(tmp_path: Path) -> None:
    code, _stdout, stderr = quart_blog(tmp_path, "create-user", "bob", "--password", "short")

    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert "8-1024" in lines[0]
    assert "Traceback" not in stderr
