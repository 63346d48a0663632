"""The passkey form the account page posts (SPEC §12): remove a passkey.

Adding one and signing in with one are ceremonies in the browser (``static/passkeys.js``
calls the API); the account page lists the passkeys (``account_pages.render_account``),
and the re-authentication page asks ``has_passkeys()`` whether to offer one.
"""

from __future__ import annotations

from quart import Blueprint, abort, flash, redirect, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.accounts.sessions import request_user
from quart_blog.db import get_session
from quart_blog.passkeys import queries, service

bp = Blueprint("passkeys", __name__, url_prefix="/account/passkeys")


@bp.app_template_global("has_passkeys")
async def has_passkeys() -> bool:
    """Whether the logged-in user has a passkey (for templates: Jinja awaits the call)."""
    active = await request_user().resolve()
    if active is None:
        return False
    return await queries.count_user_passkeys(get_session(), user_id=active.user_id) > 0


@bp.post("/<id:passkey_id>/delete")
@login_required
@recent_auth_required(back_to="account.index")
async def remove(passkey_id: int) -> ResponseReturnValue:
    """Remove one of the user's passkeys; anyone else's is a 404."""
    name = await service.remove_passkey(passkey_id)
    if name is None:
        abort(404)
    await flash(f"Passkey “{name}” removed. It can no longer sign in to this account.", "success")
    return redirect(url_for("account.index"), 303)
