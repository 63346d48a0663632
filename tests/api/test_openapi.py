"""The OpenAPI document is served; no inline-script documentation UIs are (SPEC §6, §8)."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient

API_PATHS = {
    "/api/v1/register",
    "/api/v1/login",
    "/api/v1/logout",
    "/api/v1/me",
    "/api/v1/posts",
    "/api/v1/password",
}


async def test_openapi_document_lists_api_paths(client: QuartClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = await response.get_json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert paths >= API_PATHS, API_PATHS - paths
    item_paths = [path for path in paths if path.startswith("/api/v1/posts/{")]
    assert len(item_paths) == 1, paths
    assert {"get", "patch", "delete"} <= set(document["paths"][item_paths[0]])
    assert {"get", "post"} <= set(document["paths"]["/api/v1/posts"])


@pytest.mark.parametrize("path", ["/docs", "/redocs", "/scalar", "/redoc", "/swagger"])
async def test_openapi_ui_pages_absent(client: QuartClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404
