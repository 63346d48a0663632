"""A tiny standard-library client for quart-blog's JSON API, used to seed and count.

Only loopback targets are accepted (see :func:`check_loopback_url`).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 30.0
MAX_429_RETRIES = 20
MAX_RETRY_AFTER = 5.0
MAX_PAGES = 10_000


class BenchError(RuntimeError):
    """A problem that stops the benchmark with a one-line message."""


@dataclass
class User:
    """A seeded user and the Cookie header that carries its session."""

    username: str
    password: str
    cookie: str = ""


def check_loopback_url(url: str) -> tuple[str, int]:
    """Return (host, port) of an ``http://`` URL on a loopback address, or raise BenchError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not host:
        raise BenchError(f"{url!r}: only http://127.0.0.1:PORT style URLs are supported")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BenchError(f"{url!r}: refusing a non-loopback host; load goes to 127.0.0.1 only")
    return host, parts.port or 80


class Api:
    """JSON API calls against one base URL (one short-lived connection per call)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.host, self.port = check_loopback_url(self.base_url)

    def call(
        self, method: str, path: str, body: Any = None, cookie: str = ""
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Send one request; retry a 429 after its Retry-After (bounded)."""
        for _ in range(MAX_429_RETRIES):
            status, headers, data = self._once(method, path, body, cookie)
            if status != 429:
                return status, headers, data
            time.sleep(min(float(headers.get("Retry-After") or 1), MAX_RETRY_AFTER))
        raise BenchError(
            f"{method} {path}: still 429 after {MAX_429_RETRIES} tries; "
            "start the server with RATE_LIMITS=off"
        )

    def _once(
        self, method: str, path: str, body: Any, cookie: str
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {"Accept": "application/json", "User-Agent": "quart-blog-loadtest"}
        payload = None
        if method != "GET":
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body if body is not None else {}).encode()
        if cookie:
            headers["Cookie"] = cookie
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def health_ms(self) -> float | None:
        """Time one GET /healthz in milliseconds; None if it failed or was not 200."""
        start = time.perf_counter()
        try:
            status, _, _ = self._once("GET", "/healthz", None, "")
        except (OSError, http.client.HTTPException):
            return None
        return (time.perf_counter() - start) * 1000 if status == 200 else None

    def register_and_login(self, user: User) -> None:
        """Create the account and store the login's Set-Cookie values as ``user.cookie``."""
        creds = {"username": user.username, "password": user.password}
        status, _, data = self.call("POST", "/api/v1/register", creds)
        if status != 201:
            raise BenchError(f"register {user.username}: HTTP {status} {data[:200]!r}")
        status, headers, data = self.call("POST", "/api/v1/login", creds)
        if status != 200:
            raise BenchError(f"login {user.username}: HTTP {status} {data[:200]!r}")
        pairs = [c.split(";", 1)[0].strip() for c in headers.get_all("Set-Cookie") or []]
        user.cookie = "; ".join(p for p in pairs if "=" in p)
        if not user.cookie:
            raise BenchError(f"login {user.username}: no Set-Cookie in the answer")

    def create_post(self, user: User, n: int) -> None:
        """Create one post for ``user`` (raise unless 201)."""
        post = {"title": f"seed post {n}", "body": f"Seeded body number {n}. " * 4}
        status, _, data = self.call("POST", "/api/v1/posts", post, user.cookie)
        if status != 201:
            raise BenchError(f"create post for {user.username}: HTTP {status} {data[:200]!r}")

    def count_posts(self, user: User) -> int:
        """Count the user's posts by following ``next`` through the list (bounded)."""
        total, before = 0, None
        for _ in range(MAX_PAGES):
            path = "/api/v1/posts?limit=100" + (f"&before={before}" if before else "")
            status, _, data = self.call("GET", path, cookie=user.cookie)
            if status != 200:
                raise BenchError(f"count posts of {user.username}: HTTP {status}")
            page = json.loads(data)
            total += len(page["items"])
            before = page.get("next")
            if not before:
                return total
        raise BenchError(f"count posts of {user.username}: more than {MAX_PAGES} pages")


def make_users(n: int) -> list[User]:
    """N fresh users with a random run tag so repeated runs never collide."""
    tag = secrets.token_hex(3)
    return [User(f"lt_{tag}_{i}", f"loadtest-{tag}-password-{i}") for i in range(n)]


def seed(api: Api, n_users: int, posts_each: int, workers: int = 8) -> tuple[list[User], float]:
    """Register, log in and give each user ``posts_each`` posts; return users and seconds."""
    start = time.monotonic()
    users = make_users(n_users)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(api.register_and_login, users))
        jobs = [(u, k) for u in users for k in range(posts_each)]
        list(pool.map(lambda job: api.create_post(*job), jobs))
    return users, time.monotonic() - start


def count_all(api: Api, users: list[User], workers: int = 8) -> int:
    """Total posts over all users, counted through the API."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(api.count_posts, users))


def wait_until_fast(api: Api, limit_s: float, fast_ms: float = 50.0, streak: int = 3) -> float:
    """Wait until /healthz answers under ``fast_ms`` ``streak`` times in a row.

    Returns the seconds waited, or -1.0 if the server did not settle within ``limit_s``.
    """
    start = time.monotonic()
    good = 0
    while time.monotonic() - start < limit_s:
        ms = api.health_ms()
        good = good + 1 if ms is not None and ms < fast_ms else 0
        if good >= streak:
            return time.monotonic() - start
        time.sleep(0.1 if ms is not None else 0.5)
    return -1.0
