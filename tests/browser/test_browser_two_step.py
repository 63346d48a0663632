"""Two-step login in a real browser, by keyboard, on a 390-px-wide screen (issue #11, point 7).

From the account page's own table of contents to the enrolment page, the code typed from
an "authenticator app" (RFC 6238 computed here from the secret the page shows), the
recovery codes, and a later login whose second step takes one of them, with nothing but
Tab, typing and Enter. Every page is checked for sideways scrolling and script errors.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_browser_flow import Watched
from tests.live import LiveServer
from tests.mfa.helpers import rfc6238

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")

USERNAME = "stepper"
PASSWORD = "a long browser password"
PHONE = {"width": 390, "height": 844}
MAX_TABS = 60  # the longest page here has fewer focusable elements than this
RECOVERY_CODE = re.compile(r"\b[a-z2-7]{4}(?:-[a-z2-7]{4}){3}\b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("browser-two-step"), workers=1) as live:
        yield live


def tab_to(page: playwright_api.Page, name: str, tag: str | None = None) -> None:
    """Press Tab until the focused element's text (or label) starts with ``name``.

    ``tag`` (say ``"BUTTON"``) tells apart a form's button from a link of the same name.
    """
    for _press in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused_tag, text = page.evaluate(
            "() => { const e = document.activeElement; return [e.tagName,"
            " (e.labels && e.labels[0] ? e.labels[0].innerText : e.innerText) || '']; }"
        )
        if text.strip().startswith(name) and tag in (None, focused_tag):
            return
    pytest.fail(f"{name!r} not reached with {MAX_TABS} presses of Tab on {page.url}")


def fits_the_phone(page: playwright_api.Page) -> None:
    """Nothing wider than the screen: no sideways scrolling at 390 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def keyboard_log_in(page: playwright_api.Page, base: str) -> None:
    """The password step, typed: name, Tab, password, Enter."""
    page.goto(f"{base}/login")
    tab_to(page, "Username")
    page.keyboard.type(USERNAME)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_two_step_login_by_keyboard_on_a_phone(
    server: LiveServer, browser: playwright_api.Browser, tmp_path: Path
) -> None:
    base = server.base_url
    shots = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots")) / "two-step"
    shots.mkdir(parents=True, exist_ok=True)
    registered = httpx.post(
        f"{base}/api/v1/register", json={"username": USERNAME, "password": PASSWORD}
    )
    assert registered.status_code == 201
    context = browser.new_context(viewport=PHONE)
    watched = Watched(context.new_page(), shots)
    page = watched.page

    keyboard_log_in(page, base)
    assert page.url == f"{base}/posts"
    page.goto(f"{base}/account")
    fits_the_phone(page)
    watched.shot("account-390")
    # The account page's table of contents, then the card's own link.
    tab_to(page, "Two-step login")
    page.keyboard.press("Enter")
    assert page.url.endswith("/account#two-step")
    tab_to(page, "Set up two-step login")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/account/2fa"

    tab_to(page, "Set up an authenticator app")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    fits_the_phone(page)
    watched.shot("enrol-390")
    secret = "".join(page.locator("#totp-secret").inner_text().split())  # typed as grouped
    tab_to(page, "Code from the app")
    page.keyboard.type(rfc6238(secret, time.time()))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    codes = RECOVERY_CODE.findall(page.locator("main").inner_text())
    assert len(set(codes)) == 10, codes
    fits_the_phone(page)
    watched.shot("recovery-codes-390")

    # Log out (the confirmation's button, by keyboard), then the two steps.
    page.goto(f"{base}/logout")
    tab_to(page, "Log out", tag="BUTTON")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    keyboard_log_in(page, base)
    assert page.url.startswith(f"{base}/login/2fa")
    fits_the_phone(page)
    watched.shot("login-2fa-390")
    tab_to(page, "Code")
    page.keyboard.type(codes[0].upper().replace("-", " "))  # as a person might type it
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/posts"
    assert page.evaluate("fetch('/api/v1/me').then(answer => answer.status)") == 200

    page.goto(f"{base}/account")
    assert "9 of 10" in page.locator("#two-step").inner_text()
    context.close()
    assert watched.errors == []
    assert len(list(shots.glob("*-390.png"))) == 4  # account, enrol, codes, second step
