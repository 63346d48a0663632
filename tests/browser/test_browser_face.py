"""How the site looks in a real browser (issue #13, acceptance point 3): the account page
at 390 px, dark mode by ``prefers-color-scheme``, and times in the reader's own time zone.

Screenshots go to the test's tmp dir (or ``$BROWSER_SCREENSHOTS``); with
``UPDATE_DOCS_IMAGES=1`` the two that tell most are copied to docs/images/ as well.
Skips (with the reason) where Chromium is not installed; CI installs it.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_browser_flow import Watched, fill_and_submit
from tests.live import LiveServer

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium not installed (apt-get install -y chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "a long browser password"
NEW_PASSWORD = "an even longer browser password"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
MAX_DOCS_PNG = 150_000
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 800, "height": 900}  # just wider than the stacking breakpoint (48rem)
DESKTOP = {"width": 1280, "height": 800}
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
UTC_TEXT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$")
# Any CSP violation, even one the page recovers from, reaches Watched as a console error.
REPORT_CSP = (
    "document.addEventListener('securitypolicyviolation', e => "
    "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
)

# Every word of the sessions table on one line: a word split over lines ("Lo/gg/ed") has
# client rects on more than one line.
BROKEN_WORDS_JS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('.sessions td, .sessions th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()]
          .filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""

# Each session row: its box, and the box and display of each cell shown.
ROW_LAYOUT_JS = """() => [...document.querySelectorAll('.sessions tbody tr')].map(row => {
  const style = getComputedStyle(row);
  const inner = row.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {
    inner,
    cells: [...row.cells].filter(cell => getComputedStyle(cell).display !== 'none').map(cell => {
      const box = cell.getBoundingClientRect();
      return {
        text: cell.innerText.trim(), width: box.width, top: box.top, bottom: box.bottom,
        display: getComputedStyle(cell).display,
      };
    }),
  };
})"""

# WCAG contrast of each shown element's text against the first opaque background behind it.
CONTRAST_JS = """(selectors) => {
  const rgb = value => (value.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map(c => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = element => {
    for (let e = element; e; e = e.parentElement) {
      const color = rgb(getComputedStyle(e).backgroundColor);
      if (color.length === 3 || color[3] > 0) return color.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = {};
  for (const selector of selectors) {
    found[selector] = [...document.querySelectorAll(selector)]
      .filter(e => e.getClientRects().length > 0)
      .map(e => {
        const [a, b] = [luminance(rgb(getComputedStyle(e).color)), luminance(background(e))];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      });
  }
  return found;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("browser-face"), workers=1) as live:
        yield live


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path / "screenshots")) / "face"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def publish(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/images/ when asked to (``UPDATE_DOCS_IMAGES=1``)."""
    assert shot.stat().st_size < MAX_DOCS_PNG, f"{shot.name}: {shot.stat().st_size} bytes"
    if os.environ.get("UPDATE_DOCS_IMAGES") == "1":
        shutil.copyfile(shot, DOCS_IMAGES / name)


def api_client(base: str, username: str, agent: str) -> httpx.Client:
    """A logged-in API client that names itself ``agent`` (one more session of ``username``)."""
    client = httpx.Client(base_url=base, headers={"User-Agent": agent}, timeout=10)
    response = client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


def register(base: str, username: str) -> None:
    response = httpx.post(
        f"{base}/api/v1/register", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 201, response.text


def write_post(base: str, username: str, title: str, body: str) -> None:
    client = api_client(base, username, "curl/8.5.0")
    try:
        response = client.post("/api/v1/posts", json={"title": title, "body": body})
        assert response.status_code == 201, response.text
    finally:
        client.close()


def open_page(browser: playwright_api.Browser, shots: Path, **context: Any) -> Watched:
    page = browser.new_context(**context).new_page()
    page.add_init_script(REPORT_CSP)
    return Watched(page, shots)


def log_in(watched: Watched, base: str, username: str) -> None:
    watched.page.goto(f"{base}/login")
    fill_and_submit(watched.page, {"Username": username, "Password": PASSWORD}, "Log in")
    assert watched.page.url == f"{base}/posts"


def relative_luminance(color: str) -> float:
    """The WCAG luminance of a computed ``rgb(r, g, b)`` colour."""
    channels = [int(value) / 255 for value in re.findall(r"\d+", color)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def assert_contrast(page: playwright_api.Page, selectors: list[str]) -> None:
    """Each selector matches something shown, and all of it reads at 4.5:1 or better."""
    found: dict[str, list[float]] = page.evaluate(CONTRAST_JS, selectors)
    for selector, ratios in found.items():
        assert ratios, f"nothing shown matches {selector!r}"
        assert min(ratios) >= 4.5, f"{selector}: contrast {min(ratios):.2f}"


def assert_axe_contrast(page: playwright_api.Page) -> None:
    """axe-core's own colour-contrast rule finds nothing (where axe is installed: the
    accessibility test, tests/browser/test_browser_a11y.py, needs it anyway)."""
    try:
        import axe_playwright_python
    except ImportError:
        return
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text())
    found = page.evaluate(
        "axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}})"
        ".then(r => r.violations.flatMap(v => v.nodes.map(n => n.target.join(' '))))"
    )
    assert found == [], found


def test_account_page_at_390px_stacks_sessions_as_cards(
    server: LiveServer, browser: playwright_api.Browser, shots: Path
) -> None:
    base = server.base_url
    register(base, "phone")
    others = [api_client(base, "phone", CHROME_WINDOWS), api_client(base, "phone", FIREFOX_LINUX)]
    watched = open_page(browser, shots, viewport=PHONE, user_agent=SAFARI_IPHONE)
    page = watched.page
    log_in(watched, base, "phone")
    page.goto(f"{base}/account")

    # The current session first, each device by a name a person understands.
    devices = page.locator(".sessions tbody td[data-label=Device]").all_inner_texts()
    assert [name.strip() for name in devices] == [
        "Safari on iPhone",
        "Firefox 133 on Linux",
        "Chrome 131 on Windows",
    ]
    assert "This session" in page.locator(".sessions tbody tr").first.inner_text()
    assert page.get_by_text("This session").count() == 1

    # Nothing wider than the screen; every session a stack of full-width labelled lines.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    rows = page.evaluate(ROW_LAYOUT_JS)
    assert len(rows) == 3
    for row in rows:
        assert len(row["cells"]) >= 3
        for cell in row["cells"]:
            assert cell["display"] != "table-cell", cell
            assert cell["width"] >= row["inner"] - 2, (cell, row["inner"])
        stacked = sorted(row["cells"], key=lambda cell: cell["top"])
        for above, below in itertools.pairwise(stacked):
            assert below["top"] >= above["bottom"] - 1, (above, below)
    assert page.evaluate(BROKEN_WORDS_JS) == []
    labels = page.evaluate(
        "[...document.querySelectorAll('.sessions tbody tr:first-child td[data-label]')]"
        ".map(td => getComputedStyle(td, '::before').content)"
    )
    assert labels == ['"Device"', '"Logged in"', '"Last seen"']
    assert_contrast(page, [".sessions td", ".sessions td strong", "button", "h2"])
    assert_axe_contrast(page)
    watched.shot("account-390")
    # The docs show the sessions card: the whole security centre is too long for a picture.
    page.locator("#sessions").screenshot(path=str(shots / "account-390-sessions.png"))
    publish(shots / "account-390-sessions.png", "account-390.png")

    # Wider, the same page is a table, still with no broken word and nothing off the screen.
    for viewport in (TABLET, DESKTOP):
        page.set_viewport_size(viewport)
        displays = page.evaluate(
            "[...document.querySelectorAll('.sessions tbody td')]"
            ".map(td => getComputedStyle(td).display)"
        )
        assert set(displays) == {"table-cell"}, viewport
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert page.evaluate(BROKEN_WORDS_JS) == [], viewport
        watched.shot(f"account-{viewport['width']}")
    for client in others:
        client.close()
    assert watched.errors == []


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["1280", "390"])
def test_dark_mode_follows_the_system(
    server: LiveServer, browser: playwright_api.Browser, shots: Path, width: dict[str, int]
) -> None:
    base = server.base_url
    username = f"dark{width['width']}"
    register(base, username)
    write_post(base, username, "First light", "The page follows the system's light or dark.")
    write_post(base, username, "Night reading", "Light text on a dark page.\nSecond line.")
    api_client(base, username, CHROME_WINDOWS).close()
    viewport = {**width, "height": min(width["height"], 640)}
    watched = open_page(browser, shots, viewport=viewport, color_scheme="dark")
    page = watched.page
    log_in(watched, base, username)

    body = page.evaluate(
        "(() => { const s = getComputedStyle(document.body);"
        " return {background: s.backgroundColor, color: s.color}; })()"
    )
    assert relative_luminance(body["background"]) < 0.05, body
    assert relative_luminance(body["color"]) > 0.6, body
    assert_contrast(
        page,
        [
            "body",
            "main h1",
            ".post h2 a",
            ".meta",
            ".excerpt",
            ".button",
            "header.site a",
            "header.site .who",
        ],
    )
    assert_axe_contrast(page)
    watched.shot(f"dark-posts-{width['width']}")
    if width == DESKTOP:
        publish(shots / "dark-posts-1280.png", "dark-posts.png")

    page.get_by_role("link", name="Night reading").click()
    page.wait_for_load_state()
    assert_contrast(page, [".body", ".meta", ".actions a", ".actions .button"])
    assert_axe_contrast(page)
    page.get_by_role("link", name="Account").click()
    page.wait_for_url(f"{base}/account")
    assert_contrast(page, [".sessions td", ".sessions th", "label", "input", "button", ".card a"])
    page.get_by_role("button", name="Log out other sessions").click()
    page.wait_for_url(f"{base}/account")
    assert_contrast(page, [".flash"])
    fill_and_submit(
        page,
        {
            "Current password": "wrong password",
            "New password": NEW_PASSWORD,
            "Repeat new password": NEW_PASSWORD,
        },
        "Change password",
    )
    assert_contrast(page, [".error"])
    assert_axe_contrast(page)
    # The refused form answers 400, which Chromium logs; nothing else may have been logged.
    assert [error for error in watched.errors if "status of 400" not in error] == []
    watched.errors.clear()
    watched.shot(f"dark-account-{width['width']}")
    page.goto(f"{base}/account")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert_contrast(page, [".skip"])
    assert watched.errors == []


def test_times_in_the_readers_time_zone(
    server: LiveServer, browser: playwright_api.Browser, shots: Path
) -> None:
    base = server.base_url
    register(base, "tokyo")
    write_post(base, "tokyo", "Sent from Tokyo", "Konnichiwa.")
    watched = open_page(browser, shots, viewport=DESKTOP, timezone_id="Asia/Tokyo", locale="en-US")
    page = watched.page
    log_in(watched, base, "tokyo")

    for path in ("/posts", "/account"):
        page.goto(f"{base}{path}")
        times = page.locator("time[datetime]")
        assert times.count() >= 1
        for index in range(times.count()):
            element = times.nth(index)
            stamp = element.get_attribute("datetime") or ""
            moment = datetime.fromisoformat(stamp)
            assert moment.utcoffset() == timedelta(0), stamp  # the UTC value stays as it was
            utc_text = element.get_attribute("title") or ""
            assert utc_text == moment.strftime("%Y-%m-%d %H:%M UTC")
            shown = element.inner_text()
            tokyo = moment + timedelta(hours=9)  # JST has no summer time
            assert shown != utc_text
            clock = f"{tokyo.hour % 12 or 12}:{tokyo:%M}"  # en-US: "3:04 AM"
            assert clock in shown and "GMT+9" in shown, (shown, stamp)
            assert str(tokyo.year) in shown and tokyo.strftime("%b") in shown
    watched.shot("times-tokyo")

    # Without JavaScript the page still says when, in UTC.
    plain = open_page(
        browser, shots, viewport=DESKTOP, timezone_id="Asia/Tokyo", java_script_enabled=False
    )
    log_in(plain, base, "tokyo")
    texts = plain.page.locator("time[datetime]").all_inner_texts()
    assert texts and all(UTC_TEXT_RE.match(text) for text in texts), texts
    assert plain.page.locator("time[title]").count() == 0
    assert watched.errors == [] and plain.errors == []
