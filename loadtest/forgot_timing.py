"""Forgot-password timing: does a known address get the same answer, in the same time? (SPEC §11)

    .venv/bin/python loadtest/forgot_timing.py [--requests 500] [--runs 1] [--workers 1]
                                               [--via api,page] [--concurrency 8]
                                               [--database sqlite|postgresql]
                                               [--warmup 25] [--seed 1] [--max-seconds 900]
                                               [--json FILE]

A benchmark, not a test: it prints figures and decides nothing. Each run starts
``quart-blog serve`` (``procs.start_quart_blog``: a free 127.0.0.1 port, a fresh SQLite
file or PostgreSQL database, RATE_LIMITS=off so the per-target limit of 5 an hour does not
trip) with ``MAIL_URL`` pointing at an SMTP sink this script starts as a child process (the
same file with ``--smtp-sink``, so its CPU is not taken from the client's interpreter and no
``.eml`` file lands in the repository). It registers one user with an address, verifies it
with the link the sink captured, then sends ``POST /api/v1/password/forgot`` (and, with
``--via page``, the form ``POST /forgot-password``) for that verified address and for an
unknown address of the same length, interleaved: pairs in random order (``--seed``), so a
request follows a known and an unknown one equally often, whichever case it is. Each
variant runs sequentially over one keep-alive connection, then with ``--concurrency``
connections (0: skip). Latency is measured client-side around each request.

Prints, per variant and case: n, p50/p90/p99/max ms, status codes and whether every answer
(status, headers except Date, body) is the same in both cases; then the difference of the
medians (known - unknown) with a bootstrap 95 % interval and a Mann-Whitney U test. After
each variant it waits (bounded) until the background sender has delivered one reset message
per known request, and counts the messages the unknown address got (must be 0). With
``--runs N`` the server starts afresh N times and a summary gives the median over runs.

Loopback only. Every loop is bounded in count and time; whatever it started is stopped by
PID at the end (also on Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import random
import re
import secrets
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, NoReturn

import httpx
from bench import read_tagged_line
from blogclient import BenchError, check_loopback_url
from procs import Databases, ProcessSet, free_port, start_quart_blog

CASES = ("known", "unknown")
VIAS = ("api", "page")
API_PATH = "/api/v1/password/forgot"
PAGE_PATH = "/forgot-password"
REQUEST_TIMEOUT_S = 10.0
DRAIN_LIMIT_S = 60.0
TOKEN_WAIT_S = 30.0
MAX_REQUESTS = 20_000
MAX_RUNS = 10
BOOTSTRAP = 2000
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"https?://\S+?/([a-z-]+)\?token=([A-Za-z0-9_-]+)")
EXPIRES_RE = re.compile(r"(?i)expires=[^;]*")
# Date changes every second; "Connection: close" ends a keep-alive connection after
# Hypercorn's keep_alive_max_requests (1000) whatever the request: counted apart.
VOLATILE_HEADERS = frozenset({"date", "connection"})


# --- the SMTP sink (child process) -------------------------------------------------------


class SinkHandler:
    """aiosmtpd handler: counts messages per recipient and kind, keeps verification tokens."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.verify_tokens: dict[str, str] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        match = LINK_RE.search(body.get_content() if body is not None else "")
        kind = match.group(1) if match else "other"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.counts[rcpt.lower()][kind] += 1
                if kind == "verify-email" and match:
                    self.verify_tokens[rcpt.lower()] = match.group(2)
        return "250 OK"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            counts = {rcpt: dict(kinds) for rcpt, kinds in self.counts.items()}
            return {"counts": counts, "verify_tokens": dict(self.verify_tokens)}


def emit(tag: str, payload: dict[str, Any]) -> None:
    print(f"{tag} {json.dumps(payload)}", flush=True)


def run_sink(seconds: float) -> int:
    """Serve SMTP on a free loopback port; answer ``stats`` on stdin; end on ``stop``/EOF."""
    from aiosmtpd.controller import Controller

    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    emit("READY", {"port": port})
    deadline = time.monotonic() + seconds
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(sys.stdin, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(timeout=min(left, 1.0)):
                    continue
                line = sys.stdin.readline().strip()
                if not line or line == "stop":
                    break
                if line == "stats":
                    emit("STATS", handler.snapshot())
    finally:
        controller.stop()
    return 0


class Sink:
    """The sink child, seen from the benchmark: its ``MAIL_URL`` and what it received."""

    def __init__(self, procs: ProcessSet, seconds: float, log: Path) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--smtp-sink"]
        cmd += ["--max-seconds", str(round(seconds))]
        self.procs = procs
        with log.open("wb") as log_file:
            self.proc: subprocess.Popen[str] = procs.spawn(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, text=True
            )
        ready = read_tagged_line(self.proc, "READY", 20.0)
        if ready is None:
            raise BenchError(f"SMTP sink did not start; see {log}")
        self.url = f"smtp://127.0.0.1:{ready['port']}"

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        answer = read_tagged_line(self.proc, "STATS", 10.0)
        if answer is None:
            raise BenchError("SMTP sink: no answer to stats")
        result: dict[str, Any] = answer
        return result

    def count(self, rcpt: str, kind: str | None = None) -> int:
        kinds = self.stats()["counts"].get(rcpt.lower(), {})
        return int(sum(kinds.values()) if kind is None else kinds.get(kind, 0))

    def wait_token(self, rcpt: str, limit_s: float) -> str:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            token = self.stats()["verify_tokens"].get(rcpt.lower())
            if token:
                return str(token)
            time.sleep(0.2)
        raise BenchError(f"no verification message for {rcpt} within {limit_s:.0f} s")

    def wait_count(self, rcpt: str, kind: str, want: int, limit_s: float) -> tuple[int, float]:
        """Wait until ``rcpt`` got ``want`` messages of ``kind``; (count, seconds waited)."""
        start = time.monotonic()
        got = self.count(rcpt, kind)
        while got < want and time.monotonic() - start < limit_s:
            time.sleep(0.2)
            got = self.count(rcpt, kind)
        return got, time.monotonic() - start

    def stop(self) -> None:
        self.procs.stop_by_stdin(self.proc)


# --- statistics (pure Python) ------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def mann_whitney(a: list[float], b: list[float]) -> dict[str, float]:
    """Two-sided Mann-Whitney U (normal approximation, tie-corrected) and P(a > b)."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    rank_a = 0.0
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        rank_a += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    u = rank_a - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = 0.0 if sigma == 0 else (abs(u - n1 * n2 / 2) - 0.5) / sigma
    z = max(z, 0.0)
    return {"u": u, "z": z, "p": math.erfc(z / math.sqrt(2)), "a": u / (n1 * n2)}


def bootstrap_median_diff(
    a: list[float], b: list[float], rng: random.Random, rounds: int = BOOTSTRAP
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of median(a) - median(b)."""
    diffs = sorted(
        statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
        for _ in range(rounds)
    )
    return percentile(diffs, 2.5), percentile(diffs, 97.5)


# --- the client side ----------------------------------------------------------------------


@dataclass
class Sample:
    case: str
    ms: float
    status: int
    signature: str
    closed: bool  # the server closed the connection after this answer


@dataclass
class Form:
    """What a browser holds to post the forgot-password form: its cookie and CSRF token."""

    cookie: str = ""
    token: str = ""


@dataclass
class Phase:
    """One variant of one run: how requests went, and what came of them."""

    via: str
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    connections: int = 0
    seconds: float = 0.0
    truncated: bool = False
    known_sent: int = 0  # warm-up included: each one makes the sender mail a link
    mail: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        how = "sequential, 1 connection" if self.concurrency == 1 else f"{self.concurrency} conns"
        return f"{self.via} ({how})"


def signature(response: httpx.Response) -> str:
    """What a client sees but Date and Connection (and the cookie's signed value and expiry)."""
    parts = [str(response.status_code)]
    for key, value in sorted(response.headers.multi_items()):
        if key in VOLATILE_HEADERS:
            continue
        if key == "set-cookie":
            name, _, rest = value.partition("=")
            cookie_value, _, attrs = rest.partition(";")
            value = f"{name}=<{len(cookie_value)} chars>;{EXPIRES_RE.sub('expires=*', attrs)}"
        parts.append(f"{key}: {value}")
    parts.append(hashlib.sha256(response.content).hexdigest())
    return "\n".join(parts)


def sample_of(case: str, ms: float, response: httpx.Response) -> Sample:
    closed = response.headers.get("connection", "").lower() == "close"
    return Sample(case, ms, response.status_code, signature(response), closed)


def record(
    phase: Phase,
    streams: list[Any],
    case: str,
    sent_ns: int,
    response: httpx.Response,
    *,
    measured: bool,
) -> None:
    """Account one answer (sent at ``sent_ns``) to ``phase``: its latency unless warming up,
    and the connection it came on."""
    ms = (time.perf_counter_ns() - sent_ns) / 1e6
    phase.known_sent += case == "known"
    stream = response.extensions.get("network_stream")
    if stream is not None and all(stream is not s for s in streams):
        streams.append(stream)
    if measured:
        phase.samples.append(sample_of(case, ms, response))


def order_of(pairs: int, rng: random.Random) -> list[str]:
    """``pairs`` known/unknown pairs, each pair in random order."""
    order: list[str] = []
    for _ in range(pairs):
        pair = list(CASES)
        rng.shuffle(pair)
        order += pair
    return order


def form_for(response: httpx.Response) -> Form:
    """The cookie and CSRF token a GET of the forgot-password page gave."""
    match = CSRF_RE.search(response.text)
    if response.status_code != 200 or match is None:
        raise BenchError(f"GET {PAGE_PATH}: HTTP {response.status_code}, no CSRF token")
    cookie = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    return Form(cookie=cookie, token=match.group(1))


def build(client: httpx.Client | httpx.AsyncClient, via: str, email: str, form: Form) -> Any:
    """The forgot-password request for ``email`` (the form always with the same cookie)."""
    if via == "api":
        return client.build_request("POST", API_PATH, json={"email": email})
    headers = {"Cookie": form.cookie}
    data = {"csrf_token": form.token, "email": email}
    return client.build_request("POST", PAGE_PATH, data=data, headers=headers)


def client_limits(connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)


def run_sequential(
    base_url: str, phase: Phase, emails: dict[str, str], order: list[str], warmup: int, end: float
) -> None:
    """One request at a time over one keep-alive connection, in ``order``."""
    streams: list[Any] = []  # kept alive so that id() of each connection stays unique
    with httpx.Client(
        base_url=base_url, limits=client_limits(1), timeout=REQUEST_TIMEOUT_S
    ) as client:
        form = form_for(client.get(PAGE_PATH)) if phase.via == "page" else Form()
        client.cookies.clear()
        started = time.monotonic()
        for index, case in enumerate(order):
            if time.monotonic() > end:
                phase.truncated = True
                break
            request = build(client, phase.via, emails[case], form)
            t0 = time.perf_counter_ns()
            response = client.send(request)
            record(phase, streams, case, t0, response, measured=index >= 2 * warmup)
            client.cookies.clear()
        phase.seconds = time.monotonic() - started
    phase.connections = len(streams)


async def run_concurrent(
    base_url: str, phase: Phase, emails: dict[str, str], order: list[str], warmup: int, end: float
) -> None:
    """``phase.concurrency`` connections, each taking the next request of ``order``."""
    streams: list[Any] = []
    jobs = iter(enumerate(order))
    async with httpx.AsyncClient(
        base_url=base_url, limits=client_limits(phase.concurrency), timeout=REQUEST_TIMEOUT_S
    ) as client:
        form = Form()
        if phase.via == "page":
            form = form_for(await client.get(PAGE_PATH))
        client.cookies.clear()

        async def worker() -> None:
            for index, case in jobs:
                if time.monotonic() > end:
                    phase.truncated = True
                    return
                request = build(client, phase.via, emails[case], form)
                t0 = time.perf_counter_ns()
                response = await client.send(request)
                record(phase, streams, case, t0, response, measured=index >= 2 * warmup)
                client.cookies.clear()

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(phase.concurrency)))
        phase.seconds = time.monotonic() - started
    phase.connections = len(streams)


def setup_account(base_url: str, sink: Sink, tag: str) -> dict[str, str]:
    """Register a user with an address, verify it through the mailed link; both addresses."""
    known, unknown = f"known-{tag}@example.com", f"unknw-{tag}@example.com"
    username, password = f"ft_{tag}", f"forgot-timing-{tag}-password"
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        creds = {"username": username, "password": password}
        response = client.post("/api/v1/register", json={**creds, "email": known})
        if response.status_code != 201:
            raise BenchError(f"register: HTTP {response.status_code} {response.text[:200]}")
        token = sink.wait_token(known, TOKEN_WAIT_S)
        response = client.post("/api/v1/email/verify", json={"token": token})
        if response.status_code != 204:
            raise BenchError(f"verify: HTTP {response.status_code} {response.text[:200]}")
        response = client.post("/api/v1/login", json=creds)
        if response.status_code != 200:
            raise BenchError(f"login: HTTP {response.status_code} {response.text[:200]}")
        me = client.get("/api/v1/me").json()
        if me.get("email") != known or me.get("email_verified") is not True:
            raise BenchError(f"the address did not become verified: {me}")
    return {"known": known, "unknown": unknown}


# --- one run ------------------------------------------------------------------------------


def run_once(
    args: argparse.Namespace, run_no: int, workdir: Path, procs: ProcessSet, sink: Sink
) -> dict[str, Any]:
    """Start a fresh server, make the account, run every variant; stop the server."""
    rundir = workdir / f"run{run_no}"
    rundir.mkdir(parents=True, exist_ok=True)
    dbs = Databases()
    database_url = None
    if args.database == "postgresql":
        name = f"forgot_timing_{os.getpid()}_{run_no}"
        dbs.create(name)
        database_url = PG_URL.format(name=name)
    phases: list[Phase] = []
    try:
        base_url, proc = start_quart_blog(
            procs, rundir, workers=args.workers, database_url=database_url
        )
        check_loopback_url(base_url)
        print(f"[run {run_no}] quart-blog on {base_url}, log {rundir / 'server.log'}", flush=True)
        emails = setup_account(base_url, sink, secrets.token_hex(4))
        rng = random.Random(args.seed * 1000 + run_no)
        sent_known = 0
        for via in args.via:
            for concurrency in [1, args.concurrency] if args.concurrency else [1]:
                phase = Phase(via, concurrency)
                order = order_of(args.warmup + args.requests, rng)
                if concurrency == 1:
                    run_sequential(base_url, phase, emails, order, args.warmup, args.end)
                else:
                    asyncio.run(
                        run_concurrent(base_url, phase, emails, order, args.warmup, args.end)
                    )
                sent_known += phase.known_sent
                got, waited = sink.wait_count(
                    emails["known"], "reset-password", sent_known, DRAIN_LIMIT_S
                )
                phase.mail = {
                    "known_sent": sent_known,
                    "known_reset_mails": got,
                    "drain_s": round(waited, 2),
                    "unknown_mails": sink.count(emails["unknown"]),
                }
                phases.append(phase)
                print(f"[run {run_no}] {phase.name}: {len(phase.samples)} measured", flush=True)
        procs.stop(proc)
        log = (rundir / "server.log").read_text(errors="replace")
        return {
            "run": run_no,
            "phases": phases,
            "server_tracebacks": log.count("Traceback"),
            "server_log": str(rundir / "server.log"),
        }
    finally:
        dbs.drop_all()


def phase_stats(phase: Phase, rng: random.Random) -> dict[str, Any]:
    """Percentiles per case, answer identity, difference of medians and its significance."""
    by_case = {case: [s for s in phase.samples if s.case == case] for case in CASES}
    cases: dict[str, Any] = {}
    for case, samples in by_case.items():
        ms = [s.ms for s in samples]
        cases[case] = {
            "n": len(ms),
            **{f"p{q}": percentile(ms, q) if ms else None for q in (50, 90, 99)},
            "max": max(ms) if ms else None,
            "statuses": dict(Counter(str(s.status) for s in samples)),
            "signatures": sorted({s.signature for s in samples}),
            "closed": sum(s.closed for s in samples),
        }
    known = [s.ms for s in by_case["known"]]
    unknown = [s.ms for s in by_case["unknown"]]
    sigs_k, sigs_u = set(cases["known"]["signatures"]), set(cases["unknown"]["signatures"])
    result: dict[str, Any] = {
        "phase": phase.name,
        "cases": cases,
        "identical": len(sigs_k) == 1 and sigs_k == sigs_u,
        "connections": phase.connections,
        "seconds": round(phase.seconds, 2),
        "truncated": phase.truncated,
        "mail": phase.mail,
    }
    if len(known) >= 2 and len(unknown) >= 2:
        low, high = bootstrap_median_diff(known, unknown, rng)
        result["median_diff_ms"] = statistics.median(known) - statistics.median(unknown)
        result["median_diff_ci95"] = [low, high]
        result["mann_whitney"] = mann_whitney(known, unknown)
    return result


# --- output -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def phase_table(stats: dict[str, Any]) -> str:
    lines = [
        f"#### {stats['phase']}: {stats['connections']} connection(s), {stats['seconds']} s"
        + (" (TRUNCATED by --max-seconds)" if stats["truncated"] else ""),
        "",
        "| case | n | p50 ms | p90 ms | p99 ms | max ms | statuses |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        c = stats["cases"][case]
        statuses = ", ".join(f"{k} x{v}" for k, v in sorted(c["statuses"].items()))
        lines.append(
            f"| {case} | {c['n']} | {fmt(c['p50'])} | {fmt(c['p90'])} | {fmt(c['p99'])} "
            f"| {fmt(c['max'])} | {statuses} |"
        )
    sigs = {case: len(stats["cases"][case]["signatures"]) for case in CASES}
    closed = {case: stats["cases"][case]["closed"] for case in CASES}
    same = "IDENTICAL" if stats["identical"] else "DIFFERENT"
    lines += [
        "",
        f"- answers (status, headers but Date and Connection, body): {same} ({sigs} distinct); "
        f"Connection: close (keep-alive limit) {closed}",
    ]
    if "median_diff_ms" in stats:
        low, high = stats["median_diff_ci95"]
        mw = stats["mann_whitney"]
        lines.append(
            f"- median known - unknown: {stats['median_diff_ms']:+.3f} ms "
            f"(bootstrap 95 % CI {low:+.3f} .. {high:+.3f}); Mann-Whitney p = {mw['p']:.3f}, "
            f"P(known slower) = {mw['a']:.3f}"
        )
    mail = stats["mail"]
    lines.append(
        f"- sender: {mail.get('known_reset_mails')} of {mail.get('known_sent')} reset messages "
        f"to the known address so far (waited {mail.get('drain_s')} s), "
        f"{mail.get('unknown_mails')} to the unknown one"
    )
    return "\n".join(lines)


def summary_table(runs: list[dict[str, Any]]) -> str:
    """Median over runs of each percentile, per variant and case."""
    names = [p["phase"] for p in runs[0]["stats"]]
    lines = [
        f"### Median over {len(runs)} run(s) (lowest .. highest run in brackets)",
        "",
        "| variant | case | p50 ms | p90 ms | p99 ms | max ms | p50 known - unknown ms | MW p |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(values: list[float]) -> str:
        if len(values) == 1:
            return fmt(values[0])
        return f"{fmt(statistics.median(values))} ({fmt(min(values))} .. {fmt(max(values))})"

    for index, name in enumerate(names):
        phases = [run["stats"][index] for run in runs]
        for case in CASES:
            row = [name, case]
            for key in ("p50", "p90", "p99", "max"):
                values = [p["cases"][case][key] for p in phases]
                row.append(cell([v for v in values if v is not None]))
            if case == "known" and all("median_diff_ms" in p for p in phases):
                row.append(cell([p["median_diff_ms"] for p in phases]))
                row.append(", ".join(f"{p['mann_whitney']['p']:.2f}" for p in phases))
            else:
                row += ["", ""]
            lines.append("| " + " | ".join(row) + " |")
    identical = all(p["identical"] for run in runs for p in run["stats"])
    lines += ["", f"Answers identical in every variant of every run: {identical}"]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "httpx": httpx.__version__,
    }


# --- entry point --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="forgot-password timing, known vs unknown address")
    p.add_argument("--requests", type=int, default=500, help="measured requests per case")
    p.add_argument("--warmup", type=int, default=25, help="unmeasured pairs first (per variant)")
    p.add_argument("--runs", type=int, default=1, help="fresh server each run (default 1)")
    p.add_argument("--workers", type=int, default=1, help="quart-blog worker processes")
    p.add_argument("--via", default="api,page", help="comma-separated: api, page")
    p.add_argument(
        "--concurrency", type=int, default=8, help="connections of the concurrent variant (0: off)"
    )
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--seed", type=int, default=1, help="seed of the order and the bootstrap")
    p.add_argument("--max-seconds", type=float, default=900.0, help="time limit of the whole run")
    p.add_argument("--json", type=Path, help="also write every figure here")
    p.add_argument("--smtp-sink", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.via = [v.strip() for v in args.via.split(",") if v.strip()]
    if not args.via or set(args.via) - set(VIAS):
        p.error("--via: comma-separated api, page")
    if not 2 <= args.requests <= MAX_REQUESTS or not 0 <= args.warmup <= 1000:
        p.error(f"--requests must be 2..{MAX_REQUESTS}, --warmup 0..1000")
    if not 1 <= args.runs <= MAX_RUNS or not 1 <= args.workers <= 16:
        p.error(f"--runs must be 1..{MAX_RUNS}, --workers 1..16")
    if not 0 <= args.concurrency <= 256 or args.concurrency == 1:
        p.error("--concurrency must be 0 (off) or 2..256")
    if not 10 <= args.max_seconds <= 4 * 3600:
        p.error("--max-seconds must be 10..14400")
    return args


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smtp_sink:
        return run_sink(args.max_seconds)
    args.end = time.monotonic() + args.max_seconds
    workdir = Path(tempfile.mkdtemp(prefix="quart-blog-forgot-"))
    procs = ProcessSet()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = datetime.now(UTC)
    runs: list[dict[str, Any]] = []
    try:
        sink = Sink(procs, args.max_seconds + 120, workdir / "sink.log")
        os.environ["MAIL_URL"] = sink.url  # start_quart_blog passes our environment on
        stats_rng = random.Random(args.seed)
        for run_no in range(1, args.runs + 1):
            if time.monotonic() > args.end:
                print("time limit reached; no further runs", file=sys.stderr)
                break
            run = run_once(args, run_no, workdir, procs, sink)
            run["stats"] = [phase_stats(phase, stats_rng) for phase in run.pop("phases")]
            runs.append(run)
            print(f"\n### Run {run_no} (server tracebacks: {run['server_tracebacks']})\n")
            for stats in run["stats"]:
                print(phase_table(stats) + "\n", flush=True)
        sink.stop()
    except KeyboardInterrupt:
        print("interrupted; stopping everything started", file=sys.stderr)
        return 130
    except (BenchError, RuntimeError, OSError, httpx.HTTPError) as exc:
        print(f"forgot_timing: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    if not runs:
        return 1
    info = machine()
    print(summary_table(runs))
    print(
        f"\n{started:%Y-%m-%d %H:%M}-{datetime.now(UTC):%H:%M} UTC; {info['nproc']} cores, "
        f"Python {info['python']}, Linux {info['kernel']}; --workers {args.workers}, "
        f"--database {args.database}, {args.requests} measured requests per case and variant"
    )
    if args.json:
        config = {k: v for k, v in vars(args).items() if k not in ("end", "json")}
        payload = {"started": started.isoformat(), "machine": info, "config": config, "runs": runs}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"figures: {args.json}")
    print(f"server logs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
