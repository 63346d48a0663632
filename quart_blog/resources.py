"""Where the templates and the migrations are, installed or in a source checkout.

SPEC §2 keeps ``templates/`` and ``alembic/`` at the top of the repository; a built wheel
carries them inside the package (``quart_blog/templates``, ``quart_blog/alembic``, see
``pyproject.toml``), so pages and migrations work from any directory after ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder ``name`` inside the installed package, else beside the package's source."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name
