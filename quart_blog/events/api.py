"""The security-log API: your own events only, newest first, a page at a time."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_schema import document_response, operation_id, validate_querystring

from quart_blog.events import service
from quart_blog.events.schemas import EventPage, EventsQuery
from quart_blog.events.service import Event
from quart_blog.serving.responses import json_response

bp = Blueprint("events", __name__)


def event_json(event: Event) -> dict[str, Any]:
    """``{"id", "type", "created_at", "address", "device"}`` (SPEC §14)."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at,
        "address": event.address,
        "device": event.device,
    }


@bp.get("/me/events")
@login_required
@validate_querystring(EventsQuery)
@operation_id("listEvents")
@document_response(EventPage, 200)
async def index(query_args: EventsQuery) -> ResponseReturnValue:
    """A page of your security log, newest first; pass ``next`` back as ``before``."""
    page, next_before = await service.page_of_events(
        before=query_args.before, limit=query_args.limit
    )
    return json_response({"items": [event_json(event) for event in page], "next": next_before})
