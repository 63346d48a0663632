"""Pages to download everything the account holds, and to delete the account."""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit

from quart_blog.account_data import service
from quart_blog.accounts.sessions import current_session
from quart_blog.forms import field, submitted_form

bp = Blueprint("account_data", __name__, url_prefix="/account")


@bp.get("/export")
@login_required
@rate_limit(limits=[service.EXPORT_PER_ADDRESS])
async def export() -> ResponseReturnValue:
    """Download everything: profile, posts, sessions, tokens and the security log."""
    return await service.export_response(download=True)


async def render_delete(refused: service.Refused | None = None) -> str:
    """The deletion form (with the code field when TOTP is on), and why it was refused."""
    active = await current_session()
    return await render_template(
        "account_data/delete.html",
        code_field=await service.second_factor_on(active.user_id),
        error=None if refused is None else refused.message,
        bad=None if refused is None else refused.field,
    )


@bp.get("/delete")
@login_required
async def delete_form() -> ResponseReturnValue:
    """Say what goes, and ask for the password (and a code) to confirm."""
    return await render_delete()


@bp.post("/delete")
@login_required
async def delete() -> ResponseReturnValue:
    """Delete the account and everything in it; log out."""
    form = await submitted_form()
    try:
        await service.delete_account(field(form, "current_password"), field(form, "code"))
    except service.Refused as refused:
        return await render_delete(refused), 400
    await flash("Your account and everything in it were deleted. Goodbye!", "info")
    return redirect(url_for("auth.login_form"), 303)
