"""Each Hypercorn worker listens on its own SO_REUSEPORT sockets, so the kernel spreads connections.

With the one listening socket Hypercorn shares by default, whichever worker woke first
accepted a burst of connections, and the busier worker's requests waited longer.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from quart_blog.serving.sockets import LISTEN_SOCKETS_PER_WORKER
from tests.live import HOST, READY_TIMEOUT, LiveServer

CONNECTIONS = 200
LISTEN, ESTABLISHED = "0A", "01"


def tcp_sockets(port: int) -> dict[int, str]:
    """Inode -> TCP state of every IPv4 socket whose local port is ``port``."""
    found: dict[int, str] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found[int(fields[9])] = fields[3]
    return found


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open."""
    inodes: set[int] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listening_sockets(port: int, pids: list[int]) -> dict[int, set[int]]:
    """Each process's listening sockets on ``port``."""
    listening = {inode for inode, state in tcp_sockets(port).items() if state == LISTEN}
    return {pid: listening & socket_inodes(pid) for pid in pids}


def one_request(conn: socket.socket) -> None:
    """GET /healthz on a keep-alive connection and read the whole (small) answer."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    answer = b""
    while b'{"status":"ok"}' not in answer:
        chunk = conn.recv(4096)
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


def test_every_worker_has_its_own_listening_socket_and_takes_a_share(tmp_path: Path) -> None:
    with LiveServer(tmp_path, workers=2) as server:
        workers = sorted(server.worker_pids())
        assert len(workers) == 2
        # The server is ready once one worker answers; give the other time to start listening.
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            listening = listening_sockets(server.port, workers)
            full = all(len(inodes) == LISTEN_SOCKETS_PER_WORKER for inodes in listening.values())
            if full or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert all(len(inodes) == LISTEN_SOCKETS_PER_WORKER for inodes in listening.values())
        assert not listening[workers[0]] & listening[workers[1]]

        connections = [
            socket.create_connection((HOST, server.port), timeout=10) for _ in range(CONNECTIONS)
        ]
        try:
            for conn in connections:
                one_request(conn)
            established = {
                inode for inode, state in tcp_sockets(server.port).items() if state == ESTABLISHED
            }
            shares = [len(socket_inodes(pid) & established) for pid in workers]
        finally:
            for conn in connections:
                conn.close()
        assert sum(shares) == CONNECTIONS
        # The kernel hashes each connection to one of the two sockets: 100 ± 7 each.
        assert min(shares) >= CONNECTIONS // 4, shares


def test_a_single_worker_also_accepts_on_several_sockets(tmp_path: Path) -> None:
    with LiveServer(tmp_path, workers=1) as server:
        (worker,) = server.worker_pids()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            listening = listening_sockets(server.port, [worker])[worker]
            if len(listening) == LISTEN_SOCKETS_PER_WORKER or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(listening) == LISTEN_SOCKETS_PER_WORKER
        conn = socket.create_connection((HOST, server.port), timeout=10)
        try:
            one_request(conn)
        finally:
            conn.close()
