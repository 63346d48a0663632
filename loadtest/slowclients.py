"""Hold N slow connections that each send ``GET /healthz`` one byte per interval.

    python loadtest/slowclients.py --url http://127.0.0.1:8000 --conns 200 --seconds 120

Prints ``READY {...}`` once every connection is open (or after 10 s), then
``RESULT {...}`` when its standard input closes (or says ``stop``) or after
``--seconds``, whichever comes first. If the server answers or closes a slow
connection, that connection reconnects and starts over, so the pressure stays on.
Standard library only; loopback targets only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass

from blogclient import check_loopback_url

MAX_RECONNECTS_PER_CONN = 1000


@dataclass
class Stats:
    """What happened to the slow connections (summed over all of them)."""

    conns: int = 0
    opened: int = 0
    open_now: int = 0
    connect_errors: int = 0
    closed_by_server: int = 0
    answered: int = 0
    bytes_sent: int = 0


async def slow_connection(
    host: str,
    port: int,
    payload: bytes,
    gap: float,
    stats: Stats,
    events: tuple[asyncio.Event, asyncio.Event],
) -> None:
    """Keep one slow connection alive until ``stop``, reconnecting when the server lets go.

    ``events`` is (all_open, stop): all_open is set once ``stats.conns`` connections opened.
    """
    all_open, stop = events
    for _ in range(MAX_RECONNECTS_PER_CONN):
        if stop.is_set():
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError):
            stats.connect_errors += 1
            await _sleep_unless(stop, 1.0)
            continue
        stats.opened += 1
        stats.open_now += 1
        if stats.opened >= stats.conns:
            all_open.set()
        try:
            await _trickle(reader, writer, payload, gap, stats, stop)
        finally:
            stats.open_now -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _trickle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    payload: bytes,
    gap: float,
    stats: Stats,
    stop: asyncio.Event,
) -> None:
    """Send ``payload`` one byte per ``gap`` seconds, watching for an answer or a close."""
    for i in range(len(payload)):
        if stop.is_set():
            return
        try:
            writer.write(payload[i : i + 1])
            await writer.drain()
        except OSError:
            stats.closed_by_server += 1
            return
        stats.bytes_sent += 1
        try:
            data = await asyncio.wait_for(reader.read(4096), gap)
        except TimeoutError:
            continue
        except OSError:
            data = b""
        if data:
            stats.answered += 1
        else:
            stats.closed_by_server += 1
        return
    # The whole request went out: wait (bounded) for its answer, then start over.
    with contextlib.suppress(TimeoutError, OSError):
        if await asyncio.wait_for(reader.read(4096), 10):
            stats.answered += 1


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _watch_stdin(stop: asyncio.Event) -> None:
    """Set ``stop`` when standard input closes or a line says ``stop``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            stop.set()
            return


async def main_async(url: str, conns: int, gap: float, seconds: float) -> Stats:
    """Run the slow connections until stopped or ``seconds`` pass; return the stats."""
    host, port = check_loopback_url(url)
    payload = (
        f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "User-Agent: quart-blog-loadtest-slowclient\r\nAccept: */*\r\n\r\n"
    ).encode()
    stats = Stats(conns=conns)
    all_open, stop = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(slow_connection(host, port, payload, gap, stats, (all_open, stop)))
        for _ in range(conns)
    ]
    watcher = asyncio.create_task(_watch_stdin(stop))
    started = time.monotonic()
    await _sleep_unless(all_open, 10.0)
    print("READY " + json.dumps(asdict(stats)), flush=True)
    await _sleep_unless(stop, max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    open_at_stop = stats.open_now
    await asyncio.wait(tasks, timeout=gap + 5)
    for task in [*tasks, watcher]:
        task.cancel()
    await asyncio.gather(*tasks, watcher, return_exceptions=True)
    stats.open_now = open_at_stop
    return stats


def main() -> None:
    """Parse arguments, run, print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--conns", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between bytes")
    parser.add_argument("--seconds", type=float, default=120.0, help="hard time limit")
    args = parser.parse_args()
    stats = asyncio.run(main_async(args.url, args.conns, args.interval, args.seconds))
    print("RESULT " + json.dumps(asdict(stats)), flush=True)


if __name__ == "__main__":
    main()
