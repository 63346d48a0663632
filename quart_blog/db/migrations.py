"""Run the Alembic migrations from code (CLI, serve, tests).

The scripts live in the repository's ``alembic/`` (packaged inside the wheel); no
``alembic.ini`` is needed here, so an installed copy migrates from any directory.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command
from quart_blog.resources import resource_dir


def alembic_config(database_url: str) -> Config:
    """Alembic's config for ``database_url``, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(resource_dir("alembic")))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking: call from a thread inside an event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision of the migration scripts (what ``upgrade`` brings a database to)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def downgrade(database_url: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrated schema differ."""
    command.check(alembic_config(database_url))
