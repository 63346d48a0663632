"""Passkey tests: a relying party named by PUBLIC_URL, unlike the test client's own Host.

The test client talks to ``http://localhost``; the passkeys are made for
``https://blog.example.org``. A ceremony that works proves the relying-party id and
origin come from ``PUBLIC_URL``, never from the request.
"""

from __future__ import annotations

import pytest

from tests.passkeys.authenticator import SoftAuthenticator

PUBLIC_URL = "https://blog.example.org"
RP_ID = "blog.example.org"


@pytest.fixture
def app_overrides(app_overrides: dict[str, str]) -> dict[str, str]:
    return {**app_overrides, "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    """This person's device: it answers for PUBLIC_URL's origin."""
    return SoftAuthenticator(PUBLIC_URL)
