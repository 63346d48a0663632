"""Locust users for quart-blog: register once, log in, then browse and write their own posts.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 200 -r 20 -t 1m --html report.html

The server must run with RATE_LIMITS=off: every simulated user logs in from
127.0.0.1, so the per-address login and registration limits would otherwise
answer 429 (counted here as failures named "429 rate limited").
"""

from __future__ import annotations

import itertools
import random
import secrets
from typing import Any

from locust import HttpUser, between, task

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_user_numbers = itertools.count(1)
MAX_KNOWN_POSTS = 200


class BlogUser(HttpUser):
    """One person using the JSON API: lists, reads, writes, edits and deletes own posts."""

    wait_time = between(0.5, 2.5)

    def on_start(self) -> None:
        """Register a unique account (retrying a taken name) and log in."""
        self.post_ids: list[int] = []
        self.next_before: int | None = None
        self.password = "lt-" + secrets.token_urlsafe(12)
        for _ in range(3):
            self.username = f"lt{next(_user_numbers)}_{secrets.token_hex(4)}"
            status = self._call(
                "POST",
                "/api/v1/register",
                expect=(201, 409),
                json={"username": self.username, "password": self.password},
            )
            if status == 201:
                break
        self.login()

    # -- helpers --------------------------------------------------------------

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
        kwargs: dict[str, Any] = {"name": name or path, "catch_response": True}
        if method != "GET":
            kwargs["headers"] = JSON_HEADERS
            kwargs["data"] = b"{}" if json is None and method == "POST" else None
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
            if status == 401 and path != "/api/v1/login":
                self.login()  # session ended (expired or revoked): log in again
        return status

    def login(self) -> None:
        """POST /api/v1/login; the auth cookie is kept by the HTTP session."""
        self._call(
            "POST",
            "/api/v1/login",
            expect=(200,),
            json={"username": self.username, "password": self.password},
        )

    def _remember(self, post_id: int) -> None:
        if post_id not in self.post_ids:
            self.post_ids.append(post_id)
            del self.post_ids[:-MAX_KNOWN_POSTS]

    # -- tasks ----------------------------------------------------------------

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
            "title": f"Post {random.randint(1, 10**6)} by {self.username}",
            "body": "Some words about the day. " * random.randint(1, 20),
        }
        if self._call("POST", "/api/v1/posts", expect=(201,), json=body) == 201:
            self._remember(int(self.last_json["id"]))

    @task(3)
    def view_post(self) -> None:
        """Open one of the user's posts."""
        if self.post_ids:
            post_id = random.choice(self.post_ids)
            self._call("GET", f"/api/v1/posts/{post_id}", expect=(200,), name="/api/v1/posts/[id]")

    @task(2)
    def edit_post(self) -> None:
        """Change the title of one of the user's posts."""
        if self.post_ids:
            post_id = random.choice(self.post_ids)
            patch = {"title": f"Edited {secrets.token_hex(3)}"}
            path = f"/api/v1/posts/{post_id}"
            self._call("PATCH", path, expect=(200,), name="/api/v1/posts/[id]", json=patch)

    @task(1)
    def delete_post(self) -> None:
        """Delete one of the user's posts."""
        if len(self.post_ids) >= 2:
            post_id = self.post_ids.pop(random.randrange(len(self.post_ids)))
            self._call(
                "DELETE", f"/api/v1/posts/{post_id}", expect=(204,), name="/api/v1/posts/[id]"
            )

    @task(2)
    def me(self) -> None:
        """Who am I?"""
        self._call("GET", "/api/v1/me", expect=(200,))

    @task(1)
    def logout_and_back(self) -> None:
        """Occasionally log out (204) and log straight back in."""
        if random.random() < 0.3:
            self._call("POST", "/api/v1/logout", expect=(204,))
            self.login()
