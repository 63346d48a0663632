"""A real ``quart-blog serve`` under Hypercorn with two workers (SPEC §3, §5, §6, §9)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import unquote

import httpx

from tests.factories import CSRF_RE, PASSWORD
from tests.live import GRACEFUL_TIMEOUT, LiveServer

CONCURRENT_POSTS = 200
CLIENT_TIMEOUT = 30.0


def form_token(response: httpx.Response) -> str:
    match = CSRF_RE.search(response.text)
    assert match is not None, f"no csrf_token in {response.request.url} ({response.status_code})"
    return match.group(1)


def location_path(response: httpx.Response) -> str:
    """The path (and query) a redirect points at, relative or absolute."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    url = httpx.URL(response.headers["Location"])
    query = url.query.decode()
    return unquote(f"{url.path}?{query}" if query else url.path)


def api_walk(base_url: str) -> None:
    """Register, log in, create, list, log out, then /me is 401: the JSON API over HTTP."""
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
        registered = client.post(
            "/api/v1/register", json={"username": "alice", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        user = registered.json()
        assert user["username"] == "alice"

        assert client.get("/api/v1/me").status_code == 401
        login = client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json() == user
        assert client.get("/api/v1/me").json() == {**user, "email": None, "email_verified": False}

        created = client.post("/api/v1/posts", json={"title": "Live", "body": "Over real HTTP."})
        assert created.status_code == 201, created.text
        post = created.json()
        assert set(post) == {"id", "title", "body", "created_at", "updated_at"}
        listing = client.get("/api/v1/posts")
        assert listing.status_code == 200
        assert listing.json() == {"items": [post], "next": None}
        assert client.get(f"/api/v1/posts/{post['id']}").json() == post

        logout = client.post("/api/v1/logout")
        assert logout.status_code == 204, logout.text
        me = client.get("/api/v1/me")
        assert me.status_code == 401
        assert me.json()["error"]["code"]
        assert client.get("/api/v1/posts").status_code == 401


def page_walk(base_url: str) -> None:
    """The same walk through the HTML pages, following each 303 by hand like a browser."""
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT) as browser:
        home = browser.get("/")
        assert location_path(home) == "/login?next=/"

        form = browser.get("/register")
        assert form.status_code == 200
        registered = browser.post(
            "/register",
            data={
                "username": "bob",
                "password": PASSWORD,
                "confirm": PASSWORD,
                "csrf_token": form_token(form),
            },
        )
        assert location_path(registered) == "/login", registered.text[:500]

        login_page = browser.get("/login")
        assert login_page.status_code == 200
        logged_in = browser.post(
            "/login",
            data={"username": "bob", "password": PASSWORD, "csrf_token": form_token(login_page)},
        )
        assert location_path(logged_in) == "/posts"
        empty = browser.get("/posts")
        assert empty.status_code == 200
        assert "bob" in browser.get("/").text

        new = browser.get("/posts/new")
        assert new.status_code == 200
        created = browser.post(
            "/posts",
            data={"title": "From a form", "body": "<b>escaped</b>", "csrf_token": form_token(new)},
        )
        post_path = location_path(created)
        assert re.fullmatch(r"/posts/\d+", post_path), post_path
        shown = browser.get(post_path)
        assert shown.status_code == 200
        assert "From a form" in shown.text
        assert "&lt;b&gt;escaped&lt;/b&gt;" in shown.text
        assert "From a form" in browser.get("/posts").text

        confirm = browser.get("/logout")
        assert confirm.status_code == 200
        logged_out = browser.post("/logout", data={"csrf_token": form_token(confirm)})
        assert location_path(logged_out) == "/login"
        assert location_path(browser.get("/posts")) == "/login?next=/posts"
        assert browser.get(post_path).status_code in (302, 303)


async def post_concurrently(base_url: str) -> list[httpx.Response]:
    """Log in once, then send CONCURRENT_POSTS creates at the same time."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=CLIENT_TIMEOUT, limits=limits
    ) as client:
        registered = await client.post(
            "/api/v1/register", json={"username": "carol", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/v1/login", json={"username": "carol", "password": PASSWORD})
        assert login.status_code == 200, login.text
        return await asyncio.gather(
            *(
                client.post("/api/v1/posts", json={"title": f"post {n}", "body": "load"})
                for n in range(CONCURRENT_POSTS)
            )
        )


async def all_posts(base_url: str) -> list[dict[str, object]]:
    """Walk the paginated list to the end (bounded)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as client:
        login = await client.post("/api/v1/login", json={"username": "carol", "password": PASSWORD})
        assert login.status_code == 200, login.text
        items: list[dict[str, object]] = []
        before: int | None = None
        for _page in range(CONCURRENT_POSTS // 20 + 5):
            params = {"limit": "20"} if before is None else {"limit": "20", "before": str(before)}
            page = await client.get("/api/v1/posts", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            items.extend(body["items"])
            before = body["next"]
            if before is None:
                return items
        raise AssertionError("pagination did not end")


def test_live_server_api_and_page_walks_then_sigterm_stops_every_process(
    tmp_path: Path,
) -> None:
    with LiveServer(tmp_path, workers=2) as server:
        assert len(server.worker_pids()) == 2

        api_walk(server.base_url)
        page_walk(server.base_url)

        took = server.terminate(GRACEFUL_TIMEOUT + 5)
        left = sorted(server.living())
        assert not left, f"still running after {took:.1f} s: {left} of {sorted(server.known)}"
        assert server.process is not None
        assert server.process.returncode == 0, server.stderr[-4000:]
    assert "Traceback" not in server.stderr, server.stderr[-4000:]
    # The console: one line saying the migrations ran, one "Running on" per worker.
    assert "database migrated to revision" in server.stdout_path.read_text()
    running = [line for line in server.stderr.splitlines() if "Running on" in line]
    assert len(running) == 2, running


def test_live_server_concurrent_posts_two_workers_all_stored(tmp_path: Path) -> None:
    with LiveServer(tmp_path, workers=2) as server:
        responses = asyncio.run(post_concurrently(server.base_url))

        failures = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
        assert failures == []
        posts = asyncio.run(all_posts(server.base_url))
        assert len(posts) == CONCURRENT_POSTS
        assert {post["title"] for post in posts} == {f"post {n}" for n in range(CONCURRENT_POSTS)}
        ids = [post["id"] for post in posts]
        assert ids == sorted(ids, reverse=True)  # newest first, no duplicates across pages
        assert len(set(ids)) == CONCURRENT_POSTS

        took = server.terminate(GRACEFUL_TIMEOUT + 5)
        assert not server.living(), f"still running after {took:.1f} s"
    stderr = server.stderr
    assert "database is locked" not in stderr
    assert "Traceback" not in stderr, stderr[-4000:]
