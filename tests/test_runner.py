"""The request runner (``quart_blog.serving.runner``): a request whose body has arrived runs
to completion when its client leaves; its abandon callbacks run at the disconnect."""

from __future__ import annotations

import asyncio

from quart import Quart, request
from quart.typing import ResponseReturnValue

from quart_blog.serving.requests import BlogRequest
from quart_blog.serving.runner import RunToCompletion

WAIT = 5.0


def app_with_slow_route() -> tuple[Quart, dict[str, asyncio.Event], list[str]]:
    """A bare Quart app behind the runner, with a route that waits to be let go."""
    app = Quart(__name__)
    app.request_class = BlogRequest
    app.asgi_app = RunToCompletion(app.asgi_app)  # type: ignore[method-assign]
    events = {name: asyncio.Event() for name in ("entered", "release", "abandoned")}
    seen: list[str] = []

    @app.post("/slow")
    async def slow() -> ResponseReturnValue:
        assert isinstance(request, BlogRequest)
        request.on_abandon(events["abandoned"].set)
        events["entered"].set()
        try:
            await events["release"].wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("finished")
        # Work queued after the client left is dropped at once.
        request.on_abandon(lambda: seen.append("late callback ran"))
        return "done"

    @app.teardown_request
    async def note_teardown(_exc: BaseException | None) -> None:
        seen.append("teardown")

    return app, events, seen


async def test_a_disconnect_after_the_body_abandons_the_request_but_never_cancels_it() -> None:
    app, events, seen = app_with_slow_route()
    client = app.test_client()
    async with asyncio.timeout(WAIT):
        async with client.request("/slow", method="POST") as connection:
            await connection.send(b"{}")
            await connection.send_complete()
            await events["entered"].wait()
            await connection.disconnect()
            await events["abandoned"].wait()  # the callbacks run at the disconnect itself
            assert seen == []  # ...while the handler is still running
            events["release"].set()
    assert seen == ["finished", "late callback ran", "teardown"]


async def test_a_disconnect_while_the_body_arrives_is_passed_on_to_quart() -> None:
    """Nothing has run on a body that never came: Quart ends the wait for it."""
    app, _events, seen = app_with_slow_route()

    @app.post("/upload")
    async def upload() -> ResponseReturnValue:
        await request.get_data()
        seen.append("read a body that never came")
        return "no"

    client = app.test_client()
    async with asyncio.timeout(WAIT):
        async with client.request(
            "/upload", method="POST", headers={"Content-Length": "1000"}
        ) as connection:
            await connection.send(b"x" * 10)
            await connection.disconnect()
    assert seen == ["teardown"]


async def test_an_answered_request_sees_no_abandon() -> None:
    app, events, seen = app_with_slow_route()
    events["release"].set()
    response = await app.test_client().post("/slow", data=b"{}")
    assert response.status_code == 200
    assert await response.get_data(as_text=True) == "done"
    assert not events["abandoned"].is_set()
    assert seen == ["finished", "teardown"]
