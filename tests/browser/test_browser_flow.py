"""Real-browser walk through every page, in Debian's Chromium driven by Playwright.

Skips (with the reason) where Chromium is not installed; CI installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM
from tests.live import LiveServer

PASSWORD = "a long browser password"
NEW_PASSWORD = "an even longer browser password"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("browser"), workers=1) as live:
        yield live


class Watched:
    """A page whose console errors (CSP violations included) and JS errors are collected."""

    def __init__(self, page: playwright_api.Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def on_console(self, message: playwright_api.ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def fill_and_submit(page: playwright_api.Page, fields: dict[str, str], button: str) -> None:
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def log_in(page: playwright_api.Page, base: str, password: str) -> None:
    page.goto(f"{base}/login")
    fill_and_submit(page, {"Username": "walker", "Password": password}, "Log in")
    assert page.url == f"{base}/posts"


def assert_logged_out(page: playwright_api.Page, base: str) -> None:
    page.goto(f"{base}/posts")
    assert page.url.startswith(f"{base}/login?next=")


def test_browser_full_walk(
    server: LiveServer, browser: playwright_api.Browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    watched = Watched(browser.new_context().new_page(), shots)
    page = watched.page
    base = server.base_url

    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login?next=")
    page.goto(f"{base}/register")
    watched.shot("register")
    fill_and_submit(
        page, {"Username": "walker", "Password": PASSWORD, "Repeat password": PASSWORD}, "Register"
    )
    assert page.url == f"{base}/login"
    assert "Account created" in page.content()
    watched.shot("login")

    # Keyboard only: Tab into the form, type, tick "remember", submit with Enter.
    page.get_by_label("Username", exact=True).focus()
    page.keyboard.type("walker")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.get_by_label("Remember me for 30 days").is_checked()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/posts")
    assert "Logged in as" in page.content()
    watched.shot("posts-empty")

    page.get_by_role("link", name="Write a new post").click()
    watched.shot("post-new")
    page.get_by_label("Title").fill("Hello <b>browser</b>")
    page.get_by_label("Body").fill("First line\nSecond line")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Hello <b>browser</b>").is_visible()
    watched.shot("post-detail")

    page.get_by_role("link", name="Edit").click()
    watched.shot("post-edit")
    page.get_by_label("Title").fill("Edited title")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Edited title").is_visible()

    page.get_by_role("link", name="Delete…").click()  # asks first
    page.wait_for_url(f"{base}/posts/*/delete")
    assert page.get_by_text("Edited title").is_visible()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{base}/posts")
    assert "No posts yet." in page.content()

    # A second browser logged in as the same user is logged out by each account action.
    second = browser.new_context().new_page()
    log_in(second, base, PASSWORD)
    page.get_by_role("link", name="Account").click()
    watched.shot("account")
    assert page.get_by_text("This session").count() == 1
    page.get_by_role("button", name="Log out other sessions").click()
    page.wait_for_url(f"{base}/account")
    assert "Logged out 1 other session(s)" in page.content()
    assert_logged_out(second, base)

    log_in(second, base, PASSWORD)
    fill_and_submit(
        page,
        {
            "Current password": PASSWORD,
            "New password": NEW_PASSWORD,
            "Repeat new password": NEW_PASSWORD,
        },
        "Change password",
    )
    assert page.url == f"{base}/account"
    assert "Password changed" in page.content()
    assert_logged_out(second, base)

    page.get_by_role("link", name="Log out").click()
    watched.shot("logout")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/login")
    assert_logged_out(page, base)
    log_in(page, base, NEW_PASSWORD)

    assert watched.errors == []
    assert len(list(shots.glob("*.png"))) == 8
