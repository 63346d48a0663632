"""CPU per request that the host's speed cannot move: instructions counted by callgrind.

    .venv/bin/python loadtest/instructions.py [--mode read|mixed] [--requests 800]
                                              [--conns 8] [--tree DIR ...]

This machine's speed drifts ±30 % from minute to minute, so two wrk runs minutes apart
cannot show a 5 % difference. ``valgrind --tool=callgrind`` counts the instructions a
process executes instead of timing it, and the count repeats to within a few per cent
whatever else the machine is doing (how requests batch in the event loop still varies a
little with timing). For each tree (default: this checkout; name others
with ``--tree``, e.g. a ``git worktree`` of an older commit) this:

1. starts ``python -m quart_blog serve --workers 1`` from that tree under callgrind
   (``--trace-children``: the Hypercorn worker is a child), on a fresh SQLite file with
   migrations applied, ``RATE_LIMITS=off``;
2. seeds 16 users with 25 posts each over the API, and sends 80 warm-up requests;
3. asks callgrind to dump its counts (``callgrind_control --dump``), sends exactly
   ``--requests`` requests over ``--conns`` keep-alive connections, and dumps again;
4. prints the worker's instructions per request between the two dumps: the event loop,
   Hypercorn, the app and the SQLite threads, all of it.

``--mode read`` sends ``GET /api/v1/posts?limit=20`` only; ``mixed`` the same sequence as
``lua/mixed.lua`` in kind (80 % lists, 15 % creates, 5 % deletes of posts it made), fixed,
not random. What callgrind cannot count is time in the kernel (system calls, futex waits,
scheduling): compare trees that make the same calls, and confirm with wrk.

Valgrind runs the worker about 50 times slower: a tree takes 3 to 4 minutes. Loopback only;
every server is stopped by PID at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from blogclient import Api, User, seed
from procs import REPO_ROOT, ProcessSet, free_port, serving_worker

SEED_USERS = 16
SEED_POSTS = 25
WARM_UP_REQUESTS = 80
START_LIMIT_S = 300.0
REQUEST_TIMEOUT_S = 120.0
DUMP_SETTLE_S = 2.0
BODY = "Mixed workload body text. " * 4


@dataclass(frozen=True)
class Step:
    """One request of the fixed sequence: ``list``, ``create`` or ``delete``."""

    kind: str
    user: int


def plan(count: int, mode: str, offset: int) -> list[Step]:
    """The fixed request sequence of one connection (``offset`` varies it by connection).

    Mixed: each step's roll is ``(37 * i + offset) % 100``; 95 and up deletes a post this
    connection created (when it has one), 80 to 94 creates one, the rest lists.
    """
    steps = []
    for i in range(count):
        roll = (37 * i + offset) % 100 if mode == "mixed" else 0
        kind = "delete" if roll >= 95 else "create" if roll >= 80 else "list"
        steps.append(Step(kind, (offset + i) % SEED_USERS))
    return steps


def summary_of(dump: str) -> int | None:
    """The instruction count of one callgrind dump (its ``summary:`` line)."""
    found = re.search(r"^summary: (\d+)", dump, re.MULTILINE)
    return int(found.group(1)) if found else None


def send(port: int, users: list[User], steps: list[Step]) -> None:
    """Send ``steps`` over one keep-alive connection; raise on any unexpected status.

    As in ``lua/mixed.lua``, a delete with no post of this connection's left is a list.
    """
    created: list[tuple[int, User]] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        for number, step in enumerate(steps):
            user = users[step.user]
            headers = {"Cookie": user.cookie, "User-Agent": "quart-blog-loadtest"}
            if step.kind == "delete" and created:
                post_id, owner = created.pop()
                headers["Cookie"] = owner.cookie
                expect(204, exchange(conn, "DELETE", f"/api/v1/posts/{post_id}", headers))
            elif step.kind == "create":
                body = json.dumps({"title": f"counted {number}", "body": BODY})
                headers["Content-Type"] = "application/json"
                data = expect(201, exchange(conn, "POST", "/api/v1/posts", headers, body))
                created.append((json.loads(data)["id"], user))
            else:
                expect(200, exchange(conn, "GET", "/api/v1/posts?limit=20", headers))
    finally:
        conn.close()


def expect(status: int, answer: tuple[int, bytes]) -> bytes:
    """The answer's body; raise unless it came with ``status``."""
    if answer[0] != status:
        raise RuntimeError(f"expected HTTP {status}, got {answer[0]}: {answer[1][:200]!r}")
    return answer[1]


def exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None = None,
) -> tuple[int, bytes]:
    """One request and its whole answer."""
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def run_all(port: int, users: list[User], total: int, conns: int, mode: str) -> None:
    """``total`` requests over ``conns`` connections at once, each its own fixed sequence."""
    errors: list[BaseException] = []

    def one(offset: int) -> None:
        try:
            send(port, users, plan(total // conns, mode, offset))
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=one, args=(7 * n,)) for n in range(conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def dump(pid: int, label: str) -> None:
    """Have callgrind write the counts since the last dump, and start counting afresh."""
    subprocess.run(
        ["callgrind_control", "--dump=" + label, str(pid)], check=True, capture_output=True
    )


def measure(tree: Path, mode: str, requests: int, conns: int, workdir: Path) -> float:
    """Instructions per request (millions) of ``tree``'s worker for the fixed sequence."""
    procs = ProcessSet()
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'blog.db'}",
        RATE_LIMITS="off",
        SECRET_KEY="loadtest-fixed-secret-key-not-for-production",
        BCRYPT_ROUNDS="4",
        PYTHONHASHSEED="0",
        PYTHONPATH=str(tree),
    )
    out = workdir / "callgrind.%p.out"
    cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}"]
    cmd += [sys.executable, "-m", "quart_blog", "serve", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", "1"]
    worker = 0
    try:
        with (workdir / "server.log").open("wb") as log:
            server = procs.spawn(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        api = Api(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_LIMIT_S
        while api.health_ms() is None:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server did not start; see {workdir / 'server.log'}")
            time.sleep(1)
        users, _ = seed(api, SEED_USERS, SEED_POSTS, workers=4)
        run_all(port, users, WARM_UP_REQUESTS, conns, mode)
        worker = serving_worker(server.pid)
        dump(worker, "before")
        run_all(port, users, requests, conns, mode)
        dump(worker, "after")
        time.sleep(DUMP_SETTLE_S)
    finally:
        procs.stop_all()
    for path in workdir.glob(f"callgrind.{worker}.out*"):
        text = path.read_text(errors="replace")
        if "Trigger: dump after" in text:
            count = summary_of(text)
            if count is not None:
                return count / (requests // conns * conns) / 1e6
    raise RuntimeError(f"no callgrind dump 'after' in {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("read", "mixed"), default="mixed")
    parser.add_argument("--requests", type=int, default=800, help="counted requests")
    parser.add_argument("--conns", type=int, default=8, help="keep-alive connections at once")
    parser.add_argument(
        "--tree", type=Path, action="append", help="a checkout to measure (repeatable)"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("instructions.py needs valgrind (apt-get install -y valgrind)")
    for tree in args.tree or [REPO_ROOT]:
        with tempfile.TemporaryDirectory(prefix="instructions-") as workdir:
            per_request = measure(
                tree.resolve(), args.mode, args.requests, args.conns, Path(workdir)
            )
        print(f"{tree}: {args.mode}: {per_request:.3f} M instructions per request", flush=True)


if __name__ == "__main__":
    main()
