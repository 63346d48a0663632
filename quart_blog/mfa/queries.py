"""Every SQL statement on ``mfa_totp``, ``recovery_codes`` and ``pending_logins``.

Anything that consumes a factor is ONE conditional statement (``UPDATE … WHERE
last_counter < :step``, ``DELETE … RETURNING``, ``UPDATE … attempts + 1 … RETURNING``),
so two parallel requests can never both use the same code or attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from quart_blog.db import get_database
from quart_blog.mfa.models import PendingLogin, RecoveryCode, TotpCredential
from quart_blog.passkeys.models import Passkey


class Pending(NamedTuple):
    """A pending login after one more attempt was counted on it."""

    id: int
    user_id: int
    attempts: int
    remember: bool


# --- TOTP -------------------------------------------------------------------------------


async def select_totp(db: AsyncSession, user_id: int) -> TotpCredential | None:
    """The user's TOTP row, confirmed or still pending enrolment."""
    result = await db.execute(select(TotpCredential).where(TotpCredential.user_id == user_id))
    return result.scalar_one_or_none()


async def totp_confirmed(db: AsyncSession, user_id: int, *, lock: bool = False) -> bool:
    """Whether the user has a confirmed TOTP secret.

    ``lock`` holds the row until the transaction ends (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already serialises writers), so changes that depend on it take turns.
    """
    query = select(TotpCredential.user_id).where(
        TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
    )
    result = await db.execute(query.with_for_update() if lock else query)
    return result.first() is not None


async def put_pending_totp(db: AsyncSession, *, user_id: int, secret: str, now: datetime) -> bool:
    """Start an enrolment: ``secret`` becomes the user's unconfirmed secret, replacing an
    earlier unconfirmed one. False (nothing written) when a confirmed secret is there.

    One upsert, so parallel starts cannot collide on the primary key.
    """
    postgres = get_database().engine.dialect.name == "postgresql"
    inserting = (pg_insert if postgres else sqlite_insert)(TotpCredential).values(
        user_id=user_id, secret=secret, created_at=now, confirmed_at=None, last_counter=0
    )
    statement = inserting.on_conflict_do_update(
        index_elements=[TotpCredential.user_id],
        set_={"secret": inserting.excluded.secret, "created_at": now, "last_counter": 0},
        where=TotpCredential.confirmed_at.is_(None),
    ).returning(TotpCredential.user_id)
    return (await db.execute(statement)).first() is not None


async def confirm_totp(
    db: AsyncSession, *, user_id: int, secret: str, counter: int, now: datetime
) -> bool:
    """Switch the pending secret on with its first code; False if another request won."""
    result = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == user_id,
            TotpCredential.secret == secret,
            TotpCredential.confirmed_at.is_(None),
            TotpCredential.last_counter < counter,
        )
        .values(confirmed_at=now, last_counter=counter)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def use_totp_step(
    db: AsyncSession, *, user_id: int, counter: int, reencrypted: str | None
) -> bool:
    """Accept a code of time step ``counter`` unless one of that step or later was.

    ``reencrypted`` replaces the stored secret (after a SECRET_KEY rotation).
    """
    values: dict[str, object] = {"last_counter": counter}
    if reencrypted is not None:
        values["secret"] = reencrypted
    result = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == user_id,
            TotpCredential.confirmed_at.is_not(None),
            TotpCredential.last_counter < counter,
        )
        .values(**values)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def delete_totp(db: AsyncSession, user_id: int) -> int:
    """Remove the user's TOTP secret (confirmed or not); how many rows went."""
    result = await db.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- recovery codes ---------------------------------------------------------------------


async def insert_recovery_codes(
    db: AsyncSession, *, user_id: int, hashes: list[str], now: datetime
) -> None:
    """Store a set of recovery codes (their hashes)."""
    await db.execute(
        insert(RecoveryCode),
        [{"user_id": user_id, "code_hash": digest, "created_at": now} for digest in hashes],
    )


async def delete_recovery_codes(db: AsyncSession, user_id: int) -> int:
    """Void every recovery code of the user; how many went."""
    result = await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def use_recovery_code(db: AsyncSession, *, user_id: int, code_hash: str) -> bool:
    """Consume one recovery code: True only for the one request whose DELETE removed it."""
    result = await db.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash)
        .returning(RecoveryCode.id)
    )
    return result.first() is not None


async def count_recovery_codes(db: AsyncSession, user_id: int) -> int:
    """How many unused recovery codes the user has."""
    result = await db.execute(
        select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user_id)
    )
    return int(result.scalar_one())


async def count_passkeys(db: AsyncSession, user_id: int) -> int:
    """How many passkeys the user has registered."""
    result = await db.execute(
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    )
    return int(result.scalar_one())


async def delete_passkeys(db: AsyncSession, user_id: int) -> int:
    """Remove every passkey of the user (the administrator's reset); how many went."""
    result = await db.execute(delete(Passkey).where(Passkey.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- pending logins ---------------------------------------------------------------------


async def insert_pending_login(
    db: AsyncSession,
    *,
    user_id: int,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
    remember: bool,
) -> None:
    """Remember a login whose password was right, for the client holding the token."""
    await db.execute(
        insert(PendingLogin).values(
            token_hash=token_hash,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
            attempts=0,
            remember=remember,
        )
    )


async def delete_expired_pending_logins(db: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Drop the user's lapsed pending logins (so the table does not grow forever)."""
    await db.execute(
        delete(PendingLogin).where(PendingLogin.user_id == user_id, PendingLogin.expires_at <= now)
    )


async def count_pending_attempt(
    db: AsyncSession, *, token_hash: str, now: datetime
) -> Pending | None:
    """Count one code attempt on a live pending login and return it; None if none is live."""
    result = await db.execute(
        update(PendingLogin)
        .where(PendingLogin.token_hash == token_hash, PendingLogin.expires_at > now)
        .values(attempts=PendingLogin.attempts + 1)
        .returning(
            PendingLogin.id, PendingLogin.user_id, PendingLogin.attempts, PendingLogin.remember
        )
    )
    row = result.first()
    return None if row is None else Pending(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))


async def delete_pending_login(db: AsyncSession, pending_id: int) -> bool:
    """End a pending login (finished, or out of attempts); True if this call removed it."""
    result = await db.execute(
        delete(PendingLogin).where(PendingLogin.id == pending_id).returning(PendingLogin.id)
    )
    return result.first() is not None


async def delete_pending_logins(db: AsyncSession, user_id: int) -> int:
    """End every pending login of the user; how many."""
    result = await db.execute(delete(PendingLogin).where(PendingLogin.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def pending_login_is_live(db: AsyncSession, token_hash: str, *, now: datetime) -> bool:
    """Whether this token names a pending login that has not lapsed."""
    result = await db.execute(
        select(PendingLogin.id).where(
            PendingLogin.token_hash == token_hash, PendingLogin.expires_at > now
        )
    )
    return result.first() is not None
