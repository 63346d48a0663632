"""axe-core on every page of the site, at 1280 and 390 px, in the real browser (issue #13, 7-8).

One live server (rate limits on, so the 429 page is real; mail to an ``SmtpSink``, so the
verification and reset pages open with real tokens). At each width a fresh browser walks
every page: anonymous, with form errors, the error pages, then logged in, and /api/docs
closed and opened. On each page it saves a full-page screenshot and runs axe-core with the
WCAG 2.1 A and AA rules, then switches to ``prefers-color-scheme: dark`` and runs axe's
colour-contrast rule again. The test fails listing every violation of every page.

axe is the copy bundled by PyPI's ``axe-playwright-python``. It goes in through
``page.evaluate`` (the DevTools protocol), which the site's CSP does not govern, so these
contexts keep the CSP; a CSP violation on any page fails the test too.

Screenshots: ``$BROWSER_SCREENSHOTS/a11y/<width>/[dark/]NN-page.png`` (default: pytest's
tmp dir).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_browser_flow import PASSWORD
from tests.live import LiveServer
from tests.smtp import SmtpSink, link_in

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")
axe_package = pytest.importorskip("axe_playwright_python")

AXE_JS = Path(axe_package.__file__).with_name("axe.min.js")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"1280": (1280, 800), "390": (390, 844)}
USERNAME = "walker"
EMAIL = "walker@example.org"
OTHER = {"username": "newcomer", "password": PASSWORD, "email": "newcomer@example.org"}
POST_COUNT = 23  # more than a page (20), so that page 2 exists
MAIL_TIMEOUT = 15.0
# Reported to the page whenever the CSP blocks something, inline or not.
CSP_WATCH = (
    "document.addEventListener('securitypolicyviolation', e => "
    "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
)
# Runs axe and keeps, per violation, only what a failure message needs.
AXE_RUN = """async options => {
  const results = await axe.run(document, options);
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("browser-a11y"), workers=1, MAIL_URL=sink.url, RATE_LIMITS="on"
    )
    live.env["PUBLIC_URL"] = live.base_url  # links in messages point back at this server
    with live:
        yield live


@dataclass
class Site:
    """What the walk needs that setup made: live token links and a post with neighbours."""

    verify_link: str
    reset_link: str
    post_id: int


def mail_to(sink: SmtpSink, address: str, subject: str, count: int) -> EmailMessage:
    """The message to ``address`` about ``subject``, once ``count`` messages arrived."""
    for message in sink.wait_for(count, timeout=MAIL_TIMEOUT):
        if message["To"] == address and subject in message["Subject"]:
            return message
    raise AssertionError(f"no message to {address} about {subject!r}")


def set_up(server: LiveServer, sink: SmtpSink, browser: playwright_api.Browser) -> Site:
    """Two accounts (one confirmed, one with a pending address), posts, a live reset link."""
    base = server.base_url
    context = browser.new_context()
    api = context.request
    answer = api.post(
        f"{base}/api/v1/register",
        data={"username": USERNAME, "password": PASSWORD, "email": EMAIL},
    )
    assert answer.status == 201, answer.text()
    answer = api.post(f"{base}/api/v1/register", data=OTHER)
    assert answer.status == 201, answer.text()
    token = link_in(mail_to(sink, EMAIL, "Confirm your e-mail address", 2)).split("token=")[1]
    assert api.post(f"{base}/api/v1/email/verify", data={"token": token}).status == 204
    # A reset link goes only to a confirmed address.
    assert api.post(f"{base}/api/v1/password/forgot", data={"email": EMAIL}).status == 202

    assert api.post(f"{base}/api/v1/login", data={"username": USERNAME, "password": PASSWORD}).ok
    ids = []
    for number in range(1, POST_COUNT + 1):
        body = f"Post number {number}.\n\nA second paragraph, to fill the card a little."
        answer = api.post(f"{base}/api/v1/posts", data={"title": f"Post {number}", "body": body})
        assert answer.status == 201, answer.text()
        ids.append(answer.json()["id"])
    context.close()

    # 4 messages: two verification links, the "confirmed" notice, the reset link.
    verify = link_in(mail_to(sink, OTHER["email"], "Confirm your e-mail address", 4))
    reset = link_in(mail_to(sink, EMAIL, "Reset your quart-blog password", 4))
    return Site(verify_link=verify, reset_link=reset, post_id=ids[-1])


@dataclass
class Walker:
    """One browser window at one width: screenshots and axe findings, page by page."""

    page: playwright_api.Page
    width: str
    shots: Path
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.add_init_script(CSP_WATCH)
        self.page.on("console", self.on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def on_console(self, message: playwright_api.ConsoleMessage) -> None:
        # Chromium's own note on a 4xx document ("Failed to load resource") is expected here.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"{self.width} {self.page.url}: {message.text}")

    def check(self, name: str) -> None:
        """Screenshot the page as it is now and run axe on it, then its contrast in dark mode."""
        page = self.page
        page.wait_for_load_state()
        self.checked.append(name)
        shot = f"{len(self.checked):02d}-{name}.png"
        page.screenshot(path=str(self.shots / shot), full_page=True)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_JS.read_text())
        self.run_axe(name, {"type": "tag", "values": WCAG_TAGS})
        # The same page under prefers-color-scheme: dark (no reload): colours only.
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(self.shots / "dark" / shot), full_page=True)
        self.run_axe(f"{name} (dark)", {"type": "rule", "values": ["color-contrast"]})
        page.emulate_media(color_scheme="light")

    def run_axe(self, name: str, run_only: dict[str, Any]) -> None:
        options = {"runOnly": run_only, "resultTypes": ["violations"]}
        for found in self.page.evaluate(AXE_RUN, options):
            where = ", ".join(found["nodes"][:5])
            self.violations.append(
                f"{self.width}px {name} ({self.page.url}): {found['id']} [{found['impact']}] "
                f"{found['help']} at {where}"
            )

    def goto(self, url: str, name: str, status: int = 200) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == status, (url, response)
        self.check(name)

    def submit(self, button: str, fields: dict[str, str], name: str, status: int) -> None:
        """Fill the fields (by label), press the button, check the answer's status and page."""
        for label, value in fields.items():
            self.page.get_by_label(label, exact=True).fill(value)
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name=button).click()
        response = navigation.value
        assert response is not None and response.status == status, (name, response)
        self.check(name)


def walk(walker: Walker, base: str, site: Site) -> None:
    """Every page of the site, anonymous first, then logged in."""
    page = walker.page
    # Anonymous pages, their form errors and the error pages.
    walker.goto(f"{base}/login", "login")
    walker.submit(
        "Log in", {"Username": USERNAME, "Password": "not the password"}, "login-wrong", 401
    )
    walker.goto(f"{base}/register", "register")
    walker.submit(
        "Register",
        {
            "Username": f"new_{walker.width}",
            "Password": PASSWORD,
            "Repeat password": "a different long password",
        },
        "register-mismatch",
        400,
    )
    walker.goto(f"{base}/forgot-password", "forgot-password")
    walker.goto(site.reset_link, "reset-password")
    walker.goto(site.verify_link, "verify-email")
    walker.goto(f"{base}/reset-password?token=not-a-real-token", "bad-link", 400)
    walker.goto(f"{base}/no/such/page", "not-found", 404)
    walker.goto(f"{base}/login/2fa", "login-2fa-lapsed")
    # Five asks for one address are let through (each lands on /login with a note), the
    # sixth is refused with the wait.
    target = f"nobody-{walker.width}@example.org"
    for attempt in range(6):
        page.goto(f"{base}/forgot-password")
        page.get_by_label("Your account's e-mail address", exact=True).fill(target)
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Send me a link").click()
        status = navigation.value.status if navigation.value else None
        if attempt == 0:
            assert status == 200
            walker.check("login-with-note")
    assert status == 429
    assert "try again in" in page.content()
    walker.check("too-many-requests")

    # Logged in, through the form.
    page.goto(f"{base}/login")
    walker.submit("Log in", {"Username": USERNAME, "Password": PASSWORD}, "posts", 200)
    assert page.url == f"{base}/posts"
    with page.expect_navigation():
        page.get_by_role("link", name="Older posts").click()
    walker.check("posts-page-2")
    walker.goto(f"{base}/", "home")
    walker.goto(f"{base}/posts/{site.post_id}", "post")
    walker.goto(f"{base}/posts/{site.post_id}/edit", "post-edit")
    walker.goto(f"{base}/posts/{site.post_id}/delete", "post-delete")
    walker.goto(f"{base}/posts/new", "post-new")
    # Blank title: the browser lets spaces through, the server does not.
    walker.submit("Publish", {"Title": "   ", "Body": "A body."}, "post-new-error", 400)
    # A form whose CSRF token went stale comes back filled in.
    page.goto(f"{base}/posts/new")
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'stale'; }")
    walker.submit("Publish", {"Title": "Kept", "Body": "Typed."}, "stale-form", 403)
    walker.goto(f"{base}/posts?before=not-a-post", "bad-request", 400)
    walker.goto(f"{base}/account", "account")
    walker.goto(f"{base}/account/email", "account-email")
    walker.submit(
        "Send the link",
        {"New e-mail address": "walker@example.net", "Current password": "wrong password"},
        "account-email-error",
        400,
    )
    # The security centre's pages (#11, #12).
    walker.goto(f"{base}/account/2fa", "account-2fa")
    # The second width finds the first one's enrolment still pending.
    begin = "Set up an authenticator app"
    if not page.get_by_role("button", name=begin).count():
        begin = "Start again with a new secret"
    walker.submit(begin, {}, "account-2fa-enrol", 200)
    walker.submit("Turn two-step login on", {"Code from the app": "000000"}, "2fa-wrong", 400)
    walker.goto(f"{base}/account/tokens", "account-tokens")
    walker.submit("Make token", {"Name": f"walker {walker.width}"}, "account-token-made", 200)
    walker.goto(f"{base}/account/security", "account-security")
    walker.goto(f"{base}/account/delete", "account-delete")
    walker.goto(f"{base}/reauth?next=/account", "reauth")
    walker.goto(f"{base}/logout", "logout")
    page.goto(f"{base}/api/docs")
    page.locator(".opblock").first.wait_for()
    walker.check("api-docs")
    # Opened: one operation's parameters and responses, a call made from the page, schemas.
    page.locator("#operations-posts-getPost .opblock-summary-control").click()
    page.locator("#operations-posts-getPost .responses-table").first.wait_for()
    me = page.locator("#operations-accounts-getMe")
    me.locator(".opblock-summary-control").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    me.locator(".live-responses-table .response-col_status", has_text="200").wait_for()
    page.locator(".models-control").click()
    page.locator("section.models.is-open").wait_for()
    walker.check("api-docs-opened")


def test_every_page_passes_axe_at_both_widths(
    server: LiveServer, sink: SmtpSink, browser: playwright_api.Browser, tmp_path: Path
) -> None:
    site = set_up(server, sink, browser)
    root = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots")) / "a11y"
    walkers = []
    for width, (x, y) in WIDTHS.items():
        shots = root / width
        (shots / "dark").mkdir(parents=True, exist_ok=True)
        context = browser.new_context(viewport={"width": x, "height": y}, color_scheme="light")
        walker = Walker(context.new_page(), width, shots)
        walk(walker, server.base_url, site)
        context.close()
        walkers.append(walker)

    assert walkers[0].checked == walkers[1].checked
    assert len(list(root.glob("*/*.png"))) == len(list(root.glob("*/dark/*.png")))
    assert len(list(root.glob("*/*.png"))) == 2 * len(walkers[0].checked)
    violations = [line for walker in walkers for line in walker.violations]
    assert violations == [], "axe-core (WCAG 2.1 A/AA) found:\n" + "\n".join(violations)
    errors = [line for walker in walkers for line in walker.errors]
    assert errors == []
