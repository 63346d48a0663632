"""JSON responses built directly, with orjson.

Returning a plain dict from a view makes Quart-Schema build a pydantic
``TypeAdapter`` for it on every response, and the standard library encoder
plus per-field ``isoformat()`` cost more than the query that fetched a page of
posts. orjson encodes a page, datetimes included (as ISO 8601 with ``Z``), in
a fraction of that (figures in docs/PERFORMANCE.md). ``no_content`` is the 204.
"""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` as compact UTF-8 JSON; ``datetime`` values become ISO 8601 UTC strings."""
    body = orjson.dumps(payload, option=orjson.OPT_UTC_Z)
    return Response(body, status=status, mimetype="application/json")


def no_content() -> Response:
    """An empty 204 answer whose (empty) body is bytes.

    ``Response(status=204)`` gets an *iterable* body, and Quart reads every iterable
    body through ``run_in_executor``: each such answer cost a hand-off to a thread pool
    and back (a post deleted, a logout) for the empty string.
    """
    return Response(b"", status=204)
