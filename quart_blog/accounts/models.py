"""Accounts and their server-side login sessions (SPEC §9), as typed models with no behaviour."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_blog.db import Base, BigId, UTCDateTime


class User(Base):
    """Someone who can log in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    username_lower: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The address as typed, and lower-cased for uniqueness; NULL when none was given.
    email: Mapped[str | None] = mapped_column(String(254))
    email_lower: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # NULL: never


class AuthSession(Base):
    """A server-side login session; the cookie holds the token, this row only its SHA-256."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    remember: Mapped[bool] = mapped_column(default=False)
    # When this session last checked a password, code or passkey (SPEC §13); NULL: never.
    reauth_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
