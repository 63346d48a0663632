"""The database layer's public face: what features use to reach the database.

Inside: ``database`` (the per-app extension), ``engine`` (pool and SQLite pragmas),
``session`` (the per-request session and write units), ``prepared`` (hot statements
compiled once), ``connections`` (the fair pool and the one-hop SQLite driver: the only
code below SQLAlchemy's and aiosqlite's public API), ``writers`` (SQLite writers' turn
lock), ``base`` (declarative base and shared column types), ``migrations`` (Alembic).
"""

from functools import partial

from quart import Quart

from quart_blog.db.base import Base, BigId, UTCDateTime
from quart_blog.db.database import Database, close_database, get_database, open_database
from quart_blog.db.prepared import Prepared
from quart_blog.db.session import (
    close_session,
    end_read,
    get_session,
    ping,
    single_write,
    write_transaction,
)


def init_app(app: Quart) -> None:
    """Open the database when serving starts, close it when serving stops, and close
    each request's session at teardown."""
    app.before_serving(partial(open_database, app))
    app.after_serving(partial(close_database, app))
    app.teardown_appcontext(close_session)


__all__ = [
    "Base",
    "BigId",
    "Database",
    "Prepared",
    "UTCDateTime",
    "end_read",
    "get_database",
    "get_session",
    "init_app",
    "ping",
    "single_write",
    "write_transaction",
]
