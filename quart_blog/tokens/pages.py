"""The API tokens page, /account/tokens: list, create (shown once) and revoke (SPEC §14).

A new token is shown in the answer to the form that made it, never through a redirect:
the flash cookie is signed, not encrypted, and the secret must not ride in a cookie.
"""

from __future__ import annotations

from quart import Blueprint, abort, flash, redirect, render_template, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from werkzeug.datastructures import MultiDict

from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.forms import field, submitted_form
from quart_blog.tokens import service
from quart_blog.tokens.policy import READ
from quart_blog.tokens.service import NewToken

bp = Blueprint("tokens", __name__, url_prefix="/account/tokens")

DEFAULT_DAYS = 30


async def render_tokens(
    *,
    created: NewToken | None = None,
    error: str | None = None,
    form: MultiDict[str, str] | None = None,
) -> str:
    """The page: the new token (once), the list, and the create form as typed."""
    return await render_template(
        "tokens/index.html",
        tokens=await service.list_tokens(),
        created=created,
        error=error,
        name=field(form, "name") if form is not None else "",
        scope=field(form, "scope") if form is not None else READ,
        days=field(form, "expires_in_days") if form is not None else str(DEFAULT_DAYS),
        days_min=service.DAYS_MIN,
        days_max=service.DAYS_MAX,
        name_max=service.NAME_MAX,
    )


def parse_days(text: str) -> tuple[int, str | None]:
    """The form's number of days and why it is not acceptable, or ``None``."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 3:
        return 0, f"Days must be a whole number from {service.DAYS_MIN} to {service.DAYS_MAX}."
    days = int(stripped)
    return days, service.days_problem(days)


@bp.get("")
@login_required
async def index() -> ResponseReturnValue:
    """The user's tokens and the form to make one."""
    return await render_tokens()


@bp.post("")
@login_required
@recent_auth_required(back_to="tokens.index")
async def create() -> ResponseReturnValue:
    """Make a token and show its secret this once (the page is never cached)."""
    form = await submitted_form()
    name, problem = service.clean_name(field(form, "name"))
    scope = field(form, "scope")
    days, days_problem = parse_days(field(form, "expires_in_days"))
    problem = problem or service.scope_problem(scope) or days_problem
    if problem is not None:
        return await render_tokens(error=problem, form=form), 400
    try:
        made = await service.create_token(name=name, scope=scope, expires_in_days=days)
    except service.TooManyTokens:
        problem = f"You have {service.MAX_LIVE_TOKENS} live tokens already; revoke one first."
        return await render_tokens(error=problem, form=form), 409
    page = await render_tokens(created=made)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/<id:token_id>/revoke")
@login_required
async def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's tokens; anyone else's is 404."""
    if not await service.revoke_token(token_id):
        abort(404)
    await flash("Token revoked: it stops working at once.", "info")
    return redirect(url_for("tokens.index"), 303)
