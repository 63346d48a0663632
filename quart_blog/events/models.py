"""Security-log entries (SPEC §14), as a typed model with no behaviour."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_blog.db import Base, BigId, UTCDateTime


class AuthEvent(Base):
    """One event on an account: its type, when, the client address and the User-Agent.

    The readable device name ("Firefox 133 on Linux") is made from ``user_agent`` when
    the log is shown, so recording an event costs one INSERT and no parsing.
    """

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_user_id_id", "user_id", "id"),
        Index("ix_auth_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
