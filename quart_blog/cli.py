"""The ``quart-blog`` command: serve, db upgrade, create-user, mail."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click
from hypercorn.run import run as run_hypercorn

from quart_blog.accounts import auth
from quart_blog.accounts.queries import select_user_by_username
from quart_blog.app import create_app
from quart_blog.clock import utcnow
from quart_blog.config import ConfigError, Settings
from quart_blog.db import migrations, single_write
from quart_blog.db.database import new_session
from quart_blog.mail import outbox
from quart_blog.mfa import service as mfa
from quart_blog.serving.server import build_config
from quart_blog.validation import password_problem, username_problem

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit."""
    click.echo(f"quart-blog: {message}", err=True)
    sys.exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or one clear line and exit 2."""
    try:
        return Settings.from_env()
    except ConfigError as error:
        fail(f"configuration error: {error}")


@click.group()
def main() -> None:
    """quart-blog: an async auth blog on Quart and Hypercorn."""


@main.command()
@click.option("--bind", "-b", multiple=True, default=["127.0.0.1:8000"], show_default=True)
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--graceful-timeout", default=10.0, show_default=True, type=float)
@click.option("--keep-alive", default=5.0, show_default=True, type=float, help="seconds")
@click.option("--no-migrate", is_flag=True, help="do not apply migrations before serving")
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(
    bind: tuple[str, ...],
    workers: int,
    certfile: str | None,
    keyfile: str | None,
    graceful_timeout: float,
    keep_alive: float,
    no_migrate: bool,
    access_log: bool,
) -> None:
    """Apply migrations, then serve the site under Hypercorn."""
    settings = load_settings()
    if (certfile is None) != (keyfile is None):
        fail("--certfile and --keyfile go together")
    if not no_migrate:
        migrations.upgrade(settings.database_url)
        click.echo(f"quart-blog: database migrated to revision {migrations.head_revision()}")
    config = build_config(
        bind=list(bind),
        workers=workers,
        certfile=certfile,
        keyfile=keyfile,
        graceful_timeout=graceful_timeout,
        keep_alive=keep_alive,
        access_log=access_log,
    )
    sys.exit(run_hypercorn(config))


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrations.upgrade(load_settings().database_url, revision)
    click.echo("database is up to date")


@main.command("create-user")
@click.argument("username")
@click.password_option(help="prompted for (twice) when not given")
def create_user(username: str, password: str) -> None:
    """Create an account from the command line."""
    problem = username_problem(username) or password_problem(password)
    if problem:
        fail(problem)

    async def register() -> None:
        await auth.register(username, password)

    try:
        with_app(register)
    except auth.UsernameTaken:
        fail(f"the username {username!r} is taken", 1)
    click.echo(f"created user {username}")


@main.command("reset-2fa")
@click.argument("username")
def reset_2fa(username: str) -> None:
    """Remove USERNAME's second factors and log them out everywhere.

    For a user who lost every factor (phone, recovery codes, passkeys), once you are sure
    it is them: their TOTP, recovery codes, passkeys and pending logins are deleted and
    every session is revoked, in one transaction; they then log in with the password alone.
    """

    async def reset() -> mfa.Reset | None:
        db = new_session()
        try:
            user = await select_user_by_username(db, username)
            if user is None:
                return None
            await db.commit()
            return await mfa.reset_second_factor(db, user.id)
        finally:
            await db.close()

    removed = with_app(reset)
    if removed is None:
        fail(f"no user named {username!r}", 1)
    click.echo(
        f"reset the second factor of {username}: TOTP {'removed' if removed.totp else 'was off'}, "
        f"{removed.recovery_codes} recovery code(s), {removed.passkeys} passkey(s) and "
        f"{removed.pending_logins} pending login(s) deleted, {removed.sessions} session(s) revoked"
    )


def with_app(work: Callable[[], Awaitable[T]]) -> T:
    """Migrate, then run ``work`` inside the app (its database open, no mail sender)."""
    migrations.upgrade(load_settings().database_url)
    app = create_app(send_mail=False)

    async def run() -> T:
        async with app.app_context():
            await app.startup()
            try:
                return await work()
            finally:
                await app.shutdown()

    return asyncio.run(run())


@main.group()
def mail() -> None:
    """The outbox: what is queued, retrying or refused, and retrying it now.

    Serving processes deliver the outbox; these commands only look at it and change when
    its rows are due.
    """


@mail.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def mail_list(limit: int) -> None:
    """List messages not delivered yet, oldest first."""

    async def undelivered() -> tuple[int, list[outbox.Queued]]:
        db = new_session()
        try:
            return await outbox.count_undelivered(db), await outbox.select_undelivered(
                db, limit=limit
            )
        finally:
            await db.close()

    total, rows = with_app(undelivered)
    if not rows:
        click.echo("nothing queued: every message was delivered")
        return
    for row in rows:
        if row.failed_at is not None:
            state = f"refused {row.failed_at:%Y-%m-%d %H:%M:%S}"
        elif row.attempts:
            state = f"retrying ({row.attempts} attempts, next {row.next_attempt_at:%H:%M:%S})"
        else:
            state = "queued"
        error = f"  last error: {row.last_error}" if row.last_error else ""
        click.echo(
            f"#{row.id}  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.kind}  to {row.recipient}"
            f"  {state}{error}"
        )
    click.echo(
        f"{total} not delivered" + (f" (first {len(rows)} shown)" if total > len(rows) else "")
    )


@mail.command("retry")
@click.argument("ids", nargs=-1, type=click.IntRange(1))
def mail_retry(ids: tuple[int, ...]) -> None:
    """Make undelivered messages (refused ones too) due now; all of them without IDS."""

    async def retry() -> int:
        db = new_session()
        try:
            async with single_write(db):
                return await outbox.make_due_now(db, now=utcnow(), ids=list(ids) or None)
        finally:
            await db.close()

    count = with_app(retry)
    click.echo(f"{count} message(s) due now; a serving process sends them within a second")
