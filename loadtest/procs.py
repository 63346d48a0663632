"""Child processes of the benchmark: start them, remember them, stop them by PID."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
# The cost quart-blog is benchmarked at: what production logins cost.
BCRYPT_ROUNDS = 12


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every living descendant of ``pid``, read from /proc."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[tuple[int, str]] = []
    frontier = [pid]
    while frontier and len(found) < 10_000:
        parent = frontier.pop()
        for child, ppid in parent_of.items():
            if ppid == parent:
                started = _start_time(child)
                if started is not None:
                    found.append((child, started))
                    frontier.append(child)
    return found


class ProcessSet:
    """Every process the benchmark started, so a ``finally`` can stop them all."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def spawn(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` in its own session (Ctrl-C reaches only us; we stop it)."""
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def forget(self, proc: subprocess.Popen[Any]) -> None:
        """Drop ``proc`` from the set (it has ended by itself)."""
        self.procs = [p for p in self.procs if p is not proc]

    def stop(self, proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
        """SIGTERM ``proc``; after ``grace`` seconds SIGKILL it and its descendants (by PID)."""
        self.forget(proc)
        if proc.poll() is not None:
            return
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        deadline = time.monotonic() + grace
        for pid, started in family:
            while _start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.1)
            if _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every remaining process, newest first."""
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def start_quart_blog(
    procs: ProcessSet, workdir: Path, workers: int = 2, wait_s: float = 60.0
) -> str:
    """Start ``python -m quart_blog serve`` on a free port with a fresh SQLite file.

    Returns its base URL; the output goes to ``workdir/server.log``. Raises RuntimeError when
    /healthz is not 200 within ``wait_s`` seconds or the server exits early.
    """
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'blog.db'}",
        RATE_LIMITS="off",
        SECRET_KEY="loadtest-fixed-secret-key-not-for-production",
        BCRYPT_ROUNDS=str(BCRYPT_ROUNDS),
    )
    cmd = [sys.executable, "-m", "quart_blog", "serve", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", str(workers)]
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        proc = procs.spawn(cmd, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"quart-blog exited with {proc.returncode}; see {log}")
        if _healthz_ok(port):
            return url
        time.sleep(0.25)
    raise RuntimeError(f"quart-blog: /healthz not 200 after {wait_s:.0f} s; see {log}")


def _healthz_ok(port: int) -> bool:
    """True when GET /healthz on 127.0.0.1:PORT answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
