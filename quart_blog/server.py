"""Hypercorn configuration for ``quart-blog serve``."""

from __future__ import annotations

import importlib.util
import ssl

from hypercorn.config import Config

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
