"""Hypercorn configuration for ``quart-blog serve``: workers, TLS, listening sockets."""

from __future__ import annotations

import importlib.util
import ssl

from hypercorn.config import Config, Sockets

from quart_blog.serving.sockets import ReusePortSockets, rebind

# Hypercorn's default backlog of 100 overflows at a few hundred concurrent connections.
LISTEN_BACKLOG = 4096
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
    # Each worker builds its app knowing how many workers share the cores (its hashing pool).
    config.application_path = f"quart_blog:create_app(workers={workers})"
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
