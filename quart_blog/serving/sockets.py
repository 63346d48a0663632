"""Listening sockets: each Hypercorn worker binds its own ``SO_REUSEPORT`` sockets."""

from __future__ import annotations

import socket
from typing import Any

from hypercorn.config import Sockets

# libuv (under uvloop) accepts one connection per listening socket per turn of the event
# loop; with a few hundred requests in flight a turn takes tens of milliseconds, so a
# burst of 1024 new connections sat in the kernel's queue for up to 5 s. Eight sockets
# per worker accept eight per turn (/healthz at 1024 connections: p99 3.6 s -> 0.48 s).
LISTEN_SOCKETS_PER_WORKER = 8


class ReusePortSockets(Sockets):
    """The supervisor's TCP sockets; each worker that receives them binds its own.

    Hypercorn shares one listening socket between its workers, and whichever
    worker wakes first accepts: of a burst of 1024 connections one worker took
    607 and the other 417, and the busier worker's requests waited half as long
    again. Each worker listening on its own ``SO_REUSEPORT`` sockets
    (``LISTEN_SOCKETS_PER_WORKER`` of them) lets the kernel spread connections
    evenly. The supervisor's sockets stay bound (the port is taken, a clash
    fails at start-up, port 0 gets its number) but never listen, so they are
    never handed a connection.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            bind_worker_sockets,
            (
                [bound_address(s) for s in self.secure_sockets],
                [bound_address(s) for s in self.insecure_sockets],
            ),
        )


def rebind(sock: socket.socket) -> socket.socket:
    """The same address again, bound with ``SO_REUSEPORT``."""
    family, address = bound_address(sock)
    sock.close()
    return reuse_port_socket(family, address)


def bound_address(sock: socket.socket) -> tuple[int, Any]:
    return sock.family, sock.getsockname()


def bind_worker_sockets(secure: list[tuple[int, Any]], insecure: list[tuple[int, Any]]) -> Sockets:
    """Run in a worker: its own listening sockets on the supervisor's addresses."""
    return Sockets(
        [reuse_port_socket(*a) for a in secure for _ in range(LISTEN_SOCKETS_PER_WORKER)],
        [reuse_port_socket(*a) for a in insecure for _ in range(LISTEN_SOCKETS_PER_WORKER)],
        [],
    )


def reuse_port_socket(family: int, address: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.setblocking(False)
    return sock
