"""``/api/docs`` in the real browser: Swagger UI renders every operation of ``/openapi.json``
under the site's CSP, loads nothing from another site, and logs no error (issue #13 point 2).

Skips (with the reason) where Chromium is not installed; CI installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import CHROMIUM
from tests.live import LiveServer

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("api-docs"), workers=1) as live:
        yield live


class Watched:
    """A page's console errors and warnings (CSP violations are errors), JS errors, failed
    requests, and every URL it asked for."""

    def __init__(self, page: playwright_api.Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requested: list[str] = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("requestfailed", lambda request: self.errors.append(f"failed: {request.url}"))
        page.on("request", lambda request: self.requested.append(request.url))

    def on_console(self, message: playwright_api.ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")


def test_api_docs_renders_every_operation_with_no_console_error(
    server: LiveServer, browser: playwright_api.Browser, tmp_path: Path
) -> None:
    base = server.base_url
    document = httpx.get(f"{base}/openapi.json", timeout=10).json()
    operation_count = sum(len(item) for item in document["paths"].values())
    watched = Watched(browser.new_context(viewport={"width": 1280, "height": 900}).new_page())
    page = watched.page
    # Any CSP violation, even one the page recovers from, is reported here too.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )

    response = page.goto(f"{base}/api/docs")
    assert response is not None and response.status == 200
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() == operation_count
    assert page.get_by_role("heading", name="quart-blog API").is_visible()
    for tag in ("accounts", "posts", "recovery"):
        assert page.locator(f"#operations-tag-{tag}").is_visible()
    assert page.locator(".opblock-summary-path", has_text="/api/v1/posts/{post_id}").count() == 3

    # Open one operation: its parameters and its error responses, with their schema, render.
    page.locator("#operations-posts-getPost .opblock-summary").click()
    detail = page.locator("#operations-posts-getPost")
    detail.locator(".responses-table").first.wait_for()
    for status in ("200", "401", "404", "500"):
        assert detail.locator(f"tr.response[data-code='{status}']").count() == 1, status
    assert detail.locator(".parameters").get_by_text("integer", exact=False).count() >= 1

    # "Try it out" calls the API from the page (CSP connect-src 'self') on the cookie session.
    user = {"username": "docs_reader", "password": "a long docs password"}
    for action in ("register", "login"):
        answer = page.context.request.post(f"{base}/api/v1/{action}", data=user)
        assert answer.ok, (action, answer.status)
    page.locator("#operations-accounts-getMe .opblock-summary").click()
    me = page.locator("#operations-accounts-getMe")
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    me.locator(".live-responses-table .response-col_status", has_text="200").wait_for()
    assert "docs_reader" in me.locator(".live-responses-table").inner_text()

    shots = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "api-docs.png"), full_page=True)

    assert watched.errors == []
    outside = [url for url in watched.requested if not url.startswith((base, "data:"))]
    assert outside == []
