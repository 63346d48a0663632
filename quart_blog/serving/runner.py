"""How one HTTP request runs: to completion, even when its client goes away.

Quart cancels a request's handler as soon as the server reports ``http.disconnect``.
A cancellation that lands inside a database call abandons SQLAlchemy's greenlet
mid-statement: the pooled connection is invalidated and thrown away, and a
traceback is logged. Database work is short, so finishing it and discarding the
answer is cheaper and always clean.

``RunToCompletion`` is plain ASGI middleware in front of Quart (its public
``asgi_app``). Once the whole request body has arrived, it holds back a
disconnect until the app has sent its answer, so Quart never cancels a handler
that may be talking to the database. The request is *abandoned* instead: the
callbacks registered with ``on_abandon`` run at once (a queued password hash is
dropped: under a login storm, clients that gave up must not keep the CPU busy).
A client that leaves while its body is still arriving is passed straight on:
Quart's cancellation ends the wait for a body that will never come. Such a
handler may already have looked up its session (the API checks the login
before it reads the body); its database session is still closed, and its
connection returned, before the cancelled task ends (``db.session``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)

# The scope key holding a request's abandon callbacks: a list, or None once abandoned.
ABANDON_KEY = "quart_blog.abandon"


def on_abandon(scope: dict[str, Any], callback: Callable[[], object]) -> None:
    """Call ``callback`` if the client disconnects before the answer is sent (at once, if it
    already has: work queued after the client left is dropped too)."""
    callbacks: list[Callable[[], object]] | None = scope.setdefault(ABANDON_KEY, [])
    if callbacks is None:
        callback()
    else:
        callbacks.append(callback)


def abandon(scope: dict[str, Any]) -> None:
    """Run the callbacks of a request whose client has gone; later ones run as they come."""
    callbacks: list[Callable[[], object]] = scope.get(ABANDON_KEY) or []
    scope[ABANDON_KEY] = None
    for callback in callbacks:
        callback()


class RunToCompletion:
    """ASGI middleware: a handler whose request body is complete is never cancelled."""

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = cast(dict[str, Any], scope)
        body_complete = False
        answered = asyncio.Event()

        async def receive_holding_disconnect() -> ASGIReceiveEvent:
            nonlocal body_complete
            message = await receive()
            if message["type"] == "http.request":
                body_complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and body_complete:
                abandon(state)
                await answered.wait()
            return message

        async def send_noting_the_end(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered.set()
            await send(message)

        try:
            await self.app(scope, receive_holding_disconnect, send_noting_the_end)
        finally:
            answered.set()
