"""SPEC §4: settings from the environment, and one clear line (never a traceback) on bad values."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from quart_blog.config import DEFAULT_DATABASE_URL, ConfigError, MailServer, Settings
from tests.factories import SECRET_KEY
from tests.live import cli_env, run_cli

BAD_VALUES = [
    ("DATABASE_URL", "nonsense://x"),
    ("DATABASE_URL", "mysql://u@h/db"),
    ("DATABASE_URL", "sqlite+aiosqlite://"),
    ("DATABASE_URL", "not a url at all"),
    ("BCRYPT_ROUNDS", "-1"),
    ("BCRYPT_ROUNDS", "abc"),
    ("BCRYPT_ROUNDS", "3"),
    ("BCRYPT_ROUNDS", "32"),
    ("TRUSTED_PROXIES", "-1"),
    ("DB_POOL_SIZE", "0"),
    ("DB_POOL_SIZE", "501"),
    ("DB_POOL_SIZE", "many"),
    ("RATE_LIMITS", "maybe"),
    ("SESSION_COOKIE_SECURE", "perhaps"),
    ("REDIS_URL", "http://x"),
    ("SECRET_KEY", "short"),
    ("SECRET_KEY", f"{SECRET_KEY},short"),
    ("PUBLIC_URL", "localhost:8000"),
    ("PUBLIC_URL", "ftp://example.org"),
    ("PUBLIC_URL", "https://example.org/blog"),
    ("PUBLIC_URL", "https://example.org:http"),
    ("MAIL_URL", "http://mail.example.org"),
    ("MAIL_URL", "smtp://"),
    ("MAIL_URL", "smtp://mail.example.org:99999"),
    ("MAIL_FROM", "nobody"),
    ("MAIL_FROM", "Blog <a@example.org>\r\nBcc: victim@example.org"),
]


def test_settings_from_env_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({}, instance_path=tmp_path)

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///instance/blog.db"
    assert settings.redis_url is None
    assert settings.bcrypt_rounds == 12
    assert settings.cookie_secure is None  # decided per request: on over HTTPS
    assert settings.trusted_proxies == 0
    assert settings.rate_limits is True
    assert settings.db_pool_size is None  # the backend's default
    assert len(settings.secret_keys) == 1
    assert settings.public_url == "http://localhost:8000"
    assert settings.mail_server is None  # messages become files:
    assert settings.mail_dir == tmp_path / "mail"
    assert settings.mail_from == "quart-blog <no-reply@localhost>"


def test_settings_from_env_good_values(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+asyncpg://blog@db.example/blog",
            "SECRET_KEY": SECRET_KEY,
            "REDIS_URL": "redis://cache:6379/0",
            "BCRYPT_ROUNDS": "4",
            "SESSION_COOKIE_SECURE": "on",
            "TRUSTED_PROXIES": "2",
            "RATE_LIMITS": "off",
            "DB_POOL_SIZE": "40",
            "PUBLIC_URL": "https://blog.example.org/",
            "MAIL_URL": "smtp+starttls://me%40example.org:p%3Ass@mail.example.org",
            "MAIL_FROM": "Example Blog <no-reply@example.org>",
        },
        instance_path=tmp_path,
    )

    assert settings.database_url == "postgresql+asyncpg://blog@db.example/blog"
    assert settings.secret_keys == (SECRET_KEY,)
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.bcrypt_rounds == 4
    assert settings.cookie_secure is True
    assert settings.trusted_proxies == 2
    assert settings.rate_limits is False
    assert settings.db_pool_size == 40
    assert settings.public_url == "https://blog.example.org"
    assert settings.mail_server == MailServer(
        host="mail.example.org",
        port=587,
        security="starttls",
        username="me@example.org",
        password="p:ss",
    )
    assert settings.mail_from == "Example Blog <no-reply@example.org>"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, "plain")),
        ("smtp://relay.example.org", ("relay.example.org", 25, "plain")),
        ("smtps://mail.example.org", ("mail.example.org", 465, "tls")),
    ],
)
def test_mail_url_schemes_and_default_ports(
    tmp_path: Path, url: str, expected: tuple[str, int, str]
) -> None:
    server = Settings.from_env(
        {"SECRET_KEY": SECRET_KEY, "MAIL_URL": url}, instance_path=tmp_path
    ).mail_server
    assert server is not None
    assert (server.host, server.port, server.security) == expected


@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_settings_from_env_bad_value_raises_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    environ = {"SECRET_KEY": SECRET_KEY, variable: value}

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ, instance_path=tmp_path)

    message = str(caught.value)
    assert caught.value.variable == variable
    assert variable in message
    assert "\n" not in message
    assert message.strip() == message != ""


def test_settings_from_env_secret_key_rotation_keeps_order(tmp_path: Path) -> None:
    first, second = "k1-" + "a" * 20, "k2-" + "b" * 20

    settings = Settings.from_env({"SECRET_KEY": f"{first},{second}"}, instance_path=tmp_path)

    assert settings.secret_keys == (first, second)


def test_settings_from_env_without_secret_key_generates_private_stable_key(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"

    first = Settings.from_env({}, instance_path=instance)
    second = Settings.from_env({}, instance_path=instance)

    key_file = instance / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_keys == second.secret_keys
    (key,) = first.secret_keys
    assert len(key) >= 32
    assert key_file.read_text(encoding="utf-8").strip() == key
    assert [path.name for path in instance.iterdir()] == ["secret_key"]  # no temp files left


def test_settings_from_env_instance_keys_differ_between_instances(tmp_path: Path) -> None:
    one = Settings.from_env({}, instance_path=tmp_path / "one")
    two = Settings.from_env({}, instance_path=tmp_path / "two")

    assert one.secret_keys != two.secret_keys


@pytest.mark.parametrize(
    ("args", "variable", "value"),
    [
        (["serve", "--bind", "127.0.0.1:0"], "BCRYPT_ROUNDS", "-1"),
        (["serve", "--bind", "127.0.0.1:0"], "DATABASE_URL", "mysql://u@h/db"),
        (["db", "upgrade"], "DATABASE_URL", "nonsense://x"),
        (["db", "upgrade"], "DATABASE_URL", "sqlite+aiosqlite://"),
        (["create-user", "bob", "--password", "correct horse"], "RATE_LIMITS", "maybe"),
    ],
)
def test_cli_bad_setting_exits_2_with_one_line(
    tmp_path: Path, args: list[str], variable: str, value: str
) -> None:
    result = run_cli(args, cli_env(tmp_path, **{variable: value}), tmp_path)

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "blog.db").exists()  # stopped before touching the database


def test_plain_hypercorn_bad_setting_prints_one_line(tmp_path: Path) -> None:
    """``hypercorn "quart_blog:create_app()"`` with a bad value: one line, no traceback."""
    hypercorn = Path(sys.executable).parent / "hypercorn"
    result = subprocess.run(
        [str(hypercorn), "-b", "127.0.0.1:0", "quart_blog:create_app()"],
        env=cli_env(tmp_path, BCRYPT_ROUNDS="-1"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "quart-blog: configuration error: BCRYPT_ROUNDS: must be between 4 and 31, got -1"
    ]
