"""``GET /healthz`` (SPEC §5): 200 ``{"status":"ok"}`` when the database answers, else 503."""

from __future__ import annotations

from pathlib import Path

from quart import Quart

from quart_blog import create_app
from tests.factories import SECRET_KEY


async def test_healthz_is_ok_when_the_database_answers(app: Quart) -> None:
    response = await app.test_client().get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_healthz_is_503_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    # The "database file" is a directory: SQLite cannot open it, the app still serves.
    app = create_app(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}",
            "SECRET_KEY": SECRET_KEY,
            "RATE_LIMITS": "off",
        },
        testing=True,
    )
    async with app.test_app():
        response = await app.test_client().get("/healthz")
        assert response.status_code == 503
        assert await response.get_json() == {"status": "unavailable"}
