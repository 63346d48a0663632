"""Child processes of the benchmark: start them, remember them, stop them by PID."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import selectors
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

    def stop_by_stdin(self, proc: subprocess.Popen[Any]) -> None:
        """Ask a child that reads commands on stdin to ``stop``, wait for it, then reap it."""
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.write("stop\n")
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self.stop(proc, grace=5)

    def stop_all(self) -> None:
        """Stop every remaining process, newest first."""
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def start_quart_blog(
    procs: ProcessSet,
    workdir: Path,
    workers: int = 2,
    wait_s: float = 60.0,
    database_url: str | None = None,
) -> tuple[str, subprocess.Popen[Any]]:
    """Start ``python -m quart_blog serve`` on a free port (its ``serve`` applies migrations).

    ``database_url`` defaults to a fresh SQLite file ``workdir/blog.db``. Returns the base URL
    and the process; the output goes to ``workdir/server.log``. Raises RuntimeError when
    /healthz is not 200 within ``wait_s`` seconds or the server exits early.
    """
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url or f"sqlite+aiosqlite:///{workdir / 'blog.db'}",
        RATE_LIMITS="off",
        SECRET_KEY="loadtest-fixed-secret-key-not-for-production",
        BCRYPT_ROUNDS=str(BCRYPT_ROUNDS),
    )
    cmd = [sys.executable, "-m", "quart_blog", "serve", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", str(workers)]
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        proc = procs.spawn(cmd, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    wait_healthy(proc, port, wait_s, "quart-blog", log)
    return f"http://127.0.0.1:{port}", proc


def peer_venv() -> Path:
    """The virtualenv the peer's ``serve.sh`` uses (and builds when it is missing)."""
    default = Path(os.environ.get("TMPDIR") or "/tmp") / "flask_seed-venv"
    return Path(os.environ.get("PEER_VENV") or default)


def start_peer(
    procs: ProcessSet,
    peer_dir: Path,
    workdir: Path,
    database_url: str | None = None,
    wait_s: float | None = None,
    worker_class: str = "sync",
    threads: int = 4,
) -> tuple[str, subprocess.Popen[Any]]:
    """Start the Flask reference app with ``PEER_DIR/serve.sh PORT`` on a fresh database.

    ``database_url`` defaults to a fresh SQLite file in ``workdir/instance`` (FRESH_DB=1
    as well). ``serve.sh`` execs gunicorn, so the process is gunicorn's master, with its
    default worker count (2 x cores + 1) of ``worker_class`` (``gthread``: ``threads``
    threads each). The first start builds the peer's virtualenv, so the default wait is
    600 s then, else 60 s.
    """
    port = free_port()
    instance = workdir / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        FRESH_DB="1",
        BLOG_INSTANCE_PATH=str(instance),
        DATABASE_URL=database_url or f"sqlite:///{instance / 'blog.db'}",
        THREADS=str(threads),
    )
    workers = str(2 * (os.cpu_count() or 1) + 1)
    if wait_s is None:
        wait_s = 60.0 if (peer_venv() / "bin" / "gunicorn").exists() else 600.0
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        proc = procs.spawn(
            [str(peer_dir / "serve.sh"), str(port), workers, worker_class],
            cwd=peer_dir,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    wait_healthy(proc, port, wait_s, "peer", log)
    return f"http://127.0.0.1:{port}", proc


def wait_healthy(
    proc: subprocess.Popen[Any], port: int, wait_s: float, name: str, log: Path
) -> None:
    """Wait (at most ``wait_s``) for /healthz on 127.0.0.1:PORT; RuntimeError if not 200."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log}")
        if _healthz_ok(port):
            return
        time.sleep(0.25)
    raise RuntimeError(f"{name}: /healthz not 200 after {wait_s:.0f} s; see {log}")


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


def _cpu_stat(pid: int) -> tuple[str, int] | None:
    """(start time, utime + stime in clock ticks) of ``pid`` from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19], int(fields[11]) + int(fields[12])


def tree_pids(root: int, limit: int = 10_000) -> list[int]:
    """``root`` and its living descendants, from /proc/PID/task/*/children."""
    found, frontier = {root: None}, [root]
    while frontier and len(found) < limit:
        parent = frontier.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found[child] = None
                    frontier.append(child)
    return list(found)


class TreeCpu:
    """CPU seconds used by a process and all its descendants, as far as /proc has seen them.

    A process that exits keeps its last sampled figure (``seen``: pid → (start time,
    ticks)); a PID reused by a new process moves the old one's ticks to ``retired``.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, tuple[str, int]] = {}
        self.retired = 0
        self.hz = os.sysconf("SC_CLK_TCK")

    def sample(self) -> float:
        """Read the tree now; return its total CPU seconds (exited processes included)."""
        for pid in tree_pids(self.root):
            stat = _cpu_stat(pid)
            if stat is None:
                continue
            old = self.seen.get(pid)
            if old is not None and old[0] != stat[0]:
                self.retired += old[1]
            self.seen[pid] = stat
        return (self.retired + sum(ticks for _, ticks in self.seen.values())) / self.hz


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def serving_worker(root: int) -> int:
    """The PID of the one Hypercorn worker under ``quart-blog serve`` (the largest child)."""
    children = [
        pid
        for pid in tree_pids(root)
        if pid != root and "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    if not children:
        raise RuntimeError("no worker process under the server")
    return max(children, key=lambda pid: status_kib(pid, "VmRSS"))


class Databases:
    """PostgreSQL databases created for the bench (127.0.0.1:5432, user postgres, trust auth)."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.names: list[str] = []
        self.timeout_s = timeout_s

    def psql(self, sql: str) -> None:
        """Run one statement with ``psql`` (bounded); RuntimeError when it fails."""
        cmd = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres"]
        cmd += ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
        env = dict(os.environ, PGCONNECT_TIMEOUT="10")
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=self.timeout_s, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"psql {sql!r}: no answer after {self.timeout_s:.0f} s") from exc
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {done.stderr.strip() or done.returncode}")

    def create(self, name: str) -> None:
        """Create the empty database ``name`` (remembered first, so it is dropped in any case)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise RuntimeError(f"bad database name {name!r}")
        self.names.append(name)
        self.psql(f'CREATE DATABASE "{name}"')

    def drop(self, name: str) -> None:
        """Drop ``name`` (closing any connection left to it); a failure is only printed."""
        self.names = [n for n in self.names if n != name]
        try:
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (RuntimeError, OSError) as exc:
            print(f"bench: could not drop database {name}: {exc}", file=sys.stderr)

    def drop_all(self) -> None:
        """Drop every database still remembered."""
        for name in list(self.names):
            self.drop(name)


class DelayProxy:
    """``delayproxy.py`` in front of PostgreSQL: started, re-timed and stopped over its stdin."""

    def __init__(self, procs: ProcessSet, upstream: str, seconds: float) -> None:
        cmd = [sys.executable, str(Path(__file__).with_name("delayproxy.py"))]
        cmd += ["--upstream", upstream, "--delay-ms", "0", "--seconds", str(round(seconds))]
        self.procs = procs
        self.proc: subprocess.Popen[str] = procs.spawn(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.cpu = TreeCpu(self.proc.pid)
        ready = self.answer("READY", 20.0)
        self.port = int(ready["port"])

    def answer(self, tag: str, limit_s: float) -> dict[str, Any]:
        """The next ``TAG {json}`` line the proxy prints; RuntimeError after ``limit_s``."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + limit_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(timeout=left):
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith(tag + " "):
                    answer: dict[str, Any] = json.loads(line[len(tag) + 1 :])
                    return answer
        raise RuntimeError(f"delay proxy: no {tag} line within {limit_s:.0f} s")

    def set_delay(self, ms: float) -> None:
        """Delay every byte by ``ms`` each way from now on (open connections included)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"delay {ms}\n")
        self.proc.stdin.flush()
        self.answer("DELAY", 10.0)

    def stop(self) -> None:
        """Ask the proxy to stop (it closes every socket), then reap it."""
        self.procs.stop_by_stdin(self.proc)
