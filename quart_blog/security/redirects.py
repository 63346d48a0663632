"""The one place that decides whether a ``next`` value is safe to redirect to."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

MAX_NEXT_LENGTH = 2048


def safe_next(value: str | None) -> str | None:
    """Return ``value`` if it is a same-site absolute path, else ``None``.

    Accepted: a path starting with exactly one ``/``. Refused: ``//host``
    (scheme-relative), any backslash (browsers read ``/\\host`` as ``//host``),
    control or whitespace characters (``/\\t/host`` is stripped to ``//host``),
    anything with a scheme or a host, and absurdly long values.
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(unicodedata.category(char)[0] in "CZ" for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
