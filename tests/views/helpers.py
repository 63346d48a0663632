"""Helpers shared by the page, security and route-policy tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import text

from quart_blog import create_app
from quart_blog.db import get_database
from tests.factories import PASSWORD, csrf_token

POST_LINK_RE = re.compile(r'href="/posts/(\d+)"')


class Tags(HTMLParser):
    """Every start tag of a page as ``(tag, attributes)``, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def named(self, tag: str) -> list[dict[str, str]]:
        """The attributes of every ``tag`` element."""
        return [attrs for name, attrs in self.tags if name == tag]

    def field(self, name: str) -> dict[str, str] | None:
        """The input, textarea or select whose ``name`` is ``name``."""
        for tag, attrs in self.tags:
            if tag in ("input", "textarea", "select") and attrs.get("name") == name:
                return attrs
        return None


async def text_of(response: Any) -> str:
    """The response body as text."""
    body: str = await response.get_data(as_text=True)
    return body


def login_redirect_next(response: Any) -> str | None:
    """The ``next`` of a redirect to the login page, or ``None`` if it is not one."""
    if response.status_code not in (302, 303):
        return None
    parts = urlsplit(response.headers["Location"])
    if parts.netloc not in ("", "localhost") or parts.path != "/login":
        return None
    return parse_qs(parts.query).get("next", [""])[0]


async def is_logged_in(client: QuartClient) -> bool:
    """Whether the client's cookies still open the home page."""
    response = await client.get("/")
    if response.status_code == 200:
        return True
    assert login_redirect_next(response) == "/", response.status_code
    return False


async def login_with_agent(
    client: QuartClient, agent: str, username: str = "alice", password: str = PASSWORD
) -> None:
    """Log in through the form from a browser that names itself ``agent``."""
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        form={"username": username, "password": password, "csrf_token": token},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 303, await text_of(response)


def post_ids(html: str) -> list[int]:
    """Ids of the posts linked from a page, in page order, without repeats."""
    return list(dict.fromkeys(int(found) for found in POST_LINK_RE.findall(html)))


def auth_cookie_name(app: Quart) -> str:
    """The name of Quart-Auth's login cookie."""
    return str(app.extensions["QUART_AUTH"][0].cookie_name)


def set_cookie(response: Any, name: str) -> str | None:
    """The ``Set-Cookie`` header that sets ``name``, or ``None``."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.split("=", 1)[0].strip() == name:
            return str(header)
    return None


def cookie_attributes(header: str) -> dict[str, str]:
    """The attributes of one ``Set-Cookie`` header, names lower-cased."""
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


def copy_cookies(source: QuartClient, target: QuartClient) -> None:
    """Give ``target`` every cookie ``source`` holds (a stolen or migrated cookie jar)."""
    assert source.cookie_jar is not None
    for cookie in source.cookie_jar:
        target.set_cookie("localhost", cookie.name, cookie.value or "")


@asynccontextmanager
async def running_app(overrides: Mapping[str, str]) -> AsyncIterator[Quart]:
    """An app built from ``overrides`` with its serving hooks run, for tests that need several."""
    app = create_app(overrides, testing=True)
    async with app.test_app():
        yield app


async def sql(app: Quart, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the app's own engine (committed) and return its rows."""
    async with app.app_context():
        engine = get_database().engine
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []


async def snapshot(app: Quart) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a request could change (``last_seen_at`` aside), for "nothing changed"."""
    return {
        "users": await sql(app, "SELECT id, username, password_hash FROM users ORDER BY id"),
        "posts": await sql(
            app, "SELECT id, user_id, title, body, updated_at FROM posts ORDER BY id"
        ),
        "sessions": await sql(
            app, "SELECT id, user_id, token_hash, expires_at FROM auth_sessions ORDER BY id"
        ),
    }
