"""A built wheel, installed into a fresh virtualenv and run from elsewhere, is the whole site.

Templates, static files and migrations are package data: nothing may be read from this
source tree. The wheel is built from the working tree, installed with its dependencies
(from the package index, as a user would), and served from an empty directory.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD
from tests.live import CLI_TIMEOUT, LiveServer, cli_env
from tests.test_live_server import api_walk, form_token, location_path, page_walk

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 300.0


def run(args: list[str], cwd: Path, timeout: float = INSTALL_TIMEOUT) -> str:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``quart-blog`` of a fresh virtualenv holding only the wheel and its dependencies."""
    work = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(work / "dist"), str(ROOT)], work)
    (wheel,) = (work / "dist").glob("quart_blog-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], work)
    return work / "venv" / "bin" / "quart-blog"


def test_the_wheel_carries_no_path_into_this_source_tree(installed: Path, tmp_path: Path) -> None:
    python = installed.parent / "python"
    where = run(
        [str(python), "-c", "import quart_blog.resources as r; print(r.resource_dir('templates'))"],
        tmp_path,
        CLI_TIMEOUT,
    )
    assert Path(where.strip()).is_relative_to(installed.parent.parent), where
    assert not Path(where.strip()).is_relative_to(ROOT)


def test_an_installed_wheel_migrates_and_serves_every_page(installed: Path, tmp_path: Path) -> None:
    site = tmp_path / "elsewhere"
    site.mkdir()
    upgraded = subprocess.run(
        [str(installed), "db", "upgrade"],
        cwd=site,
        env=cli_env(site),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    with LiveServer(site, workers=1, executable=installed) as server:
        page_walk(server.base_url)
        api_walk(server.base_url)
        with httpx.Client(base_url=server.base_url, timeout=30) as browser:
            assert browser.get("/static/style.css").status_code == 200
            missing = browser.get("/no-such-page")
            assert missing.status_code == 404
            assert "<html" in missing.text.lower()
            login = browser.get("/login")
            browser.post(
                "/login",
                data={"username": "bob", "password": PASSWORD, "csrf_token": form_token(login)},
            )
            account = browser.get("/account")
            assert account.status_code == 200, location_path(account)
            assert "session" in account.text.lower()
            assert browser.get("/openapi.json").json()["openapi"].startswith("3.")
            # Swagger UI's files come from the installed swagger-ui-bundle-v2 package.
            docs = browser.get("/api/docs")
            assert docs.status_code == 200
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
                assert browser.get(f"/api/docs/assets/{asset}").status_code == 200, asset
            assert browser.get("/static/api-docs.js").status_code == 200
