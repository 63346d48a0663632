"""Common passwords are refused as new passwords, with a reason (SPEC §13).

Register, change and reset, on the pages and the API. The list ships inside the package
(quart_blog/data, Django's list) and loads from an installed copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_blog.validation import (
    COMMON_PASSWORDS,
    TOO_COMMON,
    is_common_password,
    password_problem,
)
from tests.api.helpers import assert_error, assert_username_free
from tests.factories import PASSWORD, api_login, api_register, api_user, page_user, submit
from tests.recovery.helpers import delivered, token_of
from tests.smtp import SmtpSink
from tests.views.helpers import text_of

ROOT = Path(__file__).resolve().parents[2]
# In every list of the most common passwords (SPEC §13), and one in another case.
COMMON = ["password123", "qwertyuiop", "iloveyou1", "PassWord123"]
BUILD_TIMEOUT = 300


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def app_overrides(app_overrides: dict[str, str], smtp: SmtpSink) -> dict[str, str]:
    """Mail goes to the test's SMTP sink (the reset link arrives by mail)."""
    return {**app_overrides, "MAIL_URL": smtp.url}


async def reset_token(app: Quart, client: QuartClient, smtp: SmtpSink) -> str:
    """Register alice with a verified address and ask for a reset link; its token."""
    await api_register(client, email="alice@example.org")
    verify = token_of((await delivered(app, smtp, 1))[0])
    assert (await client.post("/api/v1/email/verify", json={"token": verify})).status_code == 204
    await delivered(app, smtp, 2)  # the "confirmed" notice
    forgot = await client.post("/api/v1/password/forgot", json={"email": "alice@example.org"})
    assert forgot.status_code == 202
    return token_of((await delivered(app, smtp, 3))[2])


def test_the_list_holds_the_most_common_passwords() -> None:
    assert isinstance(COMMON_PASSWORDS, frozenset)
    assert len(COMMON_PASSWORDS) >= 10_000
    assert all(password == password.lower() for password in COMMON_PASSWORDS)
    for password in COMMON:
        assert is_common_password(password)
        assert password_problem(password) == TOO_COMMON


@pytest.mark.parametrize(
    "password", [PASSWORD, "a brand new passphrase", "Tr0ub4dor&3 horse", "пароль-для-блога"]
)
def test_other_passwords_need_nothing_more(password: str) -> None:
    """No composition rules: length and the list are all there is."""
    assert password_problem(password) is None


def test_the_short_and_the_bad_are_told_so_first() -> None:
    assert "8-1024 characters" in (password_problem("123456") or "")
    assert "NUL" in (password_problem("password\x00123") or "")


async def test_register_page_refuses_common_passwords(client: QuartClient) -> None:
    for password in COMMON:
        form = {"username": "alice", "password": password, "confirm": password}
        response = await submit(client, "/register", form, "/register")
        assert response.status_code == 400
        assert TOO_COMMON in await text_of(response)
    await assert_username_free(client, "alice")


async def test_register_api_refuses_common_passwords(client: QuartClient) -> None:
    for password in COMMON:
        response = await client.post(
            "/api/v1/register", json={"username": "alice", "password": password}
        )
        error = await assert_error(response, 422, "validation_error")
        assert TOO_COMMON in error["message"]
        assert "password" in error["message"]
    await assert_username_free(client, "alice")


async def test_change_password_page_refuses_common_passwords(client: QuartClient) -> None:
    await page_user(client)
    for password in COMMON:
        form = {"current_password": PASSWORD, "new_password": password, "confirm": password}
        response = await submit(client, "/account/password", form, "/account")
        assert response.status_code == 400
        assert TOO_COMMON in await text_of(response)
    await api_login(client.app.test_client())  # the old password still works


async def test_change_password_api_refuses_common_passwords(client: QuartClient) -> None:
    await api_user(client)
    for password in COMMON:
        response = await client.post(
            "/api/v1/password", json={"current_password": PASSWORD, "new_password": password}
        )
        error = await assert_error(response, 422, "validation_error")
        assert TOO_COMMON in error["message"]
    await api_login(client.app.test_client())


async def test_reset_page_refuses_common_passwords(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    token = await reset_token(app, client, smtp)
    page = f"/reset-password?token={token}"
    for password in COMMON:
        form = {"token": token, "new_password": password, "confirm": password}
        response = await submit(client, "/reset-password", form, page)
        assert response.status_code == 400
        assert TOO_COMMON in await text_of(response)
    # The link is still good, and the old password still works.
    assert (await client.get(page)).status_code == 200
    await api_login(app.test_client())


async def test_reset_api_refuses_common_passwords(
    app: Quart, client: QuartClient, smtp: SmtpSink
) -> None:
    token = await reset_token(app, client, smtp)
    for password in COMMON:
        response = await client.post(
            "/api/v1/password/reset", json={"token": token, "new_password": password}
        )
        error = await assert_error(response, 422, "validation_error")
        assert TOO_COMMON in error["message"]
    await api_login(app.test_client())


def test_the_test_passwords_are_not_common() -> None:
    """Every test logs in with these, so none of them may be on the list."""
    assert not is_common_password(PASSWORD)
    assert not is_common_password("a brand new passphrase")
    assert not is_common_password("a brand new password")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its output, or a failed assertion that shows it."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_the_list_ships_in_the_wheel_and_loads_from_an_installed_copy(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    dist = tmp_path / "dist"
    run([*pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(ROOT)], tmp_path)
    (wheel,) = dist.glob("quart_blog-*.whl")
    target = tmp_path / "site"
    run([*pip, "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], tmp_path)
    for name in ("common-passwords.txt.gz", "common-passwords.LICENSE", "README.md"):
        assert (target / "quart_blog" / "data" / name).is_file(), name
    # The installed copy comes first on the path, ahead of this checkout's editable install.
    probe = "import quart_blog.validation as v; print(v.__file__); print(len(v.COMMON_PASSWORDS))"
    output = run([sys.executable, "-c", probe], tmp_path, {"PYTHONPATH": str(target)})
    where, count = output.split()
    assert Path(where).is_relative_to(target)
    assert int(count) == len(COMMON_PASSWORDS)
