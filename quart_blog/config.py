"""Settings read from the environment: the only module that looks at ``os.environ``."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from quart import Quart, current_app
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///instance/blog.db"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
DEFAULT_MAIL_FROM = "quart-blog <no-reply@localhost>"
DEFAULT_REAUTH_SECONDS = 600  # SPEC §13: how long a password, code or passkey check lasts
# MAIL_URL scheme -> (how the connection is secured, default port)
MAIL_SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
ON_VALUES = ("1", "on", "true", "yes")
OFF_VALUES = ("0", "off", "false", "no")
EXTENSION_KEY = "quart_blog.settings"


class ConfigError(Exception):
    """A bad environment value; ``str()`` is one line naming the variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


@dataclass(frozen=True)
class MailServer:
    """Where ``MAIL_URL`` says to deliver: an SMTP server and how to reach it."""

    host: str
    port: int
    security: str  # "plain", "starttls" or "tls" (SMTP over TLS from the first byte)
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the app needs from its environment, parsed and checked."""

    database_url: str
    secret_keys: tuple[str, ...]
    redis_url: str | None
    bcrypt_rounds: int
    cookie_secure: bool | None
    trusted_proxies: int
    rate_limits: bool
    db_pool_size: int | None = None  # None: the backend's default (quart_blog/db/engine.py)
    public_url: str = DEFAULT_PUBLIC_URL
    mail_server: MailServer | None = None  # None: messages become .eml files in mail_dir
    mail_from: str = DEFAULT_MAIL_FROM
    mail_dir: Path = Path("instance") / "mail"
    reauth_seconds: int = DEFAULT_REAUTH_SECONDS

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        instance_path: Path | None = None,
        *,
        overrides: Mapping[str, str] | None = None,
    ) -> Settings:
        """Parse the environment (``os.environ`` by default, ``overrides`` winning over it);
        raise ``ConfigError`` on the first bad value."""
        env = {**(os.environ if environ is None else environ), **(overrides or {})}
        instance = instance_path or Path("instance")
        return cls(
            database_url=parse_database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
            secret_keys=parse_secret_keys(env.get("SECRET_KEY"), instance),
            redis_url=parse_redis_url(env.get("REDIS_URL")),
            bcrypt_rounds=parse_int("BCRYPT_ROUNDS", env.get("BCRYPT_ROUNDS", "12"), 4, 31),
            cookie_secure=parse_optional_bool(
                "SESSION_COOKIE_SECURE", env.get("SESSION_COOKIE_SECURE")
            ),
            trusted_proxies=parse_int("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "0"), 0, 10),
            rate_limits=parse_bool("RATE_LIMITS", env.get("RATE_LIMITS", "on")),
            db_pool_size=parse_optional_int("DB_POOL_SIZE", env.get("DB_POOL_SIZE"), 1, 500),
            public_url=parse_public_url(env.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL),
            mail_server=parse_mail_url(env.get("MAIL_URL")),
            mail_from=parse_mail_from(env.get("MAIL_FROM") or DEFAULT_MAIL_FROM),
            mail_dir=instance / "mail",
            reauth_seconds=parse_int(
                "REAUTH_SECONDS", env.get("REAUTH_SECONDS", str(DEFAULT_REAUTH_SECONDS)), 10, 86400
            ),
        )

    @property
    def signing_keys(self) -> list[str]:
        """Every key for itsdangerous, which signs with the last and verifies with all.

        The first key of ``SECRET_KEY`` signs; the others only verify, so cookies and
        tokens signed before a rotation stay valid until they expire.
        """
        return [*self.secret_keys[1:], self.secret_keys[0]]


def init_app(app: Quart, settings: Settings) -> None:
    """Keep the parsed settings on the app: the one place the code reads them from."""
    app.extensions[EXTENSION_KEY] = settings


def get_settings(app: Quart | None = None) -> Settings:
    """The settings of ``app`` (default: the running app)."""
    settings: Settings = (app or current_app).extensions[EXTENSION_KEY]
    return settings


def parse_database_url(value: str) -> str:
    """Accept only async drivers we support, so a typo fails at start-up, not on first query."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("DATABASE_URL", f"cannot parse {value!r} as a database URL") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        supported = ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
        raise ConfigError("DATABASE_URL", f"unsupported scheme {url.drivername!r}; use {supported}")
    if url.drivername.startswith("sqlite") and not url.database:
        raise ConfigError("DATABASE_URL", "SQLite needs a file path (in-memory is per connection)")
    return value


def parse_redis_url(value: str | None) -> str | None:
    """Check the scheme only; the connection itself is made when serving starts."""
    if value is None or value == "":
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL", f"expected redis://, rediss:// or unix://, got {value!r}")
    return value


def parse_public_url(value: str) -> str:
    """The site's own origin (scheme, host, optional port), without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("PUBLIC_URL", f"expected http(s)://HOST[:PORT], got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError("PUBLIC_URL", f"must be an origin only (no path or query), got {value!r}")
    try:
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise ConfigError("PUBLIC_URL", f"bad port in {value!r}") from None
    return f"{parts.scheme}://{parts.netloc}"


def parse_mail_url(value: str | None) -> MailServer | None:
    """``smtp://[USER:PASS@]HOST[:PORT]``, ``smtp+starttls://...`` or ``smtps://...``."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in MAIL_SCHEMES:
        schemes = ", ".join(f"{scheme}://" for scheme in MAIL_SCHEMES)
        raise ConfigError("MAIL_URL", f"unsupported scheme {parts.scheme!r}; use {schemes}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("MAIL_URL", "bad port") from None
    if not parts.hostname:
        raise ConfigError("MAIL_URL", "no host")
    security, default_port = MAIL_SCHEMES[parts.scheme]
    return MailServer(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_mail_from(value: str) -> str:
    """A ``From:`` address, ``Name <user@host>`` or ``user@host``."""
    name, address = parseaddr(value.strip())
    try:
        Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError):
        raise ConfigError("MAIL_FROM", f"not a mail address: {value!r}") from None
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ConfigError("MAIL_FROM", f"not a mail address: {value!r}")
    return value.strip()


def parse_int(variable: str, value: str, low: int, high: int) -> int:
    """Parse a whole number within ``[low, high]``."""
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(variable, f"expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(variable, f"must be between {low} and {high}, got {number}")
    return number


def parse_optional_int(variable: str, value: str | None, low: int, high: int) -> int | None:
    """Like ``parse_int``; unset or empty means ``None`` (the default applies)."""
    if value is None or not value.strip():
        return None
    return parse_int(variable, value, low, high)


def parse_bool(variable: str, value: str) -> bool:
    """Parse on/off style switches."""
    lowered = value.strip().lower()
    if lowered in ON_VALUES:
        return True
    if lowered in OFF_VALUES:
        return False
    raise ConfigError(variable, f"expected on or off, got {value!r}")


def parse_optional_bool(variable: str, value: str | None) -> bool | None:
    """Like ``parse_bool`` but unset (or ``auto``) means "decide per request"."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    return parse_bool(variable, value)


def parse_secret_keys(value: str | None, instance: Path) -> tuple[str, ...]:
    """Split rotated keys (first signs, all verify), or load/generate the instance key."""
    if value is not None:
        keys = tuple(key.strip() for key in value.split(",") if key.strip())
        if not keys:
            raise ConfigError("SECRET_KEY", "is set but holds no key")
        if any(len(key) < 16 for key in keys):
            raise ConfigError("SECRET_KEY", "every key must be at least 16 characters")
        return keys
    return (instance_secret_key(instance),)


def instance_secret_key(instance: Path) -> str:
    """Read ``instance/secret_key``, creating it (mode 0600) on first start.

    Every worker and every restart must sign with the same key, so the key is
    kept on disk rather than generated per process. The key is written to a
    private temporary file and hard-linked into place, so several workers
    starting at once never see a half-written file and exactly one key wins.
    """
    path = instance / "secret_key"
    try:
        instance.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            publish_new_key(path)
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError("SECRET_KEY", f"cannot use {path}: {error.strerror}") from None
    if len(key) < 16:
        raise ConfigError("SECRET_KEY", f"{path} is empty or too short; delete it")
    return key


def publish_new_key(path: Path) -> None:
    """Create ``path`` holding a fresh key unless another process already did."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
