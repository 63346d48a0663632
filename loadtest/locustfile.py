"""Locust users for quart-blog: people on the cookie session, scripts on API tokens, and a
login storm.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 200 -r 20 -t 1m --html report.html
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 TokenUser   # one class only

- ``BlogUser`` (weight 5): registers once, logs in with the cookie session, then lists,
  reads, writes, edits and deletes its own posts, and now and then logs out and back in.
- ``TokenUser`` (weight 5): a script with an API token (``Authorization: Bearer``): the
  same reads and writes, with no login per virtual user and no CSRF token to scrape. The
  tokens come from ``QUART_BLOG_TOKENS`` (comma-separated write tokens, shared round-robin
  by the virtual users); without it each Locust process makes one account and one write
  token at its first TokenUser's start and every TokenUser of that process shares it.
- ``LoginStorm`` (weight 1): registers once, then logs in and out back to back: every
  login is a full password check, the most expensive request the server has.

The server must run with RATE_LIMITS=off: every simulated user logs in from
127.0.0.1, so the per-address login and registration limits would otherwise
answer 429 (counted here as failures named "429 rate limited").
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import threading
from typing import Any

from locust import HttpUser, between, task

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
TOKENS_ENV = "QUART_BLOG_TOKENS"
TOKEN_DAYS = 1
_user_numbers = itertools.count(1)
_token_numbers = itertools.count()
MAX_KNOWN_POSTS = 200
# Locust patches threading for gevent, so this lock makes other greenlets wait, not threads.
_token_lock = threading.Lock()
_process_tokens: list[str] = []


class ApiUser(HttpUser):
    """What every simulated client shares: one checked request, and a fresh account."""

    abstract = True
    wait_time = between(0.5, 2.5)

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (none: the HTTP session keeps the cookie)."""
        return {}

    def on_unauthorized(self, path: str) -> None:
        """What to do after a 401 on ``path`` (nothing: the failure is counted)."""

    def _call(
        self,
        method: str,
        path: str,
        expect: tuple[int, ...],
        name: str | None = None,
        json: dict[str, Any] | None = None,
    ) -> int:
        """Send one request; mark anything but ``expect`` as a failure; return the status.

        State-changing requests always carry ``Content-Type: application/json``
        (the API's CSRF rule), even with an empty body. The parsed JSON answer is
        left in ``self.last_json``.
        """
        headers = dict(self.auth_headers())
        kwargs: dict[str, Any] = {"name": name or path, "catch_response": True}
        if method != "GET":
            headers.update(JSON_HEADERS)
            kwargs["data"] = b"{}" if json is None and method == "POST" else None
        if headers:
            kwargs["headers"] = headers
        if json is not None:
            kwargs["json"] = json
        self.last_json: Any = None
        with self.client.request(method, path, **kwargs) as resp:
            status = resp.status_code
            if status == 429:
                resp.failure("429 rate limited (start the server with RATE_LIMITS=off)")
            elif status == 0:
                resp.failure(f"connection error: {type(resp.error).__name__}")
            elif status not in expect:
                resp.failure(f"HTTP {status}, expected {'/'.join(map(str, expect))}")
            else:
                resp.success()
                if resp.content and "json" in resp.headers.get("Content-Type", ""):
                    self.last_json = resp.json()
            if status == 401:
                self.on_unauthorized(path)
        return status

    def register(self, name: str = "/api/v1/register") -> tuple[str, str]:
        """Register a unique account (retrying a taken name); return its name and password."""
        password = "lt-" + secrets.token_urlsafe(12)
        username = ""
        for _ in range(3):
            username = f"lt{next(_user_numbers)}_{secrets.token_hex(4)}"
            body = {"username": username, "password": password}
            if self._call("POST", "/api/v1/register", (201, 409), name=name, json=body) == 201:
                break
        return username, password


class PostTasks(ApiUser):
    """Someone (or some script) working with their own posts."""

    abstract = True
    # Answers that are fine for a post this user knew of: virtual users sharing one
    # account (TokenUser) may delete each other's posts, so 404 is fine there.
    gone: tuple[int, ...] = ()

    def on_start(self) -> None:
        self.post_ids: list[int] = []
        self.next_before: int | None = None

    def _remember(self, post_id: int) -> None:
        if post_id not in self.post_ids:
            self.post_ids.append(post_id)
            del self.post_ids[:-MAX_KNOWN_POSTS]

    @task(10)
    def list_posts(self) -> None:
        """First page of the user's own posts (the most common request)."""
        if self._call("GET", "/api/v1/posts?limit=20", expect=(200,)) == 200 and self.last_json:
            for item in self.last_json.get("items", []):
                self._remember(int(item["id"]))
            self.next_before = self.last_json.get("next")

    @task(2)
    def next_page(self) -> None:
        """Follow ``next`` from the last first page, when there is one."""
        if self.next_before:
            path = f"/api/v1/posts?limit=20&before={self.next_before}"
            self._call("GET", path, expect=(200,), name="/api/v1/posts?limit=20&before=[id]")

    @task(4)
    def create_post(self) -> None:
        """Write a new post."""
        body = {
            "title": f"Post {random.randint(1, 10**6)} by {type(self).__name__}",
            "body": "Some words about the day. " * random.randint(1, 20),
        }
        if self._call("POST", "/api/v1/posts", expect=(201,), json=body) == 201:
            self._remember(int(self.last_json["id"]))

    @task(3)
    def view_post(self) -> None:
        """Open one of the user's posts."""
        if self.post_ids:
            post_id = random.choice(self.post_ids)
            path = f"/api/v1/posts/{post_id}"
            if self._call("GET", path, (200, *self.gone), "/api/v1/posts/[id]") != 200:
                self.post_ids.remove(post_id)

    @task(2)
    def edit_post(self) -> None:
        """Change the title of one of the user's posts."""
        if self.post_ids:
            post_id = random.choice(self.post_ids)
            patch = {"title": f"Edited {secrets.token_hex(3)}"}
            path = f"/api/v1/posts/{post_id}"
            status = self._call("PATCH", path, (200, *self.gone), "/api/v1/posts/[id]", patch)
            if status != 200:
                self.post_ids.remove(post_id)

    @task(1)
    def delete_post(self) -> None:
        """Delete one of the user's posts."""
        if len(self.post_ids) >= 2:
            post_id = self.post_ids.pop(random.randrange(len(self.post_ids)))
            path = f"/api/v1/posts/{post_id}"
            self._call("DELETE", path, (204, *self.gone), "/api/v1/posts/[id]")

    @task(2)
    def me(self) -> None:
        """Who am I?"""
        self._call("GET", "/api/v1/me", expect=(200,))


class BlogUser(PostTasks):
    """One person using the JSON API with the cookie session: own posts, logging in and out."""

    weight = 5

    def on_start(self) -> None:
        """Register a unique account and log in."""
        super().on_start()
        self.username, self.password = self.register()
        self.login()

    def on_unauthorized(self, path: str) -> None:
        if path != "/api/v1/login":
            self.login()  # session ended (expired or revoked): log in again

    def login(self) -> None:
        """POST /api/v1/login; the auth cookie is kept by the HTTP session."""
        self._call(
            "POST",
            "/api/v1/login",
            expect=(200,),
            json={"username": self.username, "password": self.password},
        )

    @task(1)
    def logout_and_back(self) -> None:
        """Occasionally log out (204) and log straight back in."""
        if random.random() < 0.3:
            self._call("POST", "/api/v1/logout", expect=(204,))
            self.login()


class TokenUser(PostTasks):
    """A script on an API token: the same work as a person, and never a login of its own.

    Every request carries ``Authorization: Bearer`` and nothing else: no cookie, no CSRF
    token. A 401 (the token was revoked or expired) is counted as a failure and not
    retried: a script cannot log in.
    """

    weight = 5
    gone = (404,)
    token = ""  # none yet while this process's token is being made

    def on_start(self) -> None:
        """Take a token: one of ``QUART_BLOG_TOKENS``, or this process's own."""
        super().on_start()
        tokens = self.process_tokens()
        self.token = tokens[next(_token_numbers) % len(tokens)]

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def process_tokens(self) -> list[str]:
        """The tokens this Locust process's TokenUsers share (made once, on first need)."""
        with _token_lock:
            if not _process_tokens:
                given = os.environ.get(TOKENS_ENV, "").split(",")
                _process_tokens.extend(token.strip() for token in given if token.strip())
            if not _process_tokens:
                _process_tokens.append(self.make_token())
        return _process_tokens

    def make_token(self) -> str:
        """One account, logged in once, and a write token made with that session.

        The requests are named ``[setup] …`` in the statistics; the session cookie is then
        dropped, so the token is all that the virtual users send.
        """
        username, password = self.register(name="[setup] /api/v1/register")
        credentials = {"username": username, "password": password}
        self._call("POST", "/api/v1/login", (200,), "[setup] /api/v1/login", credentials)
        body = {"name": "locust", "scope": "write", "expires_in_days": TOKEN_DAYS}
        self._call("POST", "/api/v1/tokens", (201,), "[setup] /api/v1/tokens", body)
        self.client.cookies.clear()
        if not self.last_json or "token" not in self.last_json:
            raise RuntimeError("could not make an API token (is the server up, RATE_LIMITS=off?)")
        return str(self.last_json["token"])


class LoginStorm(ApiUser):
    """Logs in and out back to back: a full password check on every login.

    The server hashes passwords off its event loop; while this class runs, the others'
    latency shows whether that holds.
    """

    weight = 1
    wait_time = between(0.0, 0.2)

    def on_start(self) -> None:
        """Register once."""
        self.username, self.password = self.register()

    @task
    def log_in_and_out(self) -> None:
        """POST /api/v1/login (200), then POST /api/v1/logout (204)."""
        credentials = {"username": self.username, "password": self.password}
        if self._call("POST", "/api/v1/login", expect=(200,), json=credentials) == 200:
            self._call("POST", "/api/v1/logout", expect=(204,))
