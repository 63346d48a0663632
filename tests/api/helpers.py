"""Shared helpers for the JSON API tests: error shapes, cookies, post listing."""

from __future__ import annotations

from typing import Any

from quart.testing import QuartClient
from quart.wrappers import Response

from quart_blog.accounts.sessions import session_cookie
from tests.factories import PASSWORD

AUTH_COOKIE = str(session_cookie.cookie_name)
JSON_HEADERS = {"Content-Type": "application/json"}


async def assert_error(
    response: Response, statuses: int | set[int], code: str | None = None
) -> dict[str, str]:
    """Assert a JSON error ``{"error": {"code", "message"}}`` with one of ``statuses``."""
    allowed = {statuses} if isinstance(statuses, int) else statuses
    text = await response.get_data(as_text=True)
    assert response.status_code in allowed, (response.status_code, text[:500])
    assert response.mimetype == "application/json", (response.mimetype, text[:500])
    body = await response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in text
    if code is not None:
        assert error["code"] == code, error
    return error


async def all_post_ids(client: QuartClient) -> list[int]:
    """Every post id the client can list, walking the ``next`` pages."""
    ids: list[int] = []
    url = "/api/v1/posts?limit=100"
    while True:
        response = await client.get(url)
        assert response.status_code == 200, await response.get_data(as_text=True)
        page: dict[str, Any] = await response.get_json()
        ids.extend(item["id"] for item in page["items"])
        if page["next"] is None:
            return ids
        url = f"/api/v1/posts?limit=100&before={page['next']}"


async def assert_username_free(client: QuartClient, username: str = "bob") -> None:
    """Prove no account called ``username`` exists: registering it now succeeds."""
    response = await client.post(
        "/api/v1/register", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)


def set_cookies(response: Response) -> dict[str, dict[str, str]]:
    """The response's ``Set-Cookie`` headers by cookie name: value and lower-cased attributes."""
    cookies: dict[str, dict[str, str]] = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        parsed = {"": value}
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            parsed[key.lower()] = attribute_value
        cookies[name] = parsed
    return cookies


async def login_response(
    client: QuartClient, username: str = "alice", password: str = PASSWORD, **extra: Any
) -> Response:
    """POST the login form of the API and return the raw response."""
    return await client.post(
        "/api/v1/login", json={"username": username, "password": password, **extra}
    )
