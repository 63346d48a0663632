"""Hypercorn configuration for ``quart-blog serve``."""

from __future__ import annotations

import importlib.util
import socket
import ssl
from typing import Any

from hypercorn.config import Config, Sockets

# Hypercorn's default backlog of 100 overflows at a few hundred concurrent connections.
LISTEN_BACKLOG = 4096
# libuv (under uvloop) accepts one connection per listening socket per turn of the event
# loop; with a few hundred requests in flight a turn takes tens of milliseconds, so a
# burst of 1024 new connections sat in the kernel's queue for up to 5 s. Eight sockets
# per worker accept eight per turn (/healthz at 1024 connections: p99 3.6 s -> 0.48 s).
LISTEN_SOCKETS_PER_WORKER = 8
# Flags that ``ssl.create_default_context`` sets and Hypercorn's
# ``create_ssl_context`` wipes by assigning ``options`` outright.
HARDENING_OPTIONS = (
    ssl.OP_NO_COMPRESSION
    | ssl.OP_CIPHER_SERVER_PREFERENCE
    | ssl.OP_SINGLE_DH_USE
    | ssl.OP_SINGLE_ECDH_USE
    | ssl.OP_NO_RENEGOTIATION
    | ssl.OP_NO_TICKET
)


class HardenedConfig(Config):
    """Hypercorn config whose TLS context keeps the server-side hardening flags.

    Hypercorn already pins TLS 1.2 as the minimum, AEAD-only ECDHE suites
    (``ECDHE+AESGCM``) and ALPN ``h2``/``http/1.1``; this restores cipher-order
    preference and turns off renegotiation and stateless session tickets.
    """

    def create_ssl_context(self) -> ssl.SSLContext | None:
        context = super().create_ssl_context()
        if context is not None:
            context.options |= HARDENING_OPTIONS
        return context

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        binds = [*self.bind, *self.insecure_bind]
        if (
            self.workers >= 1
            and not self.quic_bind
            and not any(b.startswith(("unix:", "fd://")) for b in binds)
        ):
            secure, insecure = sockets.secure_sockets, sockets.insecure_sockets
            if self.workers == 1:
                # Hypercorn sets SO_REUSEPORT only for several workers; the lone worker's
                # sockets need the supervisor's to have it too.
                secure, insecure = [rebind(s) for s in secure], [rebind(s) for s in insecure]
            return ReusePortSockets(secure, insecure, [])
        return sockets


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


def build_config(
    *,
    bind: list[str],
    workers: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    graceful_timeout: float = 10.0,
    keep_alive: float = 5.0,
    access_log: bool = False,
) -> HardenedConfig:
    """The Hypercorn config ``serve`` runs with."""
    config = HardenedConfig()
    config.application_path = "quart_blog:create_app()"
    config.bind = bind
    config.workers = workers
    config.backlog = LISTEN_BACKLOG
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = keep_alive
    config.accesslog = "-" if access_log else None
    config.errorlog = "-"
    if importlib.util.find_spec("uvloop") is not None:
        config.worker_class = "uvloop"
    if certfile and keyfile:
        config.certfile, config.keyfile = certfile, keyfile
    return config
