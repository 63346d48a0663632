"""SPEC §11 in a real browser: confirm an address from its mail, then reset a forgotten password.

The live server delivers to a real SMTP server (``SmtpSink``) and builds its links from
``PUBLIC_URL``, set to the server's own address so that Chromium can open them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_browser_flow import (
    NEW_PASSWORD,
    PASSWORD,
    Watched,
    assert_logged_out,
    log_in,
)
from tests.live import LiveServer
from tests.smtp import SmtpSink, link_in

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

USERNAME = "walker"  # the name ``log_in`` uses
EMAIL = "walker@example.org"
MAIL_TIMEOUT = 15.0  # seconds for the server's background sender to deliver a message
WRONG_LOGIN = "the server responded with a status of 401"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("browser-recovery"), workers=1, MAIL_URL=sink.url)
    live.env["PUBLIC_URL"] = live.base_url  # links in messages point back at this server
    with live:
        yield live


def next_message(sink: SmtpSink, number: int, subject: str) -> EmailMessage:
    """Wait (bounded) for the ``number``-th message; check it went to EMAIL about ``subject``."""
    message = sink.wait_for(number, timeout=MAIL_TIMEOUT)[number - 1]
    assert message["To"] == EMAIL
    assert subject in message["Subject"], message["Subject"]
    return message


def expect_flash(page: playwright_api.Page, text: str) -> None:
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def keyboard_log_in(page: playwright_api.Page, base: str, password: str) -> None:
    """Type the credentials and press Enter, from the login page."""
    page.get_by_label("Username", exact=True).focus()
    page.keyboard.type(USERNAME)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/posts")


def test_browser_verify_forget_reset(
    mail_server: LiveServer, sink: SmtpSink, browser: playwright_api.Browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots")) / "recovery"
    shots.mkdir(parents=True, exist_ok=True)
    watched = Watched(browser.new_context().new_page(), shots)
    page = watched.page
    base = mail_server.base_url

    # 1. Register with an address, keyboard only: the address field sits between the others.
    page.goto(f"{base}/register")
    watched.shot("register")
    page.get_by_label("Username", exact=True).focus()
    page.keyboard.type(USERNAME)
    page.keyboard.press("Tab")
    expect(page.get_by_label("E-mail address (optional)")).to_be_focused()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/login")
    expect_flash(page, f"Account created. You can log in now. We sent a link to {EMAIL}")

    # 2. The link from the mail shows a page; its button confirms the address.
    link = link_in(next_message(sink, 1, "Confirm your e-mail address"))
    assert link.startswith(f"{base}/verify-email?token="), link
    page.goto(link)
    assert page.url == link
    watched.shot("verify-email")
    page.get_by_role("button", name="Confirm my address").click()
    page.wait_for_url(f"{base}/login")
    expect_flash(page, "Your e-mail address is confirmed.")
    next_message(sink, 2, "e-mail address is confirmed")

    keyboard_log_in(page, base, PASSWORD)
    page.get_by_role("link", name="Account").click()
    page.wait_for_url(f"{base}/account")
    address = page.get_by_role("region", name="E-mail address")
    expect(address).to_contain_text(EMAIL)
    expect(address).to_contain_text("(confirmed)")
    watched.shot("account-confirmed")

    # Another browser logged in now must be logged out by the reset.
    second = Watched(browser.new_context().new_page(), shots)
    log_in(second.page, base, PASSWORD)

    # 3. Log out; "Forgot your password?" on the login page; ask for a link.
    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(f"{base}/forgot-password")
    watched.shot("forgot-password")
    email_field = page.get_by_label("Your account's e-mail address", exact=True)
    expect(email_field).to_have_attribute("autocomplete", "email")
    email_field.focus()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/login")
    expect_flash(page, "a link to reset its password is on its way")

    # 4. The reset link shows the new-password form, labelled, with the new-password hint.
    link = link_in(next_message(sink, 3, "Reset your quart-blog password"))
    assert link.startswith(f"{base}/reset-password?token="), link
    page.goto(link)
    assert page.url == link
    watched.shot("reset-password")
    new_field = page.get_by_label("New password", exact=True)
    repeat_field = page.get_by_label("Repeat new password", exact=True)
    for field in (new_field, repeat_field):
        expect(field).to_have_attribute("type", "password")
        expect(field).to_have_attribute("autocomplete", "new-password")
    new_field.focus()
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    expect(repeat_field).to_be_focused()
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/login")
    expect_flash(page, "Your password is reset and every session was logged out.")
    next_message(sink, 4, "password was reset")
    assert_logged_out(second.page, base)

    # 5. The old password no longer works (401, the form again); the new one does.
    page.goto(f"{base}/login")
    errors_before = len(watched.errors)
    page.get_by_label("Username", exact=True).fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_response(f"{base}/login") as refused:
        page.get_by_role("button", name="Log in").click()
    assert refused.value.status == 401
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.url == f"{base}/login"
    # The only console line that answer may cause is Chromium's note on the 401 itself.
    unexpected = [e for e in watched.errors[errors_before:] if WRONG_LOGIN not in e]
    assert unexpected == []
    del watched.errors[errors_before:]
    # Try again on that page: the username is kept, so only the password is typed.
    expect(page.get_by_label("Username", exact=True)).to_have_value(USERNAME)
    page.get_by_label("Password", exact=True).focus()
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/posts")
    expect_flash(page, f"Welcome back, {USERNAME}!")

    # 6. No console error or CSP violation on any page.
    assert watched.errors == []
    assert second.errors == []
    assert len(list(shots.glob("*.png"))) == 5
