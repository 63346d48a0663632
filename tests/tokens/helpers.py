"""Driving API tokens through the public surface: make one, send it, read the table."""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.testing import QuartClient

from tests.views.helpers import sql


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header that sends ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def make_token(
    client: QuartClient, name: str = "script", scope: str = "write", days: int = 30
) -> dict[str, Any]:
    """Create a token through the API with the client's (recent) session; return the answer."""
    response = await client.post(
        "/api/v1/tokens", json={"name": name, "scope": scope, "expires_in_days": days}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def list_tokens(client: QuartClient) -> list[dict[str, Any]]:
    """The client's tokens as ``GET /api/v1/tokens`` lists them."""
    response = await client.get("/api/v1/tokens")
    assert response.status_code == 200, await response.get_data(as_text=True)
    items: list[dict[str, Any]] = (await response.get_json())["items"]
    return items


async def token_rows(app: Quart) -> list[tuple[Any, ...]]:
    """Every ``api_tokens`` row, every column, in id order."""
    return await sql(app, "SELECT * FROM api_tokens ORDER BY id")


async def event_types(app: Quart, username: str = "alice") -> list[str]:
    """The security-log event types of ``username``, oldest first."""
    rows = await sql(
        app,
        "SELECT e.type FROM auth_events e JOIN users u ON u.id = e.user_id"
        " WHERE u.username = :username ORDER BY e.id",
        username=username,
    )
    return [str(row[0]) for row in rows]
