"""Benchmark quart-blog with wrk, optionally side by side with another server.

    python loadtest/bench.py [--compare flask|BASE_URL] [--peer DIR] [--rounds N]
                             [--database sqlite|postgresql]
                             [--conns 64,256,1024] [--duration 10]
                             [--scenarios health,read,write,mixed,login-storm,slow-clients,
                                          token-read]
                             [--out DIR] [--target BASE_URL]
                             [--storm-duration 30] [--probe-every 100]
    python loadtest/bench.py --scenarios db-latency [--delays 0,1,5] [--threads 4]

Starts ``quart-blog serve`` itself (fresh database, RATE_LIMITS=off, BCRYPT_ROUNDS=12)
unless ``--target`` names a server that is already running; ``--compare flask`` starts the
Flask reference app (``PEER/serve.sh PORT``) too. Each of the ``--rounds`` starts the
servers afresh on new databases (SQLite files, or PostgreSQL databases created and
dropped with ``psql``), seeds users and posts through the JSON API and runs every wrk
scenario, the servers interleaved and the one going first alternating by round. Each run
records the server's process-tree CPU (from /proc). Prints Markdown tables (every run, and
medians over the rounds), writes results.json and draws PNG charts beside it (``charts.py``,
with matplotlib; skipped with a note when it is not installed).

``token-read`` reads the same pages as ``read``, once with the seeded users' cookies and
once with an API token each (``Authorization: Bearer``, a read token made at seeding), in
turn, and compares the server's CPU per request of the two. The Flask reference has no
tokens, so it runs on quart-blog (or any ``--target``/``--compare`` server that makes
tokens) only.

``db-latency`` (run alone; PostgreSQL) puts ``delayproxy.py`` between the servers and
PostgreSQL and runs read and mixed (at 256 and 1024 connections unless ``--conns`` says
otherwise) against quart-blog and the Flask reference in its sync and its gthread worker
classes, once per ``--delays`` value (ms added each way, default 1), all servers sharing
one proxy whose delay changes between settings. Seeding happens at 0 ms.

Needs the ``wrk`` binary; everything else is the standard library (plus passlib, when
installed, to time one password check for the login storm's yardstick, and matplotlib for
the charts). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from blogclient import Api, BenchError, User, check_loopback_url, count_all, seed, wait_until_fast
from procs import (
    BCRYPT_ROUNDS,
    REPO_ROOT,
    Databases,
    DelayProxy,
    ProcessSet,
    TreeCpu,
    start_peer,
    start_quart_blog,
)
from wrkrun import (
    WRK_TIMEOUT_S,
    finish_wrk,
    listen_overflows,
    lua_string,
    run_wrk,
    start_wrk,
    write_users_file,
    wrk_command,
)

SCENARIOS = ("health", "read", "write", "mixed", "login-storm", "slow-clients", "token-read")
TOKEN_READ = "token-read"
DB_LATENCY = "db-latency"
LATENCY_SCENARIOS = ("read", "mixed")
LATENCY_CONNS = [256, 1024]
PROXY_SECONDS = 4 * 3600  # the proxy's own time limit; the bench stops it long before
SCRIPTS = {
    "health": "health.lua",
    "read": "read.lua",
    "write": "write.lua",
    "mixed": "mixed.lua",
    "login-storm": "login.lua",
}
SLOW_READ_CONNS = 256
STEADY_SKIP_S = 3  # login-storm: seconds of start-up left out of the steady rate
PROBE_POINTS_MAX = 4000  # login-storm: probes kept per run for the chart (see probe_timeline)
SLOW_ROUNDS = 2  # slow-clients: alone/with pairs, run in turn
SETTLE_LIMIT_S = 60.0
HERE = Path(__file__).resolve().parent
DEFAULT_PEER = REPO_ROOT.parent / "shared" / "peers" / "flask_seed"
MAX_ROUNDS = 20
PG_SERVER = "postgres@127.0.0.1:5432"
# (key in run_metrics, column heading, decimals, heading of ours/theirs of the medians or "")
SUMMARY_METRICS = (
    ("ok_rps", "2xx/s", 1, "2xx/s ratio"),
    ("p99_ms", "p99 ms", 2, "p99 ratio"),
    ("cpu_ms_per_request", "CPU ms/req", 3, ""),
)


@dataclass
class Target:
    """One server under test and the users seeded on it."""

    name: str
    api: Api
    users: list[User] = field(default_factory=list)
    users_file: Path | None = None
    seed_s: float = 0.0
    proc: subprocess.Popen[Any] | None = None  # set when the bench started the server
    cpu: TreeCpu | None = None
    database: str = ""
    pg_name: str = ""  # the PostgreSQL database created for it, dropped after its round
    tokens_file: Path | None = None  # token-read: one API token per seeded user (Lua)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description="wrk benchmark for quart-blog")
    p.add_argument(
        "--compare",
        metavar="flask|BASE_URL",
        help="also benchmark the Flask reference app (started fresh each round) "
        "or this running server",
    )
    p.add_argument(
        "--peer",
        type=Path,
        default=DEFAULT_PEER,
        metavar="DIR",
        help="the Flask reference app's folder, with serve.sh (default: %(default)s)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="times the whole scenario list runs, servers restarted on fresh databases "
        "(default: 3 with --compare, else 1)",
    )
    p.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help=f"database of the servers the bench starts (postgresql: {PG_SERVER})",
    )
    p.add_argument("--target", metavar="BASE_URL", help="benchmark this running server instead")
    p.add_argument(
        "--conns",
        help="comma-separated connection counts (default 64,256,1024; db-latency 256,1024)",
    )
    p.add_argument(
        "--delays",
        default="1",
        help="db-latency: comma-separated delays added each way, ms (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=4,
        help="db-latency: threads per gthread worker of the reference (default %(default)s)",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    p.add_argument("--out", type=Path, help="results directory (default: a new temp dir)")
    p.add_argument("--users", type=int, default=64, help="users seeded per server")
    p.add_argument("--posts", type=int, default=50, help="posts seeded per user")
    p.add_argument("--workers", type=int, default=2, help="quart-blog worker processes")
    p.add_argument("--slow-conns", type=int, default=200, help="slow connections (slow-clients)")
    p.add_argument(
        "--storm-duration",
        type=float,
        default=30.0,
        help="seconds per login-storm run (its steady rate leaves out the first 3)",
    )
    p.add_argument(
        "--probe-every",
        type=int,
        default=100,
        metavar="MS",
        help="login-storm: each of the 2 probe connections asks /healthz every MS ms (0: flat out)",
    )
    p.add_argument("--keep-data", action="store_true", help="keep users-*.lua (live credentials)")
    args = p.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    latency = DB_LATENCY in args.scenarios
    if args.conns is None:
        args.conns = LATENCY_CONNS if latency else [64, 256, 1024]
    else:
        args.conns = [int(c) for c in args.conns.split(",") if c.strip()]
    unknown = sorted(set(args.scenarios) - {*SCENARIOS, DB_LATENCY})
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}")
    if latency:
        if args.scenarios != [DB_LATENCY] or args.target or args.compare:
            p.error("db-latency runs alone and starts its own servers (no --target/--compare)")
        args.database = "postgresql"
        try:
            args.delays = [float(d) for d in args.delays.split(",") if d.strip()]
        except ValueError:
            p.error("--delays: comma-separated numbers of milliseconds")
        if not args.delays or not all(0 <= d <= 100 for d in args.delays):
            p.error("--delays: each must be 0..100 ms")
        if not 1 <= args.threads <= 64:
            p.error("--threads must be 1..64")
    if not args.conns or min(args.conns) < 2 or max(args.conns) > 10_000:
        p.error("--conns: each count must be between 2 and 10000")
    if not 1 <= args.duration <= 600 or not 1 <= args.users <= 10_000 or args.posts < 0:
        p.error("--duration must be 1..600 s, --users 1..10000, --posts >= 0")
    if not 5 <= args.storm_duration <= 600:
        p.error("--storm-duration must be 5..600 s")
    if not 0 <= args.probe_every <= 10_000:
        p.error("--probe-every must be 0..10000 ms")
    if args.rounds is None:
        args.rounds = 3 if args.compare or latency else 1
    if not 1 <= args.rounds <= MAX_ROUNDS:
        p.error(f"--rounds must be 1..{MAX_ROUNDS}")
    args.peer = args.peer.resolve()
    if args.compare == "flask" and not (args.peer / "serve.sh").is_file():
        p.error(f"--peer {args.peer}: no serve.sh there")
    if args.database == "postgresql" and shutil.which("psql") is None:
        p.error("--database postgresql needs the psql client on PATH")
    for url in (None if args.compare == "flask" else args.compare, args.target):
        if url:
            try:
                check_loopback_url(url)
            except BenchError as exc:
                p.error(str(exc))
    return args


def steady_rate(counters: dict[str, int], started: float, duration: float) -> float | None:
    """Logins per second over the whole seconds from ``STEADY_SKIP_S`` in to the end of the run.

    ``login.lua`` counts successful logins per wall-clock second (``ok_at_EPOCH``). The first
    seconds are left out: every client's first request arrives at once, and the first
    answers wait a whole verify. None when the run is too short to have such seconds.
    """
    first, end = int(started + STEADY_SKIP_S) + 1, int(started + duration)
    seconds = range(first, end)  # whole seconds inside [started + skip, started + duration)
    if len(seconds) < 2:
        return None
    return sum(counters.get(f"ok_at_{second}", 0) for second in seconds) / len(seconds)


def probe_timeline(samples: list[tuple[float, float]], started: float) -> dict[str, Any]:
    """A login storm's probes as seconds since the storm began and latency ms, for the chart.

    ``samples`` are (wall-clock second answered, ms) from ``probe.lua``. Beyond
    ``PROBE_POINTS_MAX`` (a flat-out probe answers thousands a second) only the slowest
    probe of each of that many equal slices of the run is kept.
    """
    points = sorted((t - started, ms) for t, ms in samples)
    kept = "every probe answered" if points else "none (wrk without LuaJIT's ffi?)"
    if len(points) > PROBE_POINTS_MAX:
        first = points[0][0]
        width = (points[-1][0] - first) / PROBE_POINTS_MAX or 1.0
        slowest: dict[int, tuple[float, float]] = {}
        for t, ms in points:
            slot = min(int((t - first) / width), PROBE_POINTS_MAX - 1)
            if slot not in slowest or ms > slowest[slot][1]:
                slowest[slot] = (t, ms)
        points = [slowest[slot] for slot in sorted(slowest)]
        kept = f"the slowest probe of every {width:.3f} s"
    return {
        "kept": kept,
        "t_s": [round(t, 3) for t, _ in points],
        "latency_ms": [round(ms, 2) for _, ms in points],
    }


def login_ceiling(rounds: int = BCRYPT_ROUNDS, tries: int = 5) -> dict[str, float] | None:
    """Cores ÷ one password check, as quart-blog checks it (passlib's ``bcrypt_sha256``).

    The login storm's yardstick. Measured here with the project's own passlib (the median
    of a few checks on this machine); None when passlib is not installed, as when the
    bench runs outside the project's environment.
    """
    try:
        from passlib.context import CryptContext
    except ImportError:
        return None
    context = CryptContext(schemes=["bcrypt_sha256"], bcrypt_sha256__rounds=rounds)
    stored = context.hash("loadtest password")
    times = []
    for _ in range(tries):
        began = time.perf_counter()
        context.verify("loadtest password", stored)
        times.append(time.perf_counter() - began)
    verify_s = sorted(times)[tries // 2]
    cores = os.cpu_count() or 1
    return {"cores": cores, "verify_s": round(verify_s, 4), "per_s": round(cores / verify_s, 2)}


class Bench:
    """Runs the scenarios against the targets and collects one record per wrk run."""

    def __init__(self, args: argparse.Namespace, out: Path, procs: ProcessSet) -> None:
        self.args = args
        self.out = out
        self.procs = procs
        self.raw = out / "raw"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.runs: list[dict[str, Any]] = []
        self.round = 1
        self.raw_suffix = ""  # db-latency: the delay, so each setting keeps its own raw files

    # -- set-up ---------------------------------------------------------------

    def prepare(self, target: Target) -> None:
        """Seed users and posts on ``target`` and write its users file for wrk."""
        print(f"[{target.name}] seeding {self.args.users} users x {self.args.posts} posts ...")
        target.users, target.seed_s = seed(target.api, self.args.users, self.args.posts)
        target.users_file = self.out / f"users-{target.name}-r{self.round}.lua"
        write_users_file(target.users, target.users_file)
        print(f"[{target.name}] seeded in {target.seed_s:.1f} s")
        if TOKEN_READ in self.args.scenarios:
            target.tokens_file = self.make_tokens(target)

    def make_tokens(self, target: Target) -> Path | None:
        """A read token for every seeded user, as a Lua file for ``token_read.lua``.

        None when the server makes no tokens (the Flask reference): token-read skips it.
        """
        tokens = []
        for user in target.users:
            token = make_read_token(target.api, user)
            if token is None:
                print(f"[{target.name}] no API tokens here: {TOKEN_READ} skips this server")
                return None
            tokens.append(token)
        path = self.out / f"users-tokens-{target.name}-r{self.round}.lua"
        rows = [f"  {{token = {lua_string(token)}}}," for token in tokens]
        path.write_text("return {\nusers = {\n" + "\n".join(rows) + "\n}\n}\n")
        path.chmod(0o600)
        print(f"[{target.name}] made {len(tokens)} read tokens")
        return path

    def settle(self, target: Target) -> float:
        """Wait (bounded) until /healthz is fast again; return the seconds it took."""
        return round(wait_until_fast(target.api, SETTLE_LIMIT_S), 2)

    # -- scenarios ------------------------------------------------------------

    def raw_path(self, target: Target, tag: str, conns: int) -> Path:
        """Where one wrk run's command and output are kept."""
        return self.raw / f"r{self.round}-{target.name}-{tag}{self.raw_suffix}-c{conns}.txt"

    def wrk(
        self, target: Target, script: str, conns: int, tag: str, users_file: Path | None = None
    ) -> dict[str, Any]:
        """One wrk run of ``script`` against ``target``, with the server's CPU meanwhile.

        The script reads ``users_file`` (default: the target's seeded users and cookies).
        """
        users = users_file or target.users_file
        cmd = wrk_command(script, target.api.base_url, conns, self.args.duration, users)
        before = cpu_seconds(target)
        rec = run_wrk(self.procs, cmd, self.args.duration, self.raw_path(target, tag, conns))
        rec.update(cpu_record(target, before, rec["requests"]))
        return rec

    def run(self, target: Target, scenario: str, conns: int) -> list[dict[str, Any]]:
        """Run one scenario at one connection count; return its records."""
        self.settle(target)
        if scenario == "write":
            records = [self.run_write(target, conns)]
        elif scenario == "login-storm":
            records = [self.run_login_storm(target, conns)]
        elif scenario == "slow-clients":
            records = self.run_slow_clients(target, conns)
        elif scenario == TOKEN_READ:
            records = self.run_token_read(target, conns)
        else:
            records = [self.wrk(target, SCRIPTS[scenario], conns, scenario)]
            if scenario == "mixed":
                records[0]["notes"] = mixed_notes(records[0])
        for rec in records:
            rec.setdefault("phase", "")
            rec.update(target=target.name, scenario=scenario, conns=conns, round=self.round)
        if "drain_s" not in records[-1]:
            records[-1]["drain_s"] = self.settle(target)
        return records

    def run_write(self, target: Target, conns: int) -> dict[str, Any]:
        """POST posts, then compare 201s (acked) with rows counted through the API (landed)."""
        before = count_all(target.api, target.users)
        rec = self.wrk(target, "write.lua", conns, "write")
        rec["drain_s"] = self.settle(target)
        landed = count_all(target.api, target.users) - before
        acked = rec["status"].get("201", 0)
        rec["rows"] = {"acked": acked, "landed": landed, "lost": max(0, acked - landed)}
        rec["notes"] = f"acked {acked}, landed {landed}, lost {max(0, acked - landed)}"
        return rec

    def run_login_storm(self, target: Target, conns: int) -> dict[str, Any]:
        """Correct-password logins at ``conns``; 2 connections probe /healthz meanwhile."""
        d = self.args.storm_duration
        main_cmd = wrk_command("login.lua", target.api.base_url, conns, d, target.users_file)
        probe_cmd = wrk_command(
            "probe.lua",
            target.api.base_url,
            2,
            max(1.0, d - 2),
            None,
            threads=2,  # one connection per thread: probe.lua times each request
            script_args=(str(self.args.probe_every),),
        )
        overflows = listen_overflows()
        cpu_before = cpu_seconds(target)
        started = time.time()
        main_proc = start_wrk(self.procs, main_cmd)
        time.sleep(min(1.0, d / 4))
        probe = finish_wrk(
            self.procs,
            start_wrk(self.procs, probe_cmd),
            d + 30,
            self.raw_path(target, "login-storm-probe", conns),
        )
        rec = finish_wrk(self.procs, main_proc, d + 30, self.raw_path(target, "login-storm", conns))
        rec["listen_overflows"] = listen_overflows() - overflows
        # CPU per request over both wrks: the server answered the probes too.
        rec.update(cpu_record(target, cpu_before, rec["requests"] + probe["requests"]))
        logins = rec["status"].get("200", 0) / rec["seconds"]
        rec["logins_per_s"] = round(logins, 1)
        steady = steady_rate(rec["counters"], started, d)
        rec["steady_logins_per_s"] = None if steady is None else round(steady, 2)
        rec["healthz_probe"] = {k: probe[k] for k in ("requests", "rps", "latency_ms", "non_2xx")}
        rec["healthz_probe"]["socket_errors"] = probe["socket_errors"]
        lat = probe["latency_ms"]
        rec["healthz_probe"]["every_ms"] = self.args.probe_every
        rec["healthz_probe"]["timeline"] = probe_timeline(probe.get("samples", []), started)
        steady_text = "" if steady is None else f" ({steady:.2f} after the first {STEADY_SKIP_S} s)"
        rec["notes"] = (
            f"logins/s {logins:.1f}{steady_text}; /healthz every {self.args.probe_every} ms: "
        ) + (
            "nothing answered"
            if not probe["requests"]
            else f"{probe['requests']} answered, every one after the {WRK_TIMEOUT_S} s timeout"
            if not lat["p99"]
            else f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, {probe['requests']} answered"
        )
        return rec

    def run_token_read(self, target: Target, conns: int) -> list[dict[str, Any]]:
        """The read scenario with cookies, then with Bearer tokens (the order swaps every
        round, so drift in the host's speed falls on both); CPU per request of each.
        """
        assert target.tokens_file is not None
        kinds = ("cookie", "bearer") if self.round % 2 else ("bearer", "cookie")
        records: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            if kind == "cookie":
                rec = self.wrk(target, "read.lua", conns, f"{TOKEN_READ}-cookie")
            else:
                tag = f"{TOKEN_READ}-bearer"
                rec = self.wrk(target, "token_read.lua", conns, tag, target.tokens_file)
            rec.update(phase=kind, drain_s=self.settle(target))
            records[kind] = rec
        bearer, cookie = records["bearer"], records["cookie"]
        ratio = cpu_ratio(bearer, cookie)
        bearer["bearer_vs_cookie_cpu"] = ratio
        bearer["notes"] = (
            f"CPU ms/req bearer {cell(bearer.get('cpu_ms_per_request'))} vs cookie "
            f"{cell(cookie.get('cpu_ms_per_request'))} (ratio {cell(ratio)}); 2xx/s bearer "
            f"{ok_rps(bearer):.0f} vs cookie {ok_rps(cookie):.0f}"
        )
        return [records[kind] for kind in kinds]

    def run_slow_clients(self, target: Target, conns: int) -> list[dict[str, Any]]:
        """Read alone, then while slow clients trickle requests, ``SLOW_ROUNDS`` times in turn.

        The machine's speed drifts by more than the slow clients cost, so alone and with
        alternate and the ratio compares their sums: one pair of runs scattered 0.81-1.14.
        """
        runs: list[dict[str, Any]] = []
        alone_rps = with_rps = 0.0
        for round_no in range(1, SLOW_ROUNDS + 1):
            tag = f" ({round_no}/{SLOW_ROUNDS})"
            alone = self.wrk(target, "read.lua", conns, f"slow-clients-alone-{round_no}")
            alone.update(phase="read alone" + tag, drain_s=self.settle(target))
            with_slow = self.read_with_slow_clients(target, conns, round_no)
            with_slow["phase"] = f"read + {self.args.slow_conns} slow" + tag
            alone_rps += alone["rps"]
            with_rps += with_slow["rps"]
            runs += [alone, with_slow]
        ratio = with_rps / alone_rps if alone_rps else 0.0
        last = runs[-1]
        last["ratio_with_alone"] = round(ratio, 3)
        last["notes"] = f"with/alone over {SLOW_ROUNDS} rounds {ratio:.2f}; " + last["notes"]
        return runs

    def read_with_slow_clients(self, target: Target, conns: int, round_no: int) -> dict[str, Any]:
        """One read run while ``--slow-conns`` connections send a byte a second."""
        slow = self.start_slow_clients(target)
        try:
            ready = read_tagged_line(slow, "READY", 20.0)
            with_slow = self.wrk(target, "read.lua", conns, f"slow-clients-with-{round_no}")
        finally:
            result = self.stop_slow_clients(slow)
        with_slow.update(
            drain_s=self.settle(target),
            slow_clients={"ready": ready, "result": result},
            notes=(
                f"slow conns open at end "
                f"{(result or {}).get('open_now', '?')}/{self.args.slow_conns}, "
                f"closed by server {(result or {}).get('closed_by_server', '?')}"
            ),
        )
        return with_slow

    def start_slow_clients(self, target: Target) -> subprocess.Popen[str]:
        """Start ``slowclients.py`` with a hard time limit."""
        cmd = [sys.executable, str(HERE / "slowclients.py"), "--url", target.api.base_url]
        cmd += ["--conns", str(self.args.slow_conns), "--seconds", str(self.args.duration + 60)]
        return self.procs.spawn(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def stop_slow_clients(self, proc: subprocess.Popen[str]) -> dict[str, Any] | None:
        """Ask the slow clients to stop, read their RESULT line (bounded), then reap them."""
        try:
            if proc.stdin:
                proc.stdin.write("stop\n")
                proc.stdin.close()
        except OSError:
            pass
        result = read_tagged_line(proc, "RESULT", 15.0)
        self.procs.stop(proc, grace=5)
        return result


def read_tagged_line(proc: subprocess.Popen[str], tag: str, limit_s: float) -> Any:
    """Read ``proc``'s stdout until a line ``TAG {json}``; None after ``limit_s`` or EOF."""
    if proc.stdout is None:
        return None
    deadline = time.monotonic() + limit_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = proc.stdout.readline()
            if not line:
                return None
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1 :])
    return None


def cpu_seconds(target: Target) -> float | None:
    """The server's process-tree CPU seconds so far; None when the bench did not start it."""
    return target.cpu.sample() if target.cpu is not None else None


def cpu_record(target: Target, before: float | None, requests: int) -> dict[str, float | None]:
    """``cpu_s`` used by the server since ``before`` and ``cpu_ms_per_request`` answered."""
    after = cpu_seconds(target)
    if before is None or after is None:
        return {"cpu_s": None, "cpu_ms_per_request": None}
    cpu_s = after - before
    per_request = round(1000 * cpu_s / requests, 3) if requests else None
    return {"cpu_s": round(cpu_s, 3), "cpu_ms_per_request": per_request}


def make_read_token(api: Api, user: User) -> str | None:
    """A read API token made with the user's session; None when the server has no tokens.

    Making a token needs recent authentication; a session older than that confirms its
    password first.
    """
    body = {"name": "bench token-read", "scope": "read", "expires_in_days": 1}
    status, _, data = api.call("POST", "/api/v1/tokens", body, user.cookie)
    if status == 403 and b"reauth_required" in data:
        api.call("POST", "/api/v1/reauth", {"password": user.password}, user.cookie)
        status, _, data = api.call("POST", "/api/v1/tokens", body, user.cookie)
    if status in (404, 405):
        return None
    if status != 201:
        raise BenchError(f"token for {user.username}: HTTP {status} {data[:200]!r}")
    return str(json.loads(data)["token"])


def cpu_ratio(bearer: dict[str, Any], cookie: dict[str, Any]) -> float | None:
    """Bearer ÷ cookie CPU per request (None when either is unknown)."""
    a, b = bearer.get("cpu_ms_per_request"), cookie.get("cpu_ms_per_request")
    return round(a / b, 3) if a is not None and b else None


def token_read_summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per server and connection count: median CPU ms per request, cookie and bearer, over
    the rounds, and the ratio of the medians (bearer ÷ cookie; at most 1 is the goal)."""
    groups: dict[tuple[str, int], dict[str, list[float]]] = {}
    for r in runs:
        if r["scenario"] == TOKEN_READ and r.get("cpu_ms_per_request") is not None:
            kinds = groups.setdefault((r["target"], r["conns"]), {"cookie": [], "bearer": []})
            kinds[r["phase"]].append(r["cpu_ms_per_request"])
    rows = []
    for (name, conns), kinds in groups.items():
        cookie = statistics.median(kinds["cookie"]) if kinds["cookie"] else None
        bearer = statistics.median(kinds["bearer"]) if kinds["bearer"] else None
        ratio = round(bearer / cookie, 3) if bearer is not None and cookie else None
        rows.append(
            {
                "target": name,
                "conns": conns,
                "rounds": min(len(kinds["cookie"]), len(kinds["bearer"])),
                "cookie_cpu_ms_per_request": cookie,
                "bearer_cpu_ms_per_request": bearer,
                "ratio": ratio,
            }
        )
    return rows


def token_read_markdown(rows: list[dict[str, Any]]) -> str:
    """The token-read comparison as a Markdown table."""
    lines = [
        "token-read: CPU ms per request, median over the rounds (bearer ÷ cookie ≤ 1: a "
        "Bearer read costs no more than a cookie read)",
        "",
        "| server | conns | rounds | cookie CPU ms/req | bearer CPU ms/req | bearer ÷ cookie |",
        "|---|---|---|---|---|---|",
    ]
    for x in rows:
        lines.append(
            f"| {x['target']} | {x['conns']} | {x['rounds']} | "
            f"{cell(x['cookie_cpu_ms_per_request'])} | {cell(x['bearer_cpu_ms_per_request'])} | "
            f"{cell(x['ratio'])} |"
        )
    return "\n".join(lines)


def mixed_notes(rec: dict[str, Any]) -> str:
    """Requests sent per kind vs the answers that mean success."""
    c, s = rec["counters"], rec["status"]
    return (
        f"list {c.get('list_sent', 0)}/200:{s.get('200', 0)}, "
        f"create {c.get('create_sent', 0)}/201:{s.get('201', 0)}, "
        f"delete {c.get('delete_sent', 0)}/204:{s.get('204', 0)}"
    )


def ok_rps(rec: dict[str, Any]) -> float:
    """2xx answers per second (errors answered quickly do not count)."""
    ok = sum(n for code, n in rec["status"].items() if code.startswith("2"))
    return ok / rec["seconds"] if rec["seconds"] else 0.0


def ratios(runs: list[dict[str, Any]], ours: str, theirs: str) -> list[dict[str, Any]]:
    """ours/theirs per round, scenario, phase and connection count (2xx/s and p99)."""
    index = {(r["round"], r["target"], r["scenario"], r["phase"], r["conns"]): r for r in runs}
    rows = []
    for (round_no, name, scenario, phase, conns), mine in index.items():
        other = index.get((round_no, theirs, scenario, phase, conns))
        if name != ours or other is None:
            continue
        a, b = ok_rps(mine), ok_rps(other)
        pa, pb = mine["latency_ms"]["p99"], other["latency_ms"]["p99"]
        rows.append(
            {
                "round": round_no,
                "scenario": scenario + (f" ({phase})" if phase else ""),
                "conns": conns,
                "theirs": theirs,
                "ours_ok_rps": round(a, 1),
                "theirs_ok_rps": round(b, 1),
                "ratio_ok_rps": round(a / b, 2) if b else None,
                "ours_p99_ms": pa,
                "theirs_p99_ms": pb,
                "ratio_p99": round(pa / pb, 2) if pa is not None and pb else None,
            }
        )
    return rows


def run_metrics(rec: dict[str, Any]) -> dict[str, float | None]:
    """The figures the summary compares: 2xx/s, p99 ms and CPU ms per request."""
    return {
        "ok_rps": round(ok_rps(rec), 1),
        "p99_ms": rec["latency_ms"]["p99"],
        "cpu_ms_per_request": rec.get("cpu_ms_per_request"),
    }


def spread(values: list[float], digits: int) -> dict[str, float] | None:
    """Median, min and max of ``values`` (None when there are none)."""
    if not values:
        return None
    return {
        "median": round(statistics.median(values), digits),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def median_ratio(servers: dict[str, dict[str, Any]], ours: str, theirs: str, key: str) -> Any:
    """ours/theirs of the medians of ``key``; None when either is missing or zero."""
    a, b = servers.get(ours, {}).get(key), servers.get(theirs, {}).get(key)
    return round(a["median"] / b["median"], 2) if a and b and b["median"] else None


def summary(runs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Per scenario, phase and conns: each server's median (min-max) over the rounds."""
    groups: dict[tuple[str, str, int], dict[str, list[dict[str, float | None]]]] = {}
    for r in runs:
        by_name = groups.setdefault((r["scenario"], r["phase"], r["conns"]), {})
        by_name.setdefault(r["target"], []).append(run_metrics(r))
    rows = []
    for (scenario, phase, conns), by_name in groups.items():
        servers = {
            name: {
                key: spread([v for m in by_name[name] if (v := m[key]) is not None], digits)
                for key, _, digits, _ in SUMMARY_METRICS
            }
            for name in names
            if name in by_name
        }
        row: dict[str, Any] = {
            "scenario": scenario + (f" ({phase})" if phase else ""),
            "conns": conns,
            "rounds": max(len(v) for v in by_name.values()),
            "servers": servers,
        }
        for other in names[1:]:
            for key, _, _, ratio_label in SUMMARY_METRICS:
                if ratio_label:
                    row[ratio_key(key, other, names)] = median_ratio(servers, names[0], other, key)
        rows.append(row)
    return rows


def ratio_key(key: str, other: str, names: list[str]) -> str:
    """Where a summary row keeps ours/``other`` of ``key`` (``ratio_KEY`` with one other)."""
    return f"ratio_{key}" if len(names) == 2 else f"ratio_{key}_vs_{other}"


def cell(value: Any) -> str:
    """A table cell: "-" for missing values, thousands separators for big numbers."""
    if value is None or value == "":
        return "-"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return str(value)


def spread_cell(stats: dict[str, float] | None) -> str:
    """``median (min-max)``, or the value alone when the rounds agree or there is one."""
    if stats is None:
        return "-"
    if stats["min"] == stats["max"]:
        return cell(stats["median"])
    return f"{cell(stats['median'])} ({cell(stats['min'])}-{cell(stats['max'])})"


def summary_markdown(rows: list[dict[str, Any]], names: list[str]) -> str:
    """The summary as a Markdown table, ours/theirs of the medians after each pair."""
    head = ["scenario", "conns", "rounds"]
    for _, label, _, ratio_label in SUMMARY_METRICS:
        head += [f"{name} {label}" for name in names]
        if ratio_label:
            head += [
                ratio_label if len(names) == 2 else f"{ratio_label} vs {other}"
                for other in names[1:]
            ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x in rows:
        cells = [x["scenario"], str(x["conns"]), str(x["rounds"])]
        for key, _, _, ratio_label in SUMMARY_METRICS:
            cells += [spread_cell(x["servers"].get(name, {}).get(key)) for name in names]
            if ratio_label:
                cells += [cell(x[ratio_key(key, other, names)]) for other in names[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(
    runs: list[dict[str, Any]],
    ratio_rows: list[dict[str, Any]],
    summary_rows: list[dict[str, Any]],
    names: list[str],
) -> str:
    """The results as Markdown tables: every run, ours/theirs per round, the summary."""
    head = "| round | target | scenario | conns | req/s | p50 ms | p99 ms | max ms | non-2xx | "
    head += "sock err c/r/w/t | listen ovf | CPU ms/req | drain s | notes |"
    lines = [head, "|" + "---|" * 14]
    for r in runs:
        e, lat = r["socket_errors"], r["latency_ms"]
        name = r["scenario"] + (f" ({r['phase']})" if r["phase"] else "")
        lines.append(
            f"| {r['round']} | {r['target']} | {name} | {r['conns']} | {cell(r['rps'])} | "
            f"{cell(lat['p50'])} | {cell(lat['p99'])} | {cell(lat['max'])} | {r['non_2xx']} | "
            f"{e['connect']}/{e['read']}/{e['write']}/{e['timeout']} | "
            f"{cell(r.get('listen_overflows'))} | {cell(r.get('cpu_ms_per_request'))} | "
            f"{cell(r.get('drain_s'))} | {cell(r.get('notes'))} |"
        )
    if ratio_rows:
        lines += ["", "| round | scenario | conns | theirs | ours 2xx/s | theirs 2xx/s | ratio | "]
        lines[-1] += "ours p99 ms | theirs p99 ms | p99 ratio |"
        lines.append("|" + "---|" * 10)
        for x in ratio_rows:
            lines.append(
                f"| {x['round']} | {x['scenario']} | {x['conns']} | {x['theirs']} | "
                f"{cell(x['ours_ok_rps'])} | "
                f"{cell(x['theirs_ok_rps'])} | {cell(x['ratio_ok_rps'])} | "
                f"{cell(x['ours_p99_ms'])} | {cell(x['theirs_p99_ms'])} | {cell(x['ratio_p99'])} |"
            )
    if summary_rows:
        lines += ["", summary_title(summary_rows, names), "", summary_markdown(summary_rows, names)]
    return "\n".join(lines)


def summary_title(rows: list[dict[str, Any]], names: list[str]) -> str:
    """The line above the summary table saying what its cells are."""
    rounds = max(x["rounds"] for x in rows)
    text = f"Summary: median over {rounds} round(s), (min-max) of the rounds in brackets"
    if len(names) >= 2:
        text += f"; ratio = {names[0]}/each other server of the medians"
    return text + "; CPU = the server's whole process tree per request answered."


def machine_info() -> dict[str, Any]:
    """Facts about the machine that matter when reading the numbers."""
    try:
        wrk_v = subprocess.run(
            ["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        wrk_v = "unknown"
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk_v,
    }


def raise_fd_limit() -> None:
    """Allow as many open files as the hard limit permits (wrk and slow clients inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def fresh_database(
    args: argparse.Namespace,
    dbs: Databases,
    prefix: str,
    driver: str,
    round_no: int,
    server: str = PG_SERVER,
) -> tuple[str | None, str]:
    """(DATABASE_URL, name of the database created) for one server; (None, "") on SQLite.

    The database is created on PostgreSQL itself; the URL reaches it through ``server``
    (the delay proxy, for db-latency).
    """
    if args.database != "postgresql":
        return None, ""
    name = f"bench_{prefix}_{os.getpid()}_{round_no}"
    dbs.create(name)
    return f"postgresql+{driver}://{server}/{name}", name


def start_ours(
    args: argparse.Namespace,
    workdir: Path,
    procs: ProcessSet,
    dbs: Databases,
    round_no: int,
    server: str = PG_SERVER,
) -> Target:
    """Start quart-blog on a fresh database (its ``serve`` applies the migrations)."""
    workdir.mkdir(parents=True, exist_ok=True)
    url_db, pg_name = fresh_database(args, dbs, "quart", "asyncpg", round_no, server)
    url, proc = start_quart_blog(procs, workdir, workers=args.workers, database_url=url_db)
    print(f"[quart-blog] serving on {url} (log: {workdir / 'server.log'})")
    database = url_db or f"sqlite+aiosqlite:///{workdir / 'blog.db'}"
    cpu = TreeCpu(proc.pid)
    return Target("quart-blog", Api(url), proc=proc, cpu=cpu, database=database, pg_name=pg_name)


def start_flask(
    args: argparse.Namespace,
    workdir: Path,
    procs: ProcessSet,
    dbs: Databases,
    round_no: int,
    server: str = PG_SERVER,
    worker_class: str = "sync",
    name: str = "flask",
) -> Target:
    """Start the Flask reference app on a fresh database (``serve.sh`` creates the tables)."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = "peer" if worker_class == "sync" else f"peer_{worker_class}"
    url_db, pg_name = fresh_database(args, dbs, prefix, "psycopg", round_no, server)
    url, proc = start_peer(
        procs,
        args.peer,
        workdir,
        database_url=url_db,
        worker_class=worker_class,
        threads=args.threads,
    )
    print(f"[{name}] serving on {url} (log: {workdir / 'server.log'})")
    database = url_db or f"sqlite:///{workdir / 'instance' / 'blog.db'}"
    cpu = TreeCpu(proc.pid)
    return Target(name, Api(url), proc=proc, cpu=cpu, database=database, pg_name=pg_name)


def start_targets(
    args: argparse.Namespace, workdir: Path, procs: ProcessSet, dbs: Databases, round_no: int
) -> list[Target]:
    """This round's servers: ours (started unless ``--target``), then the one compared."""
    if args.target:
        targets = [Target("target", Api(args.target))]
    else:
        targets = [start_ours(args, workdir / "quart-blog", procs, dbs, round_no)]
    if args.compare == "flask":
        targets.append(start_flask(args, workdir / "flask", procs, dbs, round_no))
    elif args.compare:
        targets.append(Target("compare", Api(args.compare)))
    return targets


def stop_targets(targets: list[Target], procs: ProcessSet, dbs: Databases) -> None:
    """Stop the servers the bench started for this round, then drop their databases."""
    for target in targets:
        if target.proc is not None:
            procs.stop(target.proc)
    for target in targets:
        if target.pg_name:
            dbs.drop(target.pg_name)


def run_round(bench: Bench, targets: list[Target]) -> None:
    """Seed ``targets`` and run every scenario on each, in this order, per connection count."""
    if set(bench.args.scenarios) - {"health"}:
        for target in targets:
            bench.prepare(target)
    for scenario in bench.args.scenarios:
        conn_list = [SLOW_READ_CONNS] if scenario == "slow-clients" else bench.args.conns
        for conns in conn_list:
            for target in targets:
                if scenario == TOKEN_READ and target.tokens_file is None:
                    continue  # a server without API tokens (the Flask reference)
                print(f"[{target.name}] r{bench.round} {scenario} c={conns} ...", flush=True)
                bench.runs += bench.run(target, scenario, conns)


def start_latency_targets(
    args: argparse.Namespace,
    workdir: Path,
    procs: ProcessSet,
    dbs: Databases,
    round_no: int,
    proxy: DelayProxy,
) -> list[Target]:
    """quart-blog and the reference (sync, then gthread), each reaching PostgreSQL via ``proxy``."""
    server = f"postgres@127.0.0.1:{proxy.port}"
    return [
        start_ours(args, workdir / "quart-blog", procs, dbs, round_no, server),
        start_flask(
            args, workdir / "flask-sync", procs, dbs, round_no, server, "sync", "flask-sync"
        ),
        start_flask(
            args,
            workdir / "flask-gthread",
            procs,
            dbs,
            round_no,
            server,
            "gthread",
            "flask-gthread",
        ),
    ]


def run_latency_round(bench: Bench, targets: list[Target], proxy: DelayProxy) -> None:
    """Seed at 0 ms, then per delay: read and mixed per connection count on every target."""
    for target in targets:
        bench.prepare(target)
    for delay in bench.args.delays:
        proxy.set_delay(delay)
        bench.raw_suffix = f"-db{delay:g}ms"
        phase = f"db +{delay:g} ms each way"
        for scenario in LATENCY_SCENARIOS:
            for conns in bench.args.conns:
                for target in targets:
                    print(f"[{target.name}] r{bench.round} {scenario} {phase} c={conns} ...")
                    proxy_before = proxy.cpu.sample()
                    records = bench.run(target, scenario, conns)
                    proxy_cpu = proxy.cpu.sample() - proxy_before
                    for rec in records:
                        rec.update(phase=phase, delay_ms=delay, proxy_cpu_s=round(proxy_cpu, 3))
                        rec["notes"] = latency_notes(rec)
                    bench.runs += records
    bench.raw_suffix = ""
    proxy.set_delay(0)


def latency_notes(rec: dict[str, Any]) -> str:
    """What limited the server: cores it kept busy, and the proxy's share of the machine."""
    seconds = rec["seconds"] or 1.0
    busy = "" if rec.get("cpu_s") is None else f"server busy {rec['cpu_s'] / seconds:.2f} cores; "
    text = busy + f"proxy {rec['proxy_cpu_s'] / seconds:.2f} cores"
    return f"{rec['notes']}; {text}" if rec.get("notes") else text


def round_info(round_no: int, targets: list[Target]) -> dict[str, Any]:
    """What results.json keeps about one round: who went first, URLs, PIDs, databases."""
    return {
        "round": round_no,
        "order": [t.name for t in targets],
        "targets": {
            t.name: {
                "url": t.api.base_url,
                "pid": t.proc.pid if t.proc is not None else None,
                "database": t.database or None,
                "seed_s": round(t.seed_s, 1),
                "users": len(t.users),
            }
            for t in targets
        },
    }


def rotated(targets: list[Target], round_no: int) -> list[Target]:
    """This round's order: two servers swap every round, three rotate."""
    if len(targets) == 2:
        return targets if round_no % 2 else targets[::-1]
    shift = (round_no - 1) % max(1, len(targets))
    return targets[shift:] + targets[:shift]


def execute(
    args: argparse.Namespace, out: Path, procs: ProcessSet, dbs: Databases
) -> dict[str, Any]:
    """Per round: fresh servers, seed, every scenario (servers interleaved); build the results."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bench = Bench(args, out, procs)
    rounds: list[dict[str, Any]] = []
    names: list[str] = []
    latency = args.scenarios == [DB_LATENCY]
    for round_no in range(1, args.rounds + 1):
        bench.round = round_no
        proxy = DelayProxy(procs, PG_SERVER.split("@")[1], PROXY_SECONDS) if latency else None
        if proxy is not None:
            targets = start_latency_targets(args, out / f"r{round_no}", procs, dbs, round_no, proxy)
        else:
            targets = start_targets(args, out / f"r{round_no}", procs, dbs, round_no)
        names = [t.name for t in targets]
        order = rotated(targets, round_no)  # who goes first changes every round
        print(f"== round {round_no}/{args.rounds}: {' then '.join(t.name for t in order)} ==")
        if proxy is not None:
            run_latency_round(bench, order, proxy)
        else:
            run_round(bench, order)
        stop_targets(targets, procs, dbs)
        if proxy is not None:
            proxy.stop()
        rounds.append(round_info(round_no, order))
    ceiling = login_ceiling() if "login-storm" in args.scenarios else None
    if ceiling is not None:
        yardstick = f"{ceiling['cores']} cores ÷ {ceiling['verify_s']} s"
        for rec in bench.runs:
            if rec["scenario"] == "login-storm" and rec["target"] == names[0]:
                steady = rec["steady_logins_per_s"]
                rate = rec["logins_per_s"] if steady is None else steady
                rec["of_ceiling_pct"] = round(100 * rate / ceiling["per_s"], 1)
                rec["notes"] += f"; {rec['of_ceiling_pct']:.0f} % of {yardstick}"
    return {
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "names": names,
        "rounds": rounds,
        "login_ceiling": ceiling,
        "runs": bench.runs,
        "ratios": [row for other in names[1:] for row in ratios(bench.runs, names[0], other)],
        "summary": summary(bench.runs, names),
        "token_read": token_read_summary(bench.runs),
    }


def write_charts(results: dict[str, Any], out: Path) -> None:
    """Draw the PNG charts beside results.json; say so, and go on, without matplotlib."""
    try:
        import charts
    except ImportError as exc:
        redraw = f"python {HERE / 'charts.py'} {out / 'results.json'}"
        print(f"charts: skipped ({exc}); with matplotlib installed: {redraw}")
        return
    for path in charts.write_charts(results, out):
        print(f"chart: {path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run, print the tables and the results path; always clean up."""
    args = parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="quart-blog-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    procs = ProcessSet()
    dbs = Databases()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    raise_fd_limit()
    try:
        results = execute(args, out, procs, dbs)
    except KeyboardInterrupt:
        print("interrupted; stopping everything started", file=sys.stderr)
        return 130
    except (BenchError, RuntimeError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        dbs.drop_all()
        if not args.keep_data:
            for path in out.glob("users-*.lua"):
                path.unlink()
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    names = results["names"]
    table = markdown(results["runs"], results["ratios"], results["summary"], names)
    if results["token_read"]:
        table += "\n\n" + token_read_markdown(results["token_read"])
    (out / "results.md").write_text(table + "\n")
    print("\n" + table + "\n")
    write_charts(results, out)
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
