"""How one HTTP request runs: to completion, in the server's own task.

Quart runs every request as two extra tasks (the handler and a body
receiver), waits on both, cancels the handler when the client disconnects,
and sends the response under ``asyncio.wait_for``, a third task. Two things
are wrong with that here:

- A cancellation that lands inside a database call leaves SQLite statements
  half-run: the connection is thrown away with an open cursor that pins a WAL
  snapshot (no checkpoint until a garbage collection frees it) and a
  traceback is logged. Database work is short, so finishing it and
  discarding the answer is cheaper and always clean.
- Creating, scheduling and gathering those tasks was a tenth of the CPU a
  ``/healthz`` request cost.

So the handler runs in the task Hypercorn already made for the request and is
never cancelled. A disconnect *abandons* the request instead
(``BlogRequest.abandon``): a queued password hash is dropped (under a login
storm, clients that gave up must not keep the CPU busy), and a body still
being received fails, so nothing waits for data that will never come.
"""

from __future__ import annotations

import asyncio
from typing import cast

from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
)
from quart import Request
from quart.asgi import ASGIHTTPConnection, _handle_exception
from quart.typing import ResponseTypes
from quart.utils import encode_headers
from quart.wrappers.response import DataBody, Response

from quart_blog.wrappers import BlogRequest


class BlogASGIHTTPConnection(ASGIHTTPConnection):
    """Quart's ASGI HTTP handler, minus the cancellation and the extra tasks."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        receiver = asyncio.ensure_future(self.handle_messages(request, receive))
        try:
            await self.handle_request(request, send)
        finally:
            receiver.cancel()

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        await super().handle_messages(request, receive)  # returns when the client disconnects
        if isinstance(request, BlogRequest):
            request.abandon()

    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        try:
            response = await self.app.handle_request(request)
        except Exception as error:  # Quart's own fallback: re-raised, or a debug traceback page
            response = await _handle_exception(self.app, error)
        timeout = self.app.config["RESPONSE_TIMEOUT"]
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = response.timeout
        try:
            async with asyncio.timeout(timeout):  # a timer, not another task as wait_for is
                await self._send_response(send, response)
        except TimeoutError:
            pass

    async def _send_response(self, send: ASGISendCallable, response: ResponseTypes) -> None:
        body = response.response if isinstance(response, Response) else None
        if not isinstance(body, DataBody):
            await super()._send_response(send, response)
            return
        # A body already in memory (every page and JSON answer) goes in one message,
        # not as a chunk followed by an empty "end of body" one.
        start = {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": encode_headers(response.headers),
        }
        await send(cast(HTTPResponseStartEvent, start))
        data = body.data[body.begin : body.end]
        end = {"type": "http.response.body", "body": data, "more_body": False}
        await send(cast(HTTPResponseBodyEvent, end))
