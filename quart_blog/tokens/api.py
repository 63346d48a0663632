"""The tokens API (SPEC §14): create (shown once), list and revoke your API tokens.

Only a logged-in session reaches these; a token never does (``policy``), so a leaked
token cannot mint another or revoke its owner's.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_schema import document_response, operation_id, validate_request

from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.errors import CONFLICT, NOT_FOUND, APIError, ErrorOut
from quart_blog.openapi import NoContent
from quart_blog.serving.responses import json_response, no_content
from quart_blog.tokens import service
from quart_blog.tokens.schemas import NewTokenOut, TokenIn, TokenList
from quart_blog.tokens.service import TokenInfo

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def token_json(token: TokenInfo) -> dict[str, Any]:
    """``{"id", "name", "scope", "created_at", "expires_at", "last_used_at"}``."""
    return {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


@bp.post("")
@login_required
@recent_auth_required(back_to="tokens.index")
@validate_request(TokenIn)
@operation_id("createToken")
@document_response(NewTokenOut, 201)
@document_response(ErrorOut, 409)
async def create(data: TokenIn) -> ResponseReturnValue:
    """Make a token; ``token`` in the answer is its secret, shown this once."""
    try:
        made = await service.create_token(
            name=data.name, scope=data.scope, expires_in_days=data.expires_in_days
        )
    except service.TooManyTokens:
        message = f"You have {service.MAX_LIVE_TOKENS} live tokens already; revoke one first."
        raise APIError(409, CONFLICT, message) from None
    return json_response({**token_json(made.info), "token": made.token}, 201)


@bp.get("")
@login_required
@operation_id("listTokens")
@document_response(TokenList, 200)
async def index() -> ResponseReturnValue:
    """Your live tokens, newest first (never their secrets)."""
    return json_response({"items": [token_json(token) for token in await service.list_tokens()]})


@bp.delete("/<id:token_id>")
@login_required
@operation_id("revokeToken")
@document_response(NoContent, 204)
async def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of your tokens: the next request with it gets 401."""
    if not await service.revoke_token(token_id):
        raise APIError(404, NOT_FOUND, "No such token.")
    return no_content()
