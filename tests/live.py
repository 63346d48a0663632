"""Run the real ``quart-blog`` console script: one-shot commands, or a live Hypercorn server.

Only processes started here are signalled, each by PID (checked against its start time, so a
recycled PID is never hit), and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from tests.factories import PASSWORD, SECRET_KEY

QUART_BLOG = Path(sys.executable).parent / "quart-blog"
SPEC_VARIABLES = (
    "DATABASE_URL",
    "SECRET_KEY",
    "REDIS_URL",
    "BCRYPT_ROUNDS",
    "SESSION_COOKIE_SECURE",
    "TRUSTED_PROXIES",
    "RATE_LIMITS",
    "DB_POOL_SIZE",
    "PUBLIC_URL",
    "MAIL_URL",
    "MAIL_FROM",
)
CLI_TIMEOUT = 60.0
READY_TIMEOUT = 30.0
GRACEFUL_TIMEOUT = 10.0  # `quart-blog serve --graceful-timeout` default
HOST = "127.0.0.1"


def cli_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This process's environment minus every SPEC §4 variable, with a test database and key."""
    env = {key: value for key, value in os.environ.items() if key not in SPEC_VARIABLES}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'blog.db'}",
        SECRET_KEY=SECRET_KEY,
        BCRYPT_ROUNDS="4",
        PYTHONUNBUFFERED="1",
    )
    env.update(variables)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``quart-blog ARGS`` to completion (bounded) and capture its output."""
    return subprocess.run(
        [str(QUART_BLOG), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return None
    return int(fields[19])


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (every thread's list)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(child) for child in task.read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - found:
            found.add(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class LiveServer:
    """``quart-blog serve --workers N`` on a free 127.0.0.1 port, as a subprocess."""

    def __init__(
        self,
        tmp_path: Path,
        workers: int = 2,
        tls: tuple[Path, Path] | None = None,
        executable: Path = QUART_BLOG,
        **env: str,
    ) -> None:
        self.tmp_path = tmp_path
        self.executable = executable
        self.workers = workers
        self.port = free_port()
        self.tls = tls
        self.base_url = f"{'https' if tls else 'http'}://{HOST}:{self.port}"
        self.env = cli_env(tmp_path, **{"RATE_LIMITS": "off", **env})
        self.stdout_path = tmp_path / "server.stdout"
        self.stderr_path = tmp_path / "server.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.known: dict[int, int] = {}  # pid -> start time, for every process seen
        self._logs: list[IO[bytes]] = []

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.alive():
                self.terminate(GRACEFUL_TIMEOUT + 5)
        finally:
            self.kill()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def start(self) -> None:
        """Start the server and wait until every worker is up and /healthz answers 200."""
        stdout = self.stdout_path.open("wb")
        stderr = self.stderr_path.open("wb")
        self._logs = [stdout, stderr]
        bind = f"{HOST}:{self.port}"
        tls_args = (
            ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])] if self.tls else []
        )
        self.process = subprocess.Popen(
            [
                str(self.executable),
                "serve",
                "--bind",
                bind,
                "--workers",
                str(self.workers),
                *tls_args,
            ],
            cwd=self.tmp_path,
            env=self.env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
        self.remember(self.process.pid)
        try:
            self.wait_ready(READY_TIMEOUT)
        except BaseException:
            self.kill()
            raise

    def remember(self, pid: int) -> None:
        started = start_time(pid)
        if started is not None:
            self.known.setdefault(pid, started)

    def refresh(self) -> None:
        """Record the server's current process tree."""
        assert self.process is not None
        for pid in descendants(self.process.pid):
            self.remember(pid)

    def worker_pids(self) -> set[int]:
        """Hypercorn's worker processes (spawned children, not the resource tracker)."""
        assert self.process is not None
        return {
            pid
            for pid in children(self.process.pid)
            if "resource_tracker" not in command_line(pid) and start_time(pid) is not None
        }

    def wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.stderr[-4000:]}"
                )
            if len(self.worker_pids()) >= self.workers and self.healthy():
                self.refresh()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready in {timeout} s:\n{self.stderr[-4000:]}")
            time.sleep(0.1)

    def healthy(self) -> bool:
        try:
            # verify=False: TLS servers under test use a throwaway self-signed certificate.
            response = httpx.get(f"{self.base_url}/healthz", timeout=2, verify=False)  # noqa: S501
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def living(self) -> set[int]:
        """Every process of this server that is still running (zombies count as gone)."""
        if self.process is not None:
            self.process.poll()  # reap the parent if it has exited
        return {pid for pid, started in self.known.items() if start_time(pid) == started}

    def alive(self) -> bool:
        return bool(self.living())

    def terminate(self, timeout: float) -> float:
        """SIGTERM the parent; return how long until every process had exited (or ``timeout``)."""
        assert self.process is not None
        self.refresh()
        began = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        while self.alive() and time.monotonic() - began < timeout:
            time.sleep(0.05)
        return time.monotonic() - began

    def kill(self) -> None:
        """Last resort: SIGKILL whatever is left of this server, by PID."""
        try:
            for pid, started in self.known.items():
                if start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if self.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
        finally:
            for log in self._logs:
                log.close()
            self._logs = []


def login(base_url: str, password: str = PASSWORD) -> str:
    """Log alice in over HTTP; return her session cookie as a ``Cookie`` header value."""
    response = httpx.post(
        f"{base_url}/api/v1/login", json={"username": "alice", "password": password}
    )
    assert response.status_code == 200, response.text
    # Only the session: the device cookie (SPEC §13) is set beside it.
    return f"quart_blog_auth={response.cookies['quart_blog_auth']}"


def me(base_url: str, cookie: str) -> int:
    """The status of ``GET /api/v1/me`` with that cookie (200 logged in, 401 not)."""
    return httpx.get(f"{base_url}/api/v1/me", headers={"Cookie": cookie}).status_code
