"""The ``quart-blog`` command: serve, db upgrade, create-user."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

import click
from hypercorn.run import run as run_hypercorn

from quart_blog.accounts import auth
from quart_blog.app import create_app
from quart_blog.config import ConfigError, Settings
from quart_blog.db import migrations
from quart_blog.serving.server import build_config
from quart_blog.validation import password_problem, username_problem


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
    settings = load_settings()
    app = create_app()

    async def run() -> None:
        async with app.app_context():
            await app.startup()
            try:
                await auth.register(username, password)
            finally:
                await app.shutdown()

    migrations.upgrade(settings.database_url)
    try:
        asyncio.run(run())
    except auth.UsernameTaken:
        fail(f"the username {username!r} is taken", 1)
    click.echo(f"created user {username}")
