"""The account page, the user's security centre (#12): sessions, second factor, passkeys,
tokens, the latest security events, export and deletion, the address and the password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quart import Blueprint, flash, redirect, render_template, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required

from quart_blog.accounts import auth
from quart_blog.accounts.devices import device_names
from quart_blog.accounts.models import AuthSession
from quart_blog.accounts.queries import select_user, select_user_sessions
from quart_blog.accounts.reauth import recent_auth_required
from quart_blog.accounts.sessions import current_session
from quart_blog.clock import utcnow
from quart_blog.db import get_session
from quart_blog.events.service import latest_events
from quart_blog.forms import field, submitted_form
from quart_blog.mfa import service as mfa
from quart_blog.passkeys.service import list_passkeys
from quart_blog.tokens.service import list_tokens
from quart_blog.validation import password_problem

bp = Blueprint("account", __name__, url_prefix="/account")
RECENT_EVENTS = 5  # the security log's latest entries on the account page; the rest on its own


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One line of the sessions table."""

    device: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


async def session_rows(sessions: list[AuthSession], current_id: int) -> list[SessionRow]:
    """The sessions as the page lists them: this one first, then the most recently seen."""
    names = await device_names(s.user_agent for s in sessions)
    rows = [
        SessionRow(
            device=names[s.user_agent],
            user_agent=s.user_agent,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            current=s.id == current_id,
        )
        for s in sessions
    ]
    # A stable sort: the others keep the query's most-recently-seen-first order.
    return sorted(rows, key=lambda row: not row.current)


async def render_account(error: str | None = None) -> str:
    """The account page, optionally with a password-form error."""
    active = await current_session()
    db = get_session()
    user = await select_user(db, active.user_id)
    sessions = await select_user_sessions(db, user_id=active.user_id, now=utcnow())
    return await render_template(
        "account/index.html",
        user=user,
        sessions=await session_rows(sessions, active.session_id),
        second_factor=await mfa.status(active.user_id),
        passkeys=await list_passkeys(active.user_id),
        tokens=await list_tokens(),
        events=await latest_events(RECENT_EVENTS),
        error=error,
    )


@bp.get("")
@login_required
async def index() -> ResponseReturnValue:
    """Show sessions and the password form."""
    return await render_account()


@bp.post("/password")
@login_required
async def change_password() -> ResponseReturnValue:
    """Change the password and revoke every other session."""
    form = await submitted_form()
    new_password = field(form, "new_password")
    problem = password_problem(new_password, "New password") or (
        None if new_password == field(form, "confirm") else "The new passwords do not match."
    )
    if problem is None and not await auth.change_password(
        field(form, "current_password"), new_password
    ):
        problem = "The current password is wrong."
    if problem is not None:
        return await render_account(problem), 400
    await flash("Password changed. Your other sessions were logged out.", "success")
    return redirect(url_for("account.index"), 303)


@bp.post("/sessions/revoke")
@login_required
@recent_auth_required(back_to="account.index")
async def revoke_sessions() -> ResponseReturnValue:
    """Log out every other browser of this user."""
    count = await auth.revoke_other_sessions()
    await flash(f"Logged out {count} other session(s).", "info")
    return redirect(url_for("account.index"), 303)
