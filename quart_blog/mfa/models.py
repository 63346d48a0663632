"""TOTP credentials, recovery codes and half-finished logins (SPEC §12), as typed models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quart_blog.db import Base, BigId, UTCDateTime


class TotpCredential(Base):
    """A user's TOTP secret: pending until ``confirmed_at`` is set by a first valid code."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # passlib.totp's encrypted JSON (a key derived from SECRET_KEY), never the clear secret.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The time step of the last accepted code: that code, and older ones, are refused.
    last_counter: Mapped[int] = mapped_column(BigInteger, default=0)


class RecoveryCode(Base):
    """One single-use recovery code; the row holds only its SHA-256 (codes carry 80 bits)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingLogin(Base):
    """A login whose password was right and whose second factor is still to come.

    The browser (or API client) that passed the password step holds the token in a
    cookie; this row holds its SHA-256, the attempts made, and when it lapses.
    """

    __tablename__ = "pending_logins"
    __table_args__ = (Index("ix_pending_logins_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    remember: Mapped[bool] = mapped_column(default=False)
