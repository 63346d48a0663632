"""A serving app freezes its start-up objects and collects less often; test apps do not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from quart_blog import create_app
from quart_blog.serving.gc_tuning import YOUNG_THRESHOLD
from tests.factories import SECRET_KEY


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """Put the collector back as it was, whatever the test did to it."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
@pytest.mark.parametrize("testing", [False, True])
async def test_only_a_serving_app_tunes_the_collector(database_url: str, testing: bool) -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "RATE_LIMITS": "off"},
        testing=testing,
    )
    async with app.test_app():
        response = await app.test_client().get("/healthz")
        assert response.status_code == 200
        if testing:
            assert gc.get_threshold() == before
            assert gc.get_freeze_count() == 0
        else:
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
            # The app, its libraries and the opened pool are frozen.
            assert gc.get_freeze_count() > 10_000
