"""The app's request class: strict, bounded JSON parsing.

Quart's own ``get_json`` turns invalid UTF-8 into a 500 and accepts NUL
characters, lone surrogates, ``NaN`` and nesting as deep as the C parser
allows. Doing it strictly here means every validator and view downstream sees
only clean JSON, and every failure is a 400 with a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from quart import Request
from werkzeug.exceptions import BadRequest

from quart_blog.serving import runner
from quart_blog.validation import text_problem

MAX_JSON_DEPTH = 32


class BadJSON(BadRequest):
    """The body is not acceptable JSON; ``description`` says why."""


class BlogRequest(Request):
    """Request whose ``get_json`` is strict and parses at most once.

    It also carries the work to drop if the client goes away (see
    ``quart_blog.serving.runner``): waits that touch no database, such as a
    queued password hash, register a cancel callback with ``on_abandon``.
    """

    _strict_json: Any = ...

    def on_abandon(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` if the client disconnects before the answer is sent."""
        runner.on_abandon(cast(dict[str, Any], self.scope), callback)

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if self._strict_json is not ...:
            return self._strict_json
        if not (force or self.is_json):
            return None
        raw = await self.get_data(cache=True, as_text=False, parse_form_data=False)
        assert isinstance(raw, bytes)
        try:
            result = parse_json(raw)
        except BadJSON:
            if silent:
                return None
            raise
        self._strict_json = result
        return result


def parse_json(raw: bytes) -> Any:
    """Decode and parse ``raw``, refusing anything a column or a client could choke on."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJSON("The request body is not valid UTF-8.") from None
    if not text.strip():
        raise BadJSON("The request body is empty; expected a JSON object.")
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise BadJSON("The JSON is nested too deeply.") from None
    except ValueError as error:
        raise BadJSON(f"The request body is not valid JSON: {error}") from None
    check_tree(value)
    return value


def reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not allowed")


def check_tree(value: Any) -> None:
    """Walk the parsed value iteratively: bounded depth, clean strings in keys and values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadJSON(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
        if isinstance(node, str):
            check_string(node)
        elif isinstance(node, dict):
            for key, child in node.items():
                check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def check_string(value: str) -> None:
    """NUL and lone surrogates are legal JSON escapes but no database stores them."""
    problem = text_problem("Text", value)
    if problem is not None:
        raise BadJSON(f"The JSON holds a string that is not allowed: {problem}")
