"""A TCP proxy that delays every byte by a fixed time each way: a database across a network.

    python loadtest/delayproxy.py --upstream 127.0.0.1:5432 [--listen 127.0.0.1:0]
                                  [--delay-ms 1] [--seconds 3600]

Prints ``READY {"port": N}`` once listening. Each chunk read from one side is written
to the other ``--delay-ms`` after it arrived, in order, without waiting for earlier
chunks to be acknowledged: the delay is latency, not a bandwidth limit, as on a real
link. The delay can be changed while connections stay open by writing ``delay MS`` to
stdin (answered ``DELAY {"ms": MS}``), so servers keep their pools across settings;
``stats`` answers ``STATS {...}`` and ``stop`` (or end of stdin) stops the proxy.

Bounded: it exits by itself after ``--seconds``, closing every socket it opened.
Loopback only, standard library only. asyncio's timers wake on epoll's millisecond
ticks, so a delivery can come up to 1 ms late; at 1 ms and above that is within the
jitter of a real network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass
class Proxy:
    """The listening proxy: its delay, its open connections and what went through."""

    upstream_host: str
    upstream_port: int
    delay_s: float
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    connections: int = 0
    chunks: int = 0
    bytes: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client: open the upstream connection and pump both ways until either closes."""
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.close()
            return
        self.connections += 1
        pumps = [
            asyncio.ensure_future(self.pump(reader, up_writer)),
            asyncio.ensure_future(self.pump(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for side in (writer, up_writer):
                side.close()
            self.connections -= 1

    async def pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy ``source`` to ``sink``, each chunk delivered ``delay_s`` after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        deliver = asyncio.ensure_future(self.deliver(queue, sink))
        try:
            while data := await source.read(CHUNK):
                self.chunks += 1
                self.bytes += len(data)
                queue.put_nowait((time.monotonic() + self.delay_s, data))
            queue.put_nowait((time.monotonic() + self.delay_s, b""))  # EOF, delayed too
            await deliver
        finally:
            deliver.cancel()

    async def deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter
    ) -> None:
        """Write each queued chunk at its time; an empty chunk is the end of the stream."""
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                return
            sink.write(data)
            await sink.drain()


def emit(tag: str, payload: dict[str, object]) -> None:
    """One ``TAG {json}`` line on stdout (how bench.py reads the proxy)."""
    print(f"{tag} {json.dumps(payload)}", flush=True)


async def read_commands(proxy: Proxy) -> None:
    """Obey ``delay MS``, ``stats`` and ``stop`` lines on stdin until stop or end of input."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = (await stdin.readline()).decode(errors="replace")
        words = line.split()
        if not words or words[0] == "stop":
            return
        if words[0] == "delay" and len(words) == 2:
            try:
                ms = float(words[1])
            except ValueError:
                ms = -1.0
            if 0 <= ms <= 1000:
                proxy.delay_s = ms / 1000
                emit("DELAY", {"ms": ms})
                continue
        if words[0] == "stats":
            emit("STATS", {"open": proxy.connections, "chunks": proxy.chunks, "bytes": proxy.bytes})
            continue
        emit("ERROR", {"line": line.strip()})


async def serve(args: argparse.Namespace) -> None:
    """Listen, say READY, proxy until stopped or ``--seconds`` pass, then close everything."""
    host, port = split_address(args.upstream)
    proxy = Proxy(host, port, args.delay_ms / 1000)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        proxy.tasks.add(task)
        try:
            await proxy.handle(reader, writer)
        finally:
            proxy.tasks.discard(task)

    listen_host, listen_port = split_address(args.listen)
    server = await asyncio.start_server(on_client, listen_host, listen_port, backlog=1024)
    emit("READY", {"port": server.sockets[0].getsockname()[1], "delay_ms": args.delay_ms})
    commands = asyncio.ensure_future(read_commands(proxy))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(commands), args.seconds)
    server.close()
    for task in list(proxy.tasks):
        task.cancel()
    await asyncio.gather(*proxy.tasks, return_exceptions=True)
    await server.wait_closed()
    commands.cancel()
    emit("STOPPED", {"chunks": proxy.chunks, "bytes": proxy.bytes})


def split_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), loopback hosts only."""
    host, _, port = text.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"delayproxy: {text}: loopback addresses only")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (0: a free port)")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="delay each way (ms)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long")
    args = parser.parse_args()
    if not 0 <= args.delay_ms <= 1000 or not 1 <= args.seconds <= 86_400:
        parser.error("--delay-ms must be 0..1000 and --seconds 1..86400")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
