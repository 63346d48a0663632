"""Filling an account with rows straight through the database (faster than the API)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Quart
from sqlalchemy import insert

from quart_blog.db import get_database
from quart_blog.posts.models import Post
from quart_blog.tables import metadata
from quart_blog.tokens.models import ApiToken

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def insert_rows(app: Quart, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` in one statement, committed."""
    async with app.app_context(), get_database().engine.begin() as connection:
        await connection.execute(insert(metadata.tables[table]), rows)


async def insert_posts(app: Quart, user_id: int, count: int, *, title: str = "post") -> None:
    """``count`` posts of the user, titled ``title 0`` … in id order."""
    rows = [
        {
            "user_id": user_id,
            "title": f"{title} {number}",
            "body": f"body {number}",
            "created_at": WHEN,
            "updated_at": WHEN,
        }
        for number in range(count)
    ]
    await insert_rows(app, Post.__tablename__, rows)


async def insert_token(app: Quart, user_id: int, name: str = "script") -> str:
    """An API token of the user (only its SHA-256 stored, as the token API does): the token."""
    token = "qb_" + secrets.token_urlsafe(32)
    row = {
        "user_id": user_id,
        "name": name,
        "scope": "write",
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "created_at": WHEN,
        "expires_at": datetime.now(UTC) + timedelta(days=30),
    }
    await insert_rows(app, ApiToken.__tablename__, [row])
    return token


def every_factor_row(user_id: int, tag: str) -> dict[str, list[dict[str, Any]]]:
    """One row in each second-factor, login and link table for the user (unique by ``tag``).

    The TOTP secret is an unconfirmed enrolment, so TOTP is not on.
    """
    later = WHEN + timedelta(days=3650)
    digest = hashlib.sha256(tag.encode()).hexdigest()
    return {
        "mfa_totp": [{"user_id": user_id, "secret": "{}", "created_at": WHEN, "last_counter": 0}],
        "recovery_codes": [{"user_id": user_id, "code_hash": digest, "created_at": WHEN}],
        "pending_logins": [
            {
                "token_hash": digest,
                "user_id": user_id,
                "created_at": WHEN,
                "expires_at": later,
                "attempts": 0,
                "remember": False,
            }
        ],
        "passkeys": [
            {
                "user_id": user_id,
                "credential_id": tag.encode(),
                "public_key": b"cose key",
                "sign_count": 0,
                "name": f"{tag} laptop",
                "transports": "internal",
                "created_at": WHEN,
            }
        ],
        "webauthn_challenges": [
            {
                "token_hash": digest,
                "purpose": "reauth",
                "user_id": user_id,
                "challenge": tag.encode(),
                "created_at": WHEN,
                "expires_at": later,
            }
        ],
        "one_time_tokens": [
            {
                "token_hash": digest,
                "user_id": user_id,
                "purpose": "reset",
                "created_at": WHEN,
                "expires_at": later,
            }
        ],
    }


async def fill_every_table(app: Quart, user_id: int, tag: str) -> None:
    """Give the user a row in every table that can name a user (see ``every_factor_row``)."""
    for table, rows in every_factor_row(user_id, tag).items():
        await insert_rows(app, table, rows)
    await insert_token(app, user_id, name=f"{tag} script")


def user_tables() -> list[str]:
    """Every table with a ``user_id`` column."""
    return sorted(name for name, table in metadata.tables.items() if "user_id" in table.c)
