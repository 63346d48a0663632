"""Security headers on every response, Secure cookies over HTTPS, no inline script (SPEC §8)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart
from quart.testing import QuartClient

from tests.factories import PASSWORD, api_post, api_register, form_login
from tests.views.helpers import (
    Tags,
    auth_cookie_name,
    cookie_attributes,
    running_app,
    set_cookie,
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
