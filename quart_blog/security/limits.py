"""Who a client is, for rate limiting: the socket address after trusted proxy hops."""

from __future__ import annotations

from quart import request


async def client_address() -> str:
    """The client's address.

    ``request.remote_addr`` is the socket peer, rewritten from
    ``X-Forwarded-For`` only by Hypercorn's ProxyFix across ``TRUSTED_PROXIES``
    hops; the raw header is never read here, so clients cannot choose their key.
    """
    return request.remote_addr or "unknown"
