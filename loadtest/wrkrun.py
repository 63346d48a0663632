"""Running wrk with the scripts in ``lua/`` and turning its output into a summary dict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from blogclient import User
from procs import ProcessSet

LUA_DIR = Path(__file__).resolve().parent / "lua"
JSON_MARK = "LOADTEST_JSON "
# wrk counts an answer slower than this as a timeout and leaves it out of the percentiles.
WRK_TIMEOUT_S = 5


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (every byte outside printable ASCII as ``\\ddd``)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\' or not 32 <= byte < 127:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def write_users_file(users: list[User], path: Path) -> None:
    """Write the seeded users (name, password, cookie) as a Lua table for the wrk scripts."""
    rows = [
        f"  {{username = {lua_string(u.username)}, password = {lua_string(u.password)}, "
        f"cookie = {lua_string(u.cookie)}}},"
        for u in users
    ]
    path.write_text("return {\nusers = {\n" + "\n".join(rows) + "\n}\n}\n")
    path.chmod(0o600)


def tcp_ext_counters() -> dict[str, int]:
    """The kernel's TcpExt counters from /proc/net/netstat (whole machine)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    rows = [line.split() for line in lines if line.startswith("TcpExt:")]
    if len(rows) < 2:
        return {}
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=False)}


def listen_overflows() -> int:
    """Current value of TcpExt ListenOverflows (0 when unavailable)."""
    return tcp_ext_counters().get("ListenOverflows", 0)


def wrk_command(
    script: str,
    url: str,
    conns: int,
    duration: float,
    users_file: Path | None,
    threads: int = 2,
    script_args: tuple[str, ...] = (),
) -> list[str]:
    """The wrk command line for one run (``--timeout 5s --latency``).

    The script's arguments (after ``--``) are the users file, if any, then ``script_args``.
    """
    cmd = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{max(1, round(duration))}s"]
    cmd += ["--timeout", f"{WRK_TIMEOUT_S}s", "--latency", "-s", script, url.rstrip("/") + "/"]
    args = ([str(users_file)] if users_file is not None else []) + list(script_args)
    if args:
        cmd += ["--", *args]
    return cmd


def start_wrk(procs: ProcessSet, cmd: list[str]) -> subprocess.Popen[str]:
    """Start wrk in ``lua/`` (the scripts ``dofile("common.lua")`` relative to it)."""
    return procs.spawn(
        cmd, cwd=LUA_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish_wrk(
    procs: ProcessSet, proc: subprocess.Popen[str], limit_s: float, raw_path: Path
) -> dict[str, Any]:
    """Wait (at most ``limit_s``) for wrk, save its output to ``raw_path`` and parse it."""
    try:
        output, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        procs.stop(proc, grace=2)
        output = (proc.stdout.read() if proc.stdout else "") + "\n[killed: time limit]\n"
    procs.forget(proc)
    cmd = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    raw_path.write_text("$ (cd loadtest/lua && " + " ".join(map(str, cmd)) + ")\n" + output)
    return parse_output(output, raw_path)


def run_wrk(procs: ProcessSet, cmd: list[str], duration: float, raw_path: Path) -> dict[str, Any]:
    """Run one wrk command to the end and return its summary (with ListenOverflows delta)."""
    before = listen_overflows()
    summary = finish_wrk(procs, start_wrk(procs, cmd), duration + 30, raw_path)
    summary["listen_overflows"] = listen_overflows() - before
    return summary


def parse_output(output: str, raw_path: Path) -> dict[str, Any]:
    """Summarise the ``LOADTEST_JSON`` line printed by ``lua/common.lua``'s ``done()``."""
    line = next((x for x in output.splitlines() if x.startswith(JSON_MARK)), None)
    if line is None:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise RuntimeError(f"wrk printed no result ({tail}); see {raw_path}")
    data = json.loads(line[len(JSON_MARK) :])
    seconds = max(data["duration_us"] / 1e6, 1e-9)
    status = {str(k): int(v) for k, v in (data.get("status") or {}).items()}
    lat = data["latency_us"]
    errors = data["errors"]
    summary = {
        "requests": data["requests"],
        "seconds": round(seconds, 3),
        "rps": round(data["requests"] / seconds, 1),
        "latency_ms": {  # None when nothing was answered (wrk then reports zeros)
            k: round(lat[k] / 1000, 2) if data["requests"] else None
            for k in ("p50", "p90", "p99", "max", "mean")
        },
        "status": status,
        "non_2xx": sum(n for code, n in status.items() if not code.startswith("2")),
        "http_429": status.get("429", 0),
        "socket_errors": {k: errors[k] for k in ("connect", "read", "write", "timeout")},
        "counters": data.get("counters") or {},
        "raw": str(raw_path),
    }
    flat = data.get("samples") or []  # probe.lua: answered-at seconds, latency ms, ...
    if flat:
        summary["samples"] = list(zip(flat[0::2], flat[1::2], strict=False))
    return summary
