"""Passkeys in a real browser (SPEC §12): Chromium with a virtual authenticator.

The DevTools protocol's WebAuthn domain gives the page a CTAP2 platform authenticator
with resident keys and user verification, so ``navigator.credentials`` really runs:
the account page registers a passkey, the login page signs in with it without a
username, the re-authentication page accepts it, and the account page removes it.

Browsers refuse an IP address as a relying party, so the servers are reached as
``http://localhost:PORT``, which is also their ``PUBLIC_URL``. Two servers share one
database: a passkey made on one works on the other as far as the authenticator goes
(same relying-party id, ``localhost``), so an assertion the browser made for one origin,
submitted to the other, differs only in its origin, and must be refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_browser_flow import Watched
from tests.live import LiveServer
from tests.passkeys.authenticator import unb64url

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

PASSWORD = "a long browser password"
PHONE = {"width": 390, "height": 844}
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
# Chromium's console line for an answer the page expected and handled (the refused login).
REFUSED_LOGIN = "the server responded with a status of 401"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """async options => (await axe.run(document, options)).violations.map(
  v => v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", "))"""


def localhost_server(directory: Path, **env: str) -> LiveServer:
    """A live server whose ``PUBLIC_URL`` is ``http://localhost:PORT`` (its own port)."""
    directory.mkdir()
    live = LiveServer(directory, workers=1, **env)
    live.env["PUBLIC_URL"] = site(live)
    return live


def site(live: LiveServer) -> str:
    """Where the browser reaches a server: by name, not by IP (see the module)."""
    return f"http://localhost:{live.port}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one SQLite database, each its own origin."""
    root = tmp_path_factory.mktemp("browser-passkeys")
    first = localhost_server(root / "a")
    second = localhost_server(root / "b", DATABASE_URL=first.env["DATABASE_URL"])
    with first, second:
        yield first, second


def with_authenticator(page: playwright_api.Page) -> tuple[Any, str]:
    """Give ``page`` a virtual platform authenticator; the CDP session and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    return cdp, added["authenticatorId"]


def stored_credentials(cdp: Any, authenticator_id: str) -> list[dict[str, Any]]:
    """The credentials the virtual authenticator holds."""
    answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    credentials: list[dict[str, Any]] = answer["credentials"]
    return credentials


def register_and_log_in(page: playwright_api.Page, base: str, username: str) -> None:
    """A new account through the forms, then logged in (a fresh login: recent auth)."""
    page.goto(f"{base}/register")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"{base}/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/posts")


def add_passkey(page: playwright_api.Page, base: str, name: str) -> None:
    """Add a passkey on the account page, by keyboard: type the name, press Enter."""
    page.goto(f"{base}/account")
    field = page.get_by_label("Name of the new passkey")
    expect(field).to_be_visible()  # the script showed the form
    field.focus()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    card = page.get_by_role("region", name="Passkeys")
    expect(card.get_by_text(f"Passkey “{name}” added.")).to_be_visible()
    expect(card.get_by_role("row").filter(has_text=name)).to_contain_text("Never")


def axe_violations(page: playwright_api.Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA findings on the page as it is now (none expected)."""
    axe = pytest.importorskip("axe_playwright_python")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(Path(axe.__file__).with_name("axe.min.js").read_text())
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    found: list[str] = page.evaluate(AXE_RUN, options)
    return found


def log_out(page: playwright_api.Page, base: str) -> None:
    page.goto(f"{base}/logout")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/login")


def test_browser_passkey_added_signs_in_and_is_removed(
    servers: tuple[LiveServer, LiveServer], browser: playwright_api.Browser, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots")) / "passkeys"
    shots.mkdir(parents=True, exist_ok=True)
    base = site(servers[0])
    watched = Watched(browser.new_context(viewport=PHONE).new_page(), shots)
    page = watched.page
    cdp, authenticator_id = with_authenticator(page)

    register_and_log_in(page, base, "keyholder")
    # The row the script adds has a working Remove form of its own.
    add_passkey(page, base, "First try")
    page.get_by_role("button", name="Remove passkey First try").click()
    page.wait_for_url(f"{base}/account")
    removed = page.get_by_role("status").filter(has_text="Passkey “First try” removed.")
    expect(removed).to_be_visible()
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()

    add_passkey(page, base, "Virtual key")
    # One credential: made for the same account, the new one replaced the removed one.
    [credential] = stored_credentials(cdp, authenticator_id)
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"
    # Reloaded, the page lists it from the server: never used yet.
    page.reload()
    row = page.get_by_role("row").filter(has_text="Virtual key")
    expect(row).to_contain_text("Never")
    watched.shot("account-passkeys-390")
    assert axe_violations(page) == []

    # Log out; sign in with the passkey, typing nothing at all (the keyboard presses it).
    log_out(page, base)
    watched.shot("login-390")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Sign in with a passkey").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/posts")
    expect(page.get_by_label("Username", exact=True)).to_have_count(0)  # no login form here
    expect(page.get_by_text("Logged in as")).to_contain_text("keyholder")
    assert stored_credentials(cdp, authenticator_id)[0]["signCount"] >= 1

    # The passkey also confirms it is you (SPEC §13), then the page goes on to ``next``.
    page.goto(f"{base}/reauth?next=/account")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{base}/account")
    row = page.get_by_role("row").filter(has_text="Virtual key")
    expect(row).not_to_contain_text("Never")  # just used
    page.get_by_role("button", name="Remove passkey Virtual key").click()
    page.wait_for_url(f"{base}/account")
    expect(
        page.get_by_role("status").filter(has_text="Passkey “Virtual key” removed.")
    ).to_be_visible()
    expect(page.get_by_text("You have no passkeys yet.")).to_be_visible()

    # Removed on the server, the passkey the device still holds no longer signs in.
    log_out(page, base)
    page.get_by_role("button", name="Sign in with a passkey").click()
    status = page.locator("[data-passkey-login] [data-passkey-status]")
    expect(status).to_contain_text("You are not signed in.")
    assert page.url == f"{base}/login"

    unexpected = [error for error in watched.errors if REFUSED_LOGIN not in error]
    assert unexpected == []  # no CSP violation, no script error
    assert sorted(path.name for path in shots.glob("*.png")) == [
        "account-passkeys-390.png",
        "login-390.png",
    ]
    assert all(path.stat().st_size > 0 for path in shots.glob("*.png"))


def test_browser_assertion_for_another_origin_is_refused(
    servers: tuple[LiveServer, LiveServer], browser: playwright_api.Browser, tmp_path: Path
) -> None:
    home, other = site(servers[0]), site(servers[1])
    watched = Watched(browser.new_context().new_page(), tmp_path)
    page = watched.page
    with_authenticator(page)
    register_and_log_in(page, home, "traveller")
    add_passkey(page, home, "Travel key")
    log_out(page, home)

    # On the other server's login page the browser signs for *that* origin. The signed
    # answer is taken to the home server instead, as a thief with a captured response
    # would send it: a valid signature, challenge and relying party, the wrong origin.
    forwarded: list[Any] = []

    def to_home_server(route: playwright_api.Route) -> None:
        request = route.request
        headers = {
            name: value
            for name, value in request.all_headers().items()
            if name in ("content-type", "cookie", "accept")
        }
        answer = route.fetch(url=f"{home}/api/v1/passkeys/login", headers=headers)
        forwarded.append((json.loads(request.post_data or "{}"), answer.status, answer.headers))
        route.fulfill(response=answer)

    page.goto(f"{other}/login")
    page.route(f"{other}/api/v1/passkeys/login", to_home_server)
    page.get_by_role("button", name="Sign in with a passkey").click()
    status = page.locator("[data-passkey-login] [data-passkey-status]")
    expect(status).to_contain_text("You are not signed in.")
    [(sent, answered, headers)] = forwarded
    client_data = json.loads(unb64url(sent["credential"]["response"]["clientDataJSON"]))
    assert client_data["origin"] == other
    assert answered == 401
    assert "quart_blog_auth" not in headers.get("set-cookie", "")
    page.goto(f"{home}/posts")
    assert page.url.startswith(f"{home}/login?next=")  # no session started

    # The same passkey, answering the other server itself: its own origin, accepted.
    page.unroute(f"{other}/api/v1/passkeys/login")
    page.goto(f"{other}/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(f"{other}/posts")
    expect(page.get_by_text("Logged in as")).to_contain_text("traveller")
    assert [error for error in watched.errors if REFUSED_LOGIN not in error] == []
