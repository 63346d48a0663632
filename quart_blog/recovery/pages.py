"""Pages to set and verify an address, and to reset a forgotten password (SPEC §11).

A link from a message only ever shows a page (mail scanners follow links); its button
POSTs, and only the POST uses the token.
"""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import current_user, login_required

from quart_blog.forms import field, submitted_form
from quart_blog.recovery import service
from quart_blog.validation import clean_email, password_problem

bp = Blueprint("recovery", __name__)

FORGOT_SENT = (
    "If that address is the confirmed address of an account, a link to reset its password "
    "is on its way. It works for 30 minutes."
)
BAD_LINK = (
    "This link is not valid: it was already used, a newer one replaced it, or it expired. "
    "Ask for a new one."
)


async def bad_link_page() -> ResponseReturnValue:
    return await render_template("recovery/bad_link.html", message=BAD_LINK), 400


@bp.get("/account/email")
@login_required
async def email_form() -> ResponseReturnValue:
    """Ask for the new address and the password that confirms the change."""
    return await render_template("recovery/email.html")


@bp.post("/account/email")
@login_required
async def change_email() -> ResponseReturnValue:
    """Mail a verification link to the new address (and a notice to the old one)."""
    form = await submitted_form()
    email, problem = clean_email(field(form, "email"))
    status = 400
    if problem is None:
        try:
            await service.change_email(email, field(form, "current_password"))
        except service.WrongPassword:
            problem = "The current password is wrong."
        except service.EmailTaken:
            problem, status = "That e-mail address belongs to another account.", 409
    if problem is not None:
        page = await render_template(
            "recovery/email.html", error=problem, email=field(form, "email")
        )
        return page, status
    await flash(
        f"We sent a link to {email}. Your address changes once you open it and confirm.",
        "success",
    )
    return redirect(url_for("account.index"), 303)


@bp.get("/verify-email")
async def verify_email_form() -> ResponseReturnValue:
    """The page a verification link opens: a button, so that following the link uses nothing."""
    token = request.args.get("token", "")
    if not await service.verification_link_is_live(token):
        return await bad_link_page()
    return await render_template("recovery/verify.html", token=token)


@bp.post("/verify-email")
async def verify_email() -> ResponseReturnValue:
    """Use the verification token: the address becomes the account's, confirmed."""
    form = await submitted_form()
    if not await service.verify_email(field(form, "token")):
        return await bad_link_page()
    await flash("Your e-mail address is confirmed.", "success")
    target = "account.index" if await current_user.is_authenticated else "auth.login_form"
    return redirect(url_for(target), 303)


@bp.get("/forgot-password")
async def forgot_password_form() -> ResponseReturnValue:
    """Ask for the address of the account."""
    return await render_template("recovery/forgot.html")


@bp.post("/forgot-password")
async def forgot_password() -> ResponseReturnValue:
    """Queue a reset link; the answer is the same whether or not an account has the address."""
    form = await submitted_form()
    email, problem = clean_email(field(form, "email"))
    if problem is None:
        await service.request_password_reset(email)
    await flash(FORGOT_SENT, "info")
    return redirect(url_for("auth.login_form"), 303)


@bp.get("/reset-password")
async def reset_password_form() -> ResponseReturnValue:
    """The page a reset link opens: the new-password form (the link is not used yet)."""
    token = request.args.get("token", "")
    if not await service.reset_link_is_live(token):
        return await bad_link_page()
    return await render_template("recovery/reset.html", token=token)


@bp.post("/reset-password")
async def reset_password() -> ResponseReturnValue:
    """Use the reset token: new password, every session ended, a notice mailed."""
    form = await submitted_form()
    token, new_password = field(form, "token"), field(form, "new_password")
    problem = password_problem(new_password, "New password") or (
        None if new_password == field(form, "confirm") else "The new passwords do not match."
    )
    if problem is not None:
        if not await service.reset_link_is_live(token):
            return await bad_link_page()
        return await render_template("recovery/reset.html", token=token, error=problem), 400
    if not await service.reset_password(token, new_password):
        return await bad_link_page()
    await flash("Your password is reset and every session was logged out. Log in now.", "success")
    return redirect(url_for("auth.login_form"), 303)
