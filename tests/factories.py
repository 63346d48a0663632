"""Plain helpers that drive the app through its public surface."""

from __future__ import annotations

import re
from typing import Any

from quart.testing import QuartClient

SECRET_KEY = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def api_register(
    client: QuartClient,
    username: str = "alice",
    password: str = PASSWORD,
    email: str | None = None,
) -> dict[str, Any]:
    """Register through the API (with an address, when given) and return the JSON answer."""
    fields = {"username": username, "password": password}
    response = await client.post(
        "/api/v1/register", json=fields if email is None else {**fields, "email": email}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def api_login(
    client: QuartClient,
    username: str = "alice",
    password: str = PASSWORD,
    remember: bool = False,
) -> dict[str, Any]:
    """Log in through the API (the client keeps the cookie)."""
    response = await client.post(
        "/api/v1/login", json={"username": username, "password": password, "remember": remember}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def api_user(
    client: QuartClient, username: str = "alice", password: str = PASSWORD
) -> dict[str, Any]:
    """Register and log in: the usual start of an API test."""
    user = await api_register(client, username, password)
    await api_login(client, username, password)
    return user


async def api_post(
    client: QuartClient, title: str = "First post", body: str = "Hello, world."
) -> dict[str, Any]:
    """Create a post through the API and return it."""
    response = await client.post("/api/v1/posts", json={"title": title, "body": body})
    assert response.status_code == 201, await response.get_data(as_text=True)
    post: dict[str, Any] = await response.get_json()
    return post


async def csrf_token(client: QuartClient, path: str = "/login") -> str:
    """GET a page with a form and pull out its CSRF token, as a browser would."""
    response = await client.get(path)
    html = await response.get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match is not None, f"no csrf_token on {path} ({response.status_code})"
    return match.group(1)


async def submit(
    client: QuartClient, path: str, form: dict[str, str], page: str | None = None
) -> Any:
    """POST a form with a fresh CSRF token taken from ``page`` (default: the login page)."""
    token = await csrf_token(client, page or "/login")
    return await client.post(path, form={**form, "csrf_token": token})


async def form_login(
    client: QuartClient,
    username: str = "alice",
    password: str = PASSWORD,
    remember: bool = False,
) -> Any:
    """Log in through the HTML form."""
    form = {"username": username, "password": password}
    if remember:
        form["remember"] = "on"
    return await submit(client, "/login", form)


async def page_user(client: QuartClient, username: str = "alice", password: str = PASSWORD) -> None:
    """Register through the API and log in through the form."""
    await api_register(client, username, password)
    response = await form_login(client, username, password)
    assert response.status_code == 303, await response.get_data(as_text=True)
