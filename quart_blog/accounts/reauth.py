"""Where recent authentication is checked ("sudo mode", SPEC §13).

Sensitive actions need the session to have checked a password, a code or a passkey
within ``REAUTH_SECONDS``. The time of that check is kept on the session row
(``auth_sessions.reauth_at``, read by the same query that resolves the session), so
it holds on every worker and instance, and a fresh login sets it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlencode

from quart import redirect, request, url_for
from quart.typing import ResponseReturnValue

from quart_blog.accounts import queries
from quart_blog.accounts.queries import ActiveSession
from quart_blog.accounts.sessions import current_session, request_user
from quart_blog.clock import utcnow
from quart_blog.config import get_settings
from quart_blog.db import get_session, single_write
from quart_blog.errors import APIError

REAUTH_REQUIRED = "reauth_required"
REAUTH_MESSAGE = (
    "Confirm it is you first: POST /api/v1/reauth with your password or a code, then try again."
)

P = ParamSpec("P")
R = TypeVar("R")
View = Callable[P, Awaitable[R]]


def is_recent(active: ActiveSession) -> bool:
    """Whether the session checked a password, code or passkey within ``REAUTH_SECONDS``."""
    if active.reauth_at is None:
        return False
    return utcnow() - active.reauth_at < timedelta(seconds=get_settings().reauth_seconds)


async def mark_recent() -> None:
    """Record that this request's session has just proved who it is."""
    active = await current_session()
    now = utcnow()
    db = get_session()
    async with single_write(db):
        await queries.update_reauth(db, session_id=active.session_id, now=now)
    request_user().remember_session(active._replace(reauth_at=now))


def reauth_url(next_path: str) -> str:
    """``/reauth?next=PATH``."""
    return f"{url_for('auth.reauth_form')}?{urlencode({'next': next_path})}"


def recent_auth_required(
    back_to: str | None = None,
) -> Callable[[View[P, R]], View[P, R | ResponseReturnValue]]:
    """Let the view run only for a session that authenticated within ``REAUTH_SECONDS``.

    Put it below ``login_required``. Otherwise the API answers 403 ``reauth_required``
    and pages redirect (303) to ``/reauth?next=PATH``: for a GET, ``PATH`` is the page
    itself; for a refused POST it is the page its form was on, the endpoint ``back_to``.
    """

    def decorate(view: View[P, R]) -> View[P, R | ResponseReturnValue]:
        @wraps(view)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | ResponseReturnValue:
            if is_recent(await current_session()):
                return await view(*args, **kwargs)
            if request.path.startswith("/api/"):
                raise APIError(403, REAUTH_REQUIRED, REAUTH_MESSAGE)
            if request.method == "GET" or back_to is None:
                next_path = request.full_path.rstrip("?")
            else:
                next_path = url_for(back_to)
            return redirect(reauth_url(next_path), 303)

        return guarded

    return decorate
