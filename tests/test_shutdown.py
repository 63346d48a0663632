"""Stopping under load loses nothing acknowledged: SIGTERM mid-load, and kill -9 then restart."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD
from tests.live import GRACEFUL_TIMEOUT, LiveServer

CONNECTIONS = 48
LOAD_SECONDS = 1.5


async def write_until_stopped(base_url: str, stop_after: float) -> tuple[set[str], int]:
    """Create posts on keep-alive connections; return the titles acknowledged with 201.

    Each writer loops until ``stop_after`` seconds have passed or the server goes away
    (which is how the SIGTERM and kill -9 tests end it).
    """
    acknowledged: set[str] = set()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, timeout=15, limits=limits) as client:
        login = await client.post("/api/v1/login", json={"username": "dora", "password": PASSWORD})
        assert login.status_code == 200, login.text
        deadline = time.monotonic() + stop_after
        failures = 0

        async def writer(number: int) -> None:
            nonlocal failures
            for sequence in range(10_000):
                if time.monotonic() > deadline:
                    return
                title = f"w{number}-{sequence}"
                try:
                    response = await client.post(
                        "/api/v1/posts", json={"title": title, "body": "load"}
                    )
                except httpx.HTTPError:
                    failures += 1
                    return
                if response.status_code == 201:
                    acknowledged.add(title)

        await asyncio.gather(*(writer(number) for number in range(CONNECTIONS)))
    return acknowledged, failures


async def stored_titles(base_url: str) -> set[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        login = await client.post("/api/v1/login", json={"username": "dora", "password": PASSWORD})
        assert login.status_code == 200, login.text
        titles: set[str] = set()
        params = {"limit": "100"}
        for _page in range(10_000):
            body = (await client.get("/api/v1/posts", params=params)).json()
            titles.update(item["title"] for item in body["items"])
            if body["next"] is None:
                return titles
            params = {"limit": "100", "before": str(body["next"])}
    raise AssertionError("pagination did not end")


def register(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/api/v1/register", json={"username": "dora", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


async def load_then(server: LiveServer, action: str) -> set[str]:
    """Run the write load and, halfway through, SIGTERM or SIGKILL the server."""
    load = asyncio.create_task(write_until_stopped(server.base_url, stop_after=30))
    await asyncio.sleep(LOAD_SECONDS)
    if action == "term":
        took = await asyncio.to_thread(server.terminate, GRACEFUL_TIMEOUT + 5)
        assert not server.living(), f"processes left {took:.1f} s after SIGTERM"
    else:
        server.refresh()
        for pid in server.living():
            os.kill(pid, signal.SIGKILL)
    acknowledged, _failures = await asyncio.wait_for(load, timeout=60)
    return acknowledged


@pytest.mark.parametrize("action", ["term", "kill"])
def test_stop_under_load_keeps_every_acknowledged_post(
    tmp_path: Path, database_url: str, action: str
) -> None:
    env = {"DATABASE_URL": database_url}
    with _server(tmp_path, "first", env) as first:
        register(first.base_url)
        acknowledged = asyncio.run(load_then(first, action))
    assert len(acknowledged) > CONNECTIONS  # the load really ran
    with _server(tmp_path, "again", env) as again:
        stored = asyncio.run(stored_titles(again.base_url))
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged posts lost after {action}"
    if action == "term":
        assert "Traceback" not in first.stderr, first.stderr[-4000:]


def _server(tmp_path: Path, name: str, env: dict[str, str]) -> LiveServer:
    directory = tmp_path / name
    directory.mkdir()
    return LiveServer(directory, workers=2, **env)
