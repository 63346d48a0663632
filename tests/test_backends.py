"""Say clearly which optional backends this run covered (they skip on a machine without them)."""

from __future__ import annotations

import os

import pytest


def test_postgresql_backend_configured() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("TEST_DATABASE_URL is not set: the suite ran on SQLite only")


def test_redis_backend_configured() -> None:
    if not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("TEST_REDIS_URL is not set: rate-limit tests ran on the database store only")
