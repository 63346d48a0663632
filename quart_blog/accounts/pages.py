"""Pages to register, log in and log out."""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import login_required
from quart_rate_limiter import rate_limit

from quart_blog.accounts import auth
from quart_blog.accounts.sessions import current_session
from quart_blog.config import get_settings
from quart_blog.forms import field, submitted_form
from quart_blog.mfa import service as mfa
from quart_blog.recovery.service import EmailTaken
from quart_blog.security.headers import clear_site_data_on_logout
from quart_blog.security.limits import LOGIN_PER_ADDRESS, REGISTER_PER_ADDRESS
from quart_blog.security.redirects import safe_next
from quart_blog.validation import clean_email, password_problem, text_problem, username_problem

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "Wrong username or password."


@bp.get("/register")
async def register_form() -> ResponseReturnValue:
    """Show the registration form."""
    return await render_template("auth/register.html")


@bp.post("/register")
@rate_limit(limits=[REGISTER_PER_ADDRESS])
async def register() -> ResponseReturnValue:
    """Create an account, then send the new user to log in."""
    form = await submitted_form()
    username, password, confirm = (
        field(form, "username"),
        field(form, "password"),
        field(form, "confirm"),
    )
    typed_email = field(form, "email")
    email, email_error = clean_email(typed_email) if typed_email.strip() else ("", None)
    problems = [
        ("username", username_problem(username)),
        ("email", email_error),
        ("password", password_problem(password)),
        ("confirm", None if password == confirm else "The passwords do not match."),
    ]
    bad, problem = next(((name, text) for name, text in problems if text), (None, None))
    status = 400
    if problem is None:
        try:
            await auth.register(username, password, email or None)
        except auth.UsernameTaken:
            bad, problem, status = "username", "That username is taken.", 409
        except EmailTaken:
            bad, problem, status = "email", "That e-mail address belongs to another account.", 409
    if problem is not None:
        # The passwords stay filled in unless they are what is wrong (the page is no-store).
        keep = bad in ("username", "email")
        page = await render_template(
            "auth/register.html",
            error=problem,
            bad=bad,
            username=username,
            email=typed_email,
            password=password if keep else "",
            confirm=confirm if keep else "",
        )
        return page, status
    sent = f" We sent a link to {email} to confirm it." if email else ""
    await flash(f"Account created. You can log in now.{sent}", "success")
    return redirect(url_for("auth.login_form"), 303)


@bp.get("/login")
async def login_form() -> ResponseReturnValue:
    """Show the login form (keeping a safe ``next`` for after login)."""
    return await render_template("auth/login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
@rate_limit(limits=[LOGIN_PER_ADDRESS])
async def login() -> ResponseReturnValue:
    """Check the credentials, start a session and go where the user was heading."""
    form = await submitted_form()
    username, password = field(form, "username"), field(form, "password")
    target = safe_next(form.get("next") or request.args.get("next"))
    user = None
    if text_problem("Username", username) is None and text_problem("Password", password) is None:
        user = await auth.attempt_login(username, password)
    if user is None:
        page = await render_template(
            "auth/login.html", error=BAD_CREDENTIALS, username=username, next=target
        )
        return page, 401
    remember = field(form, "remember") in ("on", "1", "true", "yes")
    if await mfa.totp_enabled(user.id):
        # No session yet: the code step on /login/2fa finishes this login (SPEC §12).
        await mfa.start_pending_login(user, remember=remember)
        return redirect(url_for("mfa.login_form", next=target), 303)  # None: no ?next
    first = await auth.log_in(user, remember=remember)
    greeting = "Welcome" if first else "Welcome back"
    await flash(f"{greeting}, {user.username}!", "success")
    return redirect(target or url_for("posts.index"), 303)


@bp.get("/logout")
@login_required
async def logout_form() -> ResponseReturnValue:
    """Ask for confirmation; a GET never changes state."""
    return await render_template("auth/logout.html")


@bp.post("/logout")
@login_required
async def logout() -> ResponseReturnValue:
    """End the session server-side and clear the cookie."""
    await auth.log_out()
    await flash("You are logged out.", "info")
    return clear_site_data_on_logout(redirect(url_for("auth.login_form"), 303))


@bp.get("/reauth")
@login_required
async def reauth_form() -> ResponseReturnValue:
    """Ask for the password again before a sensitive action (SPEC §13)."""
    return await render_reauth(safe_next(request.args.get("next")))


async def render_reauth(next_path: str | None, error: str | None = None) -> str:
    """The re-authentication form, heading back to ``next_path`` (default: the account).

    With TOTP on it takes a code (TOTP or recovery) as well as the password.
    """
    code_field = await mfa.totp_enabled((await current_session()).user_id)
    return await render_template(
        "auth/reauth.html",
        next=next_path or url_for("account.index"),
        error=error,
        bad="password" if error else None,
        code_field=code_field,
        minutes=get_settings().reauth_seconds // 60,
    )


@bp.post("/reauth")
@login_required
async def reauth() -> ResponseReturnValue:
    """Check the password (or a code); then go on to what the user was doing."""
    form = await submitted_form()
    target = safe_next(form.get("next"))
    password, code = field(form, "password"), field(form, "code").strip()
    if password:
        proved = text_problem("Password", password) is None and (
            await auth.reauthenticate_with_password(password)
        )
    else:
        proved = bool(code) and await auth.reauthenticate_with_code(code)
    if proved:
        return redirect(target or url_for("account.index"), 303)
    wrong = "That is not your password." if password or not code else "That code is not right."
    return await render_reauth(target, wrong), 400
