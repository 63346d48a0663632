"""The export document, written a batch at a time (SPEC §14).

``{"profile": {…}, "posts": […], "sessions": […], "tokens": […], "events": […]}``: every
list is read in keyset batches on ``(user_id, id)`` and encoded as it is read, so an
account with 100,000 posts is exported in the memory of one batch. Between batches the
database connection goes back to the pool, so a client that reads slowly holds none.
Nothing written is a password hash, token hash or secret: the queries do not select them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.account_data import queries
from quart_blog.account_data.queries import SessionRow, TokenRow
from quart_blog.accounts.devices import device_names
from quart_blog.db import end_read, get_session
from quart_blog.events.queries import EventRow, select_events_after
from quart_blog.posts.queries import ListedPost

POSTS_BATCH = 200  # a post may hold 20,000 characters: 200 of them stay within a few MB
ROWS_BATCH = 500


class Owner(NamedTuple):
    """Whose data this is, and which of their sessions asked for it."""

    user_id: int
    session_id: int


Reader = Callable[..., Awaitable[Sequence[Any]]]
Renderer = Callable[[Sequence[Any], Owner], Awaitable[list[dict[str, Any]]]]


class Section(NamedTuple):
    """One list of the document: its key, how to read a batch, how to write one."""

    name: str
    read: Reader  # (session, *, user_id, after, limit) -> rows with an ``id``
    render: Renderer
    batch: int


def dumps(value: Any) -> bytes:
    """JSON as the API writes it (datetimes as ISO 8601 UTC with ``Z``)."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


async def posts_json(rows: Sequence[ListedPost], _owner: Owner) -> list[dict[str, Any]]:
    """Posts as the posts API shows them."""
    return [row._asdict() for row in rows]


async def sessions_json(rows: Sequence[SessionRow], owner: Owner) -> list[dict[str, Any]]:
    """Sessions with their device names; the one that asked for the export is marked."""
    names = await device_names(row.user_agent for row in rows)
    return [
        {**row._asdict(), "device": names[row.user_agent], "current": row.id == owner.session_id}
        for row in rows
    ]


async def tokens_json(rows: Sequence[TokenRow], _owner: Owner) -> list[dict[str, Any]]:
    """API tokens: name, scope and times."""
    return [row._asdict() for row in rows]


async def events_json(rows: Sequence[EventRow], _owner: Owner) -> list[dict[str, Any]]:
    """Security-log entries with their device names."""
    names = await device_names(row.user_agent for row in rows)
    return [
        {
            "id": row.id,
            "type": row.type,
            "created_at": row.created_at,
            "address": row.address or None,
            "device": names[row.user_agent],
            "user_agent": row.user_agent,
        }
        for row in rows
    ]


SECTIONS = (
    Section("posts", queries.select_posts_after, posts_json, POSTS_BATCH),
    Section("sessions", queries.select_sessions_after, sessions_json, ROWS_BATCH),
    Section("tokens", queries.select_tokens_after, tokens_json, ROWS_BATCH),
    Section("events", select_events_after, events_json, ROWS_BATCH),
)


async def batches(
    db: AsyncSession, section: Section, user_id: int, stop: asyncio.Event
) -> AsyncIterator[Sequence[Any]]:
    """The section's rows, a batch at a time, until they run out or ``stop`` is set."""
    after = 0
    while not stop.is_set():
        rows = await section.read(db, user_id=user_id, after=after, limit=section.batch)
        # Back to the pool while this batch is written and the client reads it.
        await end_read(db)
        if rows:
            yield rows
        if len(rows) < section.batch:
            return
        after = rows[-1].id


async def document(
    owner: Owner, profile: dict[str, Any], stop: asyncio.Event
) -> AsyncIterator[bytes]:
    """The export, chunk by chunk; it ends early, unfinished, once ``stop`` is set (the
    client has gone).

    Reads through ``get_session()``, so it must run in an app context of its own
    (``quart.stream_with_context``), whose teardown closes that session.
    """
    db = get_session()
    yield b'{"profile":' + dumps(profile)
    for section in SECTIONS:
        opening = b',"' + section.name.encode() + b'":['
        async for rows in batches(db, section, owner.user_id, stop):
            # A list's items without its brackets: the document's list spans every batch.
            items = dumps(await section.render(rows, owner))[1:-1]
            yield opening + items
            opening = b","
        if stop.is_set():
            return
        yield b"]" if opening == b"," else opening + b"]"
    yield b"}"
