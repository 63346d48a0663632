"""Recovery codes: 80 random bits each, shown once as ``abcd-efgh-ijkl-mnop``, stored hashed.

80 bits are far beyond guessing, so a plain SHA-256 of the normalised code is enough
(no slow hash): a stolen table reveals nothing usable, and checking costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

COUNT = 10
CODE_BYTES = 10  # 80 bits: exactly 16 base32 characters, no padding
GROUP = 4
# What a person may type between or around the characters of a code.
SEPARATORS = str.maketrans("", "", "- \t\r\n")


def new_code() -> str:
    """One fresh code, lower-case base32 in groups of four joined by dashes."""
    text = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii").lower()
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def new_codes() -> list[str]:
    """A fresh set of ``COUNT`` distinct codes."""
    codes: list[str] = []
    while len(codes) < COUNT:
        code = new_code()
        if code not in codes:
            codes.append(code)
    return codes


def normalise(code: str) -> str:
    """The code as hashed: separators dropped, lower case."""
    return code.translate(SEPARATORS).lower()


def looks_like_code(code: str) -> bool:
    """Whether ``code`` could be a recovery code at all (16 base32 characters)."""
    text = normalise(code)
    return len(text) == 16 and all(char in "abcdefghijklmnopqrstuvwxyz234567" for char in text)


def code_hash(code: str) -> str:
    """The stored form of a code: SHA-256 (hex) of its normalised text."""
    return hashlib.sha256(normalise(code).encode("ascii", "replace")).hexdigest()
