"""The export and deletion API: everything of yours in one document, or nothing left at all."""

from __future__ import annotations

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit
from quart_schema import document_response, operation_id, validate_request

from quart_blog.account_data import service
from quart_blog.account_data.schemas import DeleteIn, ExportOut
from quart_blog.errors import INVALID_CREDENTIALS, APIError, ErrorOut
from quart_blog.openapi import NoContent
from quart_blog.serving.responses import no_content

bp = Blueprint("account_data", __name__)


@bp.get("/me/export")
@login_required
@rate_limit(limits=[service.EXPORT_PER_ADDRESS])
@operation_id("exportMe")
@document_response(ExportOut, 200)
async def export() -> ResponseReturnValue:
    """Everything of yours in one JSON document, streamed: profile, posts, sessions, tokens
    and the security log."""
    return await service.export_response(download=False)


@bp.delete("/me")
@login_required
@validate_request(DeleteIn)
@operation_id("deleteMe")
@document_response(NoContent, 204)
@document_response(ErrorOut, 401)
@document_response(ErrorOut, 429)  # counted as a login attempt
@document_response(ErrorOut, 503)
async def delete(data: DeleteIn) -> ResponseReturnValue:
    """Delete your account with every post, session, token, passkey and code; logs you out."""
    try:
        await service.delete_account(data.current_password, data.code or "")
    except service.Refused as refused:
        raise APIError(401, INVALID_CREDENTIALS, refused.message) from None
    return no_content()
