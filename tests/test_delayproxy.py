"""The benchmark's delay proxy (``loadtest/delayproxy.py``): both ways delayed, in order; stops."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

PROXY = Path(__file__).resolve().parent.parent / "loadtest" / "delayproxy.py"
DELAY_MS = 25


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@asynccontextmanager
async def proxy_to(port: int, delay_ms: float) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROXY),
        "--upstream",
        f"127.0.0.1:{port}",
        "--delay-ms",
        str(delay_ms),
        "--seconds",
        "60",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def tagged(proc: asyncio.subprocess.Process, tag: str) -> dict[str, object]:
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line, f"proxy ended before {tag}"
        if line.startswith(tag + " "):
            found: dict[str, object] = json.loads(line[len(tag) + 1 :])
            return found


async def round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> float:
    began = time.monotonic()
    writer.write(data)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(data)), 10) == data
    return time.monotonic() - began


async def test_every_byte_is_delayed_each_way_in_order_and_the_delay_can_change() -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, proxy_to(port, DELAY_MS) as proc:
        ready = await tagged(proc, "READY")
        reader, writer = await asyncio.open_connection("127.0.0.1", ready["port"])
        payload = bytes(range(256)) * 1000  # several chunks: order must hold across them
        assert await round_trip(reader, writer, payload) >= 2 * DELAY_MS / 1000
        assert proc.stdin is not None
        proc.stdin.write(b"delay 0\n")
        assert (await tagged(proc, "DELAY"))["ms"] == 0
        await round_trip(reader, writer, b"ping")
        proc.stdin.write(b"stats\n")
        stats = await tagged(proc, "STATS")
        assert stats["open"] == 1
        assert stats["bytes"] == 2 * (len(payload) + 4)
        writer.close()
        proc.stdin.write(b"stop\n")
        await tagged(proc, "STOPPED")
        assert await asyncio.wait_for(proc.wait(), 10) == 0


def test_it_refuses_addresses_off_loopback() -> None:
    done = subprocess.run(
        [sys.executable, str(PROXY), "--upstream", "192.0.2.1:5432"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "loopback addresses only" in done.stderr
