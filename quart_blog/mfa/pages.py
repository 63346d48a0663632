"""Pages of the second factor (SPEC §12): ``/account/2fa`` and the login's ``/login/2fa`` step."""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit

from quart_blog.accounts import auth
from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.accounts.sessions import current_session
from quart_blog.forms import field, submitted_form
from quart_blog.mfa import service
from quart_blog.security.limits import LOGIN_PER_ADDRESS
from quart_blog.security.redirects import safe_next

bp = Blueprint("mfa", __name__)

BACK_TO = "mfa.index"
WRONG_ENROLMENT_CODE = (
    "That code is not right. Check that the app shows quart-blog and type the code it shows now."
)
WRONG_LOGIN_CODE = "That code is not right, or it was used already. Try the newest code."
LOGIN_LAPSED = "That login lapsed or had too many wrong codes. Log in again."


async def render_index(error: str | None = None) -> str:
    """The second-factor page: the status, an enrolment in progress, and what can be done."""
    active = await current_session()
    return await render_template(
        "mfa/index.html",
        status=await service.status(active.user_id),
        enrolment=await service.pending_enrolment(active.user_id, active.username),
        error=error,
        bad="code" if error else None,
    )


async def render_codes(codes: list[str], *, first: bool) -> str:
    """The page that shows a new set of recovery codes, this once."""
    return await render_template("mfa/recovery_codes.html", codes=codes, first=first)


@bp.get("/account/2fa")
@login_required
async def index() -> ResponseReturnValue:
    """Show whether TOTP is on, and the enrolment when one was started."""
    return await render_index()


@bp.post("/account/2fa/totp")
@login_required
@recent_auth_required(back_to=BACK_TO)
async def start_totp() -> ResponseReturnValue:
    """Start an enrolment: a new secret, shown as a QR code and as text on the page."""
    active = await current_session()
    try:
        await service.start_enrolment(active.user_id, active.username)
    except service.AlreadyEnabled:
        await flash("Two-step login is on already. Turn it off first to use another app.", "info")
    return redirect(url_for(BACK_TO), 303)


@bp.post("/account/2fa/totp/confirm")
@login_required
@recent_auth_required(back_to=BACK_TO)
async def confirm_totp() -> ResponseReturnValue:
    """Switch TOTP on with a code from the app, then show the recovery codes once."""
    active = await current_session()
    form = await submitted_form()
    fresh = await service.confirm_enrolment(active.user_id, field(form, "code"))
    if fresh is None:
        return await render_index(WRONG_ENROLMENT_CODE), 400
    return await render_codes(fresh, first=True)


@bp.post("/account/2fa/totp/disable")
@login_required
@recent_auth_required(back_to=BACK_TO)
async def disable_totp() -> ResponseReturnValue:
    """Turn TOTP off (the recovery codes go too)."""
    active = await current_session()
    if await service.disable_totp(active.user_id):
        await flash("Two-step login is off. Your recovery codes no longer work.", "success")
    return redirect(url_for(BACK_TO), 303)


@bp.post("/account/2fa/recovery-codes")
@login_required
@recent_auth_required(back_to=BACK_TO)
async def regenerate_codes() -> ResponseReturnValue:
    """Ten new recovery codes, shown once; the old ones stop working."""
    active = await current_session()
    try:
        fresh = await service.regenerate_recovery_codes(active.user_id)
    except service.NotEnabled:
        await flash("Recovery codes come with two-step login: turn it on first.", "info")
        return redirect(url_for(BACK_TO), 303)
    return await render_codes(fresh, first=False)


async def render_login(next_path: str | None, error: str | None = None) -> str:
    """The code form of a pending login."""
    return await render_template(
        "mfa/login.html", next=next_path, error=error, bad="code" if error else None
    )


async def start_over(next_path: str | None) -> ResponseReturnValue:
    """Back to the login form with a word of why (keeping where the user was going)."""
    await flash(LOGIN_LAPSED, "error")
    return redirect(url_for("auth.login_form", next=next_path), 303)  # None: no ?next


@bp.get("/login/2fa")
async def login_form() -> ResponseReturnValue:
    """Ask for the code, while this browser's password step is still live."""
    next_path = safe_next(request.args.get("next"))
    if not await service.has_pending_login():
        # A page, not a redirect: opened from history or a bookmark, it says what to do.
        return await render_template("mfa/login.html", next=next_path, lapsed=LOGIN_LAPSED)
    return await render_login(next_path)


@bp.post("/login/2fa")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
async def login() -> ResponseReturnValue:
    """Check the code; start the session and go where the user was heading."""
    form = await submitted_form()
    next_path = safe_next(form.get("next") or request.args.get("next"))
    try:
        user, remember = await service.finish_pending_login(field(form, "code"))
    except service.InvalidCode:
        return await render_login(next_path, WRONG_LOGIN_CODE), 401
    except service.LoginExpired:
        return await start_over(next_path)
    first = await auth.log_in(user, remember=remember)
    greeting = "Welcome" if first else "Welcome back"
    await flash(f"{greeting}, {user.username}!", "success")
    return redirect(next_path or url_for("posts.index"), 303)
