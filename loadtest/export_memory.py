"""Export memory: does a user with 100,000 posts get exported in flat memory? (SPEC §14)

    .venv/bin/python loadtest/export_memory.py [--posts 100000] [--body-chars 600]
                                               [--keep DIR]

A measurement, not a test: it prints figures and checks only that the document is whole.
It starts ``quart-blog serve --workers 1`` (``procs.start_quart_blog``: a free 127.0.0.1
port, a fresh SQLite file, migrations applied), registers one user and logs in over HTTP,
then inserts the posts straight into the SQLite file (one ``executemany``: the API would
take minutes and is not what is measured). It reads the serving worker's memory from
``/proc/PID/status`` (``VmRSS`` now, ``VmHWM`` its peak since it started) after a few warm-up
requests, streams ``GET /api/v1/me/export`` to a file while sampling ``VmRSS`` every 50 ms,
reads ``VmHWM`` again, and parses the file to check that every post is in it. Last it
deletes the account (``DELETE /api/v1/me``: one transaction, every post by ON DELETE
CASCADE) and times that.

What it prints: the worker's peak RSS before the export and after it, the growth, the
largest RSS sampled during the export, the document's size and how long it took, and how
long the deletion took. A server that built the document in memory would grow by at least
the document's size.

Loopback only; the server is stopped by PID at the end (also on Ctrl-C), and the
temporary directory is removed unless ``--keep`` names one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from procs import ProcessSet, serving_worker, start_quart_blog, status_kib

USERNAME = "exporter"
PASSWORD = "export memory passphrase"
SAMPLE_EVERY_S = 0.05
CHUNK = 1 << 16


def insert_posts(database: Path, user_id: int, count: int, body_chars: int) -> None:
    """``count`` posts of ``user_id``, written straight into the SQLite file in one go."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    body = ("All work and no play makes a long export. " * (body_chars // 43 + 1))[:body_chars]
    rows = ((user_id, f"Post number {n}", body, now, now) for n in range(count))
    with sqlite3.connect(database, timeout=30) as connection:
        connection.executemany(
            "INSERT INTO posts (user_id, title, body, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )


class RssSampler(threading.Thread):
    """Samples a process's ``VmRSS`` until stopped; keeps the largest value seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.largest = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_EVERY_S):
            self.largest = max(self.largest, status_kib(self.pid, "VmRSS"))


def stream_export(client: httpx.Client, target: Path) -> tuple[int, float]:
    """Stream the export into ``target``: its size in bytes and the seconds it took."""
    started = time.monotonic()
    size = 0
    with client.stream("GET", "/api/v1/me/export", timeout=600) as response:
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                size += len(chunk)
    return size, time.monotonic() - started


def measure(workdir: Path, posts: int, body_chars: int) -> dict[str, Any]:
    """Run the server, fill the account, export it; the figures."""
    procs = ProcessSet()
    try:
        base_url, server = start_quart_blog(procs, workdir, workers=1)
        worker = serving_worker(server.pid)
        with httpx.Client(base_url=base_url) as client:
            account = {"username": USERNAME, "password": PASSWORD}
            registered = client.post("/api/v1/register", json=account)
            registered.raise_for_status()
            client.post("/api/v1/login", json=account).raise_for_status()
            insert_posts(workdir / "blog.db", registered.json()["id"], posts, body_chars)
            for _ in range(20):  # warm up: the posts list, the account, the security log
                client.get("/api/v1/posts?limit=100").raise_for_status()
                client.get("/api/v1/me/events").raise_for_status()
            before = {"hwm": status_kib(worker, "VmHWM"), "rss": status_kib(worker, "VmRSS")}
            sampler = RssSampler(worker)
            sampler.start()
            try:
                size, seconds = stream_export(client, workdir / "export.json")
            finally:
                sampler.stopping.set()
                sampler.join()
            after_hwm = status_kib(worker, "VmHWM")
            started = time.monotonic()
            deleted = client.request("DELETE", "/api/v1/me", json={"current_password": PASSWORD})
            deletion_seconds = time.monotonic() - started
            if deleted.status_code != 204:
                raise RuntimeError(f"DELETE /api/v1/me answered {deleted.status_code}")
        with (workdir / "export.json").open("rb") as exported:
            document = json.load(exported)
        if len(document["posts"]) != posts:
            raise RuntimeError(f"{len(document['posts'])} posts exported of {posts}")
        return {
            "posts": posts,
            "document_bytes": size,
            "seconds": round(seconds, 2),
            "hwm_before_kib": before["hwm"],
            "rss_before_kib": before["rss"],
            "rss_largest_during_kib": sampler.largest,
            "hwm_after_kib": after_hwm,
            "hwm_growth_kib": after_hwm - before["hwm"],
            "delete_seconds": round(deletion_seconds, 2),
        }
    finally:
        procs.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--body-chars", type=int, default=600)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="export-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        figures = measure(workdir, args.posts, args.body_chars)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    mib = 1024
    print(
        f"export of {figures['posts']:,} posts: {figures['document_bytes'] / mib**2:.1f} MiB"
        f" in {figures['seconds']} s"
    )
    print(
        f"worker peak RSS (VmHWM): {figures['hwm_before_kib'] / mib:.1f} MiB before,"
        f" {figures['hwm_after_kib'] / mib:.1f} MiB after"
        f" (+{figures['hwm_growth_kib'] / mib:.1f} MiB);"
        f" RSS {figures['rss_before_kib'] / mib:.1f} MiB before,"
        f" at most {figures['rss_largest_during_kib'] / mib:.1f} MiB during"
    )
    print(f"deleting the account with its posts: {figures['delete_seconds']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
