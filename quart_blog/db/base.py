"""The declarative base and the column types every feature's models share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Named constraints keep Alembic's autogenerate and batch mode stable across backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite, where only "INTEGER PRIMARY KEY" is the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC on every backend.

    SQLite keeps no offset and PostgreSQL returns aware values; storing naive UTC
    and handing back aware UTC makes comparisons and ISO output identical on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        # combine() rather than replace(tzinfo=None): a fifth of the cost (docs/PERFORMANCE.md).
        return datetime.combine(value.date(), value.time())

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return attach_utc(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            if self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype):
                return super().result_processor(dialect, coltype)
            # The driver hands back datetimes itself (asyncpg): one call per value instead
            # of TypeDecorator's wrapper around process_result_value.
            return attach_utc
        # SQLite hands back SQLAlchemy's ISO text ("2026-01-02 03:04:05.000006"): one C
        # parse instead of three Python calls per value (every listed post has two).
        return parse_sqlite_utc


def attach_utc(value: datetime | None) -> datetime | None:
    """A naive UTC datetime from the driver as an aware one.

    ``datetime.combine`` with the zone costs a fifth of ``value.replace(tzinfo=UTC)``
    (0.17 against 0.87 µs on CPython 3.11), and a page of posts has forty timestamps.
    """
    return None if value is None else datetime.combine(value.date(), value.time(), UTC)


def parse_sqlite_utc(value: str | None) -> datetime | None:
    """A stored SQLite timestamp (naive UTC, no offset) as an aware UTC datetime.

    The offset is parsed, not attached: ``datetime.replace(tzinfo=...)`` costs about
    five times the parse itself (see ``attach_utc``).
    """
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class Base(DeclarativeBase):
    """Declarative base sharing one naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
