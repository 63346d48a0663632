"""Security headers on every response, Secure cookies over HTTPS, no inline script (SPEC §8)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart, Response
from quart.testing import QuartClient
from quart.typing import ResponseReturnValue

from quart_blog import clock, create_app
from quart_blog.accounts.sessions import LAST_SEEN_RESOLUTION, request_user
from quart_blog.clock import ManualClock
from quart_blog.security import device_trust
from tests.factories import PASSWORD, api_login, api_post, api_register, csrf_token, form_login
from tests.views.helpers import (
    Tags,
    auth_cookie_name,
    cookie_attributes,
    running_app,
    set_cookie,
    sql,
    text_of,
)

INLINE_SCRIPT_RE = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER_RE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)

ANONYMOUS_PATHS = [
    "/",
    "/login",
    "/register",
    "/no-such-page",
    "/static/style.css",
    "/healthz",
    "/openapi.json",
    "/api/v1/me",
    "/api/v1/no-such-endpoint",
    "/api/v1/posts/1",
]
LOGGED_IN_PATHS = [
    "/",
    "/posts",
    "/posts?before=abc",
    "/posts/new",
    "/posts/{post}",
    "/posts/{post}/edit",
    "/posts/999999",
    "/account",
    "/logout",
    "/api/v1/posts",
]


@pytest.fixture(name="post_id")
async def _post_id(client: QuartClient) -> int:
    """alice logged in on ``client`` with one post; its id."""
    await api_register(client)
    await form_login(client)
    post: dict[str, Any] = await api_post(client)
    return int(post["id"])


def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as ``{directive: sources}``."""
    pairs = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name.lower(): sources for name, _, sources in pairs}


def assert_security_headers(response: Any, *, https: bool) -> None:
    """The SPEC §8 header set."""
    policy = directives(response.headers.get("Content-Security-Policy", ""))
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src is not None, "CSP restricts no scripts"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy")
    assert ("Strict-Transport-Security" in response.headers) is https
    if https:
        assert "max-age=" in response.headers["Strict-Transport-Security"]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ANONYMOUS_PATHS)
async def test_headers_anonymous(client: QuartClient, path: str, scheme: str) -> None:
    response = await client.get(path, scheme=scheme)
    assert_security_headers(response, https=scheme == "https")


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", LOGGED_IN_PATHS)
async def test_headers_logged_in(client: QuartClient, post_id: int, path: str, scheme: str) -> None:
    response = await client.get(path.format(post=post_id), scheme=scheme)
    assert_security_headers(response, https=scheme == "https")


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/login", {"form": {"username": "x"}}),
        ("POST", "/api/v1/login", {"json": {"username": "nobody", "password": PASSWORD}}),
        ("POST", "/api/v1/login", {"data": "{", "headers": {"Content-Type": "application/json"}}),
        ("DELETE", "/login", {}),
        ("PUT", "/api/v1/me", {}),
    ],
)
async def test_headers_error_responses(
    client: QuartClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = await client.open(path, method=method, **kwargs)
    assert response.status_code >= 400
    assert_security_headers(response, https=False)


@pytest.mark.parametrize(("scheme", "secure"), [("http", False), ("https", True)])
async def test_login_cookie_secure_follows_scheme(
    app: Quart, client: QuartClient, scheme: str, secure: bool
) -> None:
    await api_register(client)
    response = await client.post(
        "/api/v1/login", json={"username": "alice", "password": PASSWORD}, scheme=scheme
    )
    assert response.status_code == 200
    header = set_cookie(response, auth_cookie_name(app))
    assert header is not None
    attributes = cookie_attributes(header)
    assert ("secure" in attributes) is secure
    assert "httponly" in attributes
    for other in response.headers.getlist("Set-Cookie"):
        assert ("secure" in cookie_attributes(other)) is secure, other


async def cookies_secure(app: Quart, scheme: str, username: str = "carol") -> list[bool]:
    """Log in over ``scheme``; whether the auth cookie and the form-seed cookie are Secure."""
    client = app.test_client()
    await api_register(client, username)
    login = await client.post(
        "/api/v1/login", json={"username": username, "password": PASSWORD}, scheme=scheme
    )
    header = set_cookie(login, auth_cookie_name(app))
    assert header is not None
    seeded = (await app.test_client().get("/login", scheme=scheme)).headers.getlist("Set-Cookie")
    assert seeded, "the login page sets no cookie for its form token"
    return ["secure" in cookie_attributes(item) for item in [header, *seeded]]


@pytest.mark.parametrize(
    ("setting", "scheme", "secure"),
    [("on", "http", True), ("on", "https", True), ("off", "https", False), ("off", "http", False)],
)
async def test_session_cookie_secure_override(
    app_overrides: dict[str, str], setting: str, scheme: str, secure: bool
) -> None:
    async with running_app({**app_overrides, "SESSION_COOKIE_SECURE": setting}) as app:
        assert set(await cookies_secure(app, scheme)) == {secure}


async def test_session_cookie_secure_is_per_app(app_overrides: dict[str, str]) -> None:
    seen = {}
    for setting in ("on", "off", ""):
        async with running_app({**app_overrides, "SESSION_COOKIE_SECURE": setting}) as app:
            seen[setting] = set(await cookies_secure(app, "http", f"user{len(seen)}"))
    assert seen == {"on": {True}, "off": {False}, "": {False}}


async def test_pages_have_no_inline_script(client: QuartClient, post_id: int) -> None:
    anonymous = client.app.test_client()
    pages = [await anonymous.get(path) for path in ("/login", "/register", "/nope", "/api/docs")]
    for path in LOGGED_IN_PATHS:
        pages.append(await client.get(path.format(post=post_id)))
    pages.append(await client.post("/posts", form={"title": ""}))
    for response in pages:
        if response.mimetype != "text/html":
            continue
        html = await text_of(response)
        assert INLINE_SCRIPT_RE.search(html) is None, html
        assert EVENT_HANDLER_RE.search(html) is None, html
        for tag, attrs in Tags(html).tags:
            assert not any(name.startswith("on") for name in attrs), tag
            assert not attrs.get("href", "").lower().startswith("javascript:"), tag


async def page_logout(client: QuartClient) -> Any:
    """Log out through the form."""
    return await client.post("/logout", form={"csrf_token": await csrf_token(client, "/logout")})


async def api_logout(client: QuartClient) -> Any:
    """Log out through the API."""
    return await client.post("/api/v1/logout")


def cookie_names(client: QuartClient) -> set[str]:
    """The names of the cookies ``client`` holds."""
    assert client.cookie_jar is not None
    return {cookie.name for cookie in client.cookie_jar}


@pytest.mark.parametrize("log_out", [page_logout, api_logout])
async def test_logout_clears_site_data_but_not_cookies(client: QuartClient, log_out: Any) -> None:
    await api_register(client)
    await api_login(client)
    response = await log_out(client)
    assert response.status_code in (204, 303)
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    # The auth cookie goes by its own Set-Cookie; the device cookie stays (SPEC §13).
    assert auth_cookie_name(client.app) not in cookie_names(client)
    assert device_trust.COOKIE_NAME in cookie_names(client)
    assert set_cookie(response, device_trust.COOKIE_NAME) is None


async def test_only_logout_clears_site_data(client: QuartClient, post_id: int) -> None:
    for path in ("/", "/account", "/api/v1/me", "/logout"):
        assert "Clear-Site-Data" not in (await client.get(path)).headers, path


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/posts/{post}", {}, 200),
        ("GET", "/posts/999999", {}, 404),  # an error page
        ("GET", "/api/v1/posts/999999", {}, 404),  # an API error
        ("POST", "/posts", {"form": {"title": "A title", "body": "A body"}}, 303),
        ("POST", "/api/v1/posts", {"json": {"title": "", "body": ""}}, 422),
        ("DELETE", "/api/v1/posts/{post}", {}, 204),
        ("GET", "/api/v1/me", {}, 200),
    ],
)
async def test_logged_in_answers_are_no_store(
    client: QuartClient,
    post_id: int,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    if "form" in kwargs:
        kwargs = {"form": {**kwargs["form"], "csrf_token": await csrf_token(client, "/posts/new")}}
    response = await client.open(path.format(post=post_id), method=method, **kwargs)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


CACHEABLE = "public, max-age=60"


@pytest.fixture(name="cacheable_app")
async def _cacheable_app(app_overrides: dict[str, str]) -> Any:
    """The app with one extra page that asks to be cached and greets whoever is logged in."""
    app = create_app(app_overrides, testing=True)

    @app.get("/test/cacheable")
    async def cacheable() -> ResponseReturnValue:
        active = await request_user().resolve()
        name = "stranger" if active is None else active.username
        return Response(f"Hello, {name}", headers={"Cache-Control": CACHEABLE})

    async with app.test_app():
        yield app


async def test_no_store_wins_over_the_view_for_a_logged_in_user(cacheable_app: Quart) -> None:
    anonymous = await cacheable_app.test_client().get("/test/cacheable")
    assert anonymous.headers["Cache-Control"] == CACHEABLE
    client = cacheable_app.test_client()
    await api_register(client)
    await api_login(client)
    response = await client.get("/test/cacheable")
    assert await text_of(response) == "Hello, alice"
    assert response.headers["Cache-Control"] == "no-store"


async def test_static_files_stay_cacheable_without_a_session_lookup(
    app: Quart, client: QuartClient
) -> None:
    with clock.use(ManualClock(clock.utcnow())) as manual:
        assert isinstance(manual, ManualClock)
        await api_register(client)
        await api_login(client)
        seen = await sql(app, "SELECT last_seen_at FROM auth_sessions")
        manual.advance(LAST_SEEN_RESOLUTION.total_seconds() * 2)
        static = await client.get("/static/style.css")
        assert static.status_code == 200
        assert "no-store" not in static.headers["Cache-Control"]
        assert "max-age" in static.headers["Cache-Control"]
        # No lookup happened: a lookup this late would have refreshed last_seen_at.
        assert await sql(app, "SELECT last_seen_at FROM auth_sessions") == seen
        assert (await client.get("/api/v1/me")).status_code == 200
        assert await sql(app, "SELECT last_seen_at FROM auth_sessions") != seen


async def test_token_answers_are_no_store(client: QuartClient) -> None:
    await api_register(client)
    await api_login(client)
    created = await client.post(
        "/api/v1/tokens", json={"name": "script", "scope": "read", "expires_in_days": 1}
    )
    assert created.status_code == 201, await text_of(created)
    token = (await created.get_json())["token"]
    script = client.app.test_client()  # no cookies: the token alone
    response = await script.get("/api/v1/posts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
