"""Configuration: defaults, then instance/config.py, then the environment."""

import os
import secrets
from pathlib import Path
from typing import Any


class Defaults:
    """Settings every instance starts from."""

    SQLALCHEMY_DATABASE_URI: str | None = None  # filled in by finalize()
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    PUBLIC_URL: str | None = None
    # Entra sends one resource per request; a megabyte leaves room for a group
    # PATCH carrying thousands of members while refusing absurd bodies early.
    MAX_CONTENT_LENGTH = 1024 * 1024
    SCIM_MAX_RESULTS = 1000
    SCIM_DEFAULT_COUNT = 100
    SCIM_LOG_MAX_ROWS = 100_000
    SCIM_LOG_MAX_AGE_DAYS = 90
    AUDIT_MAX_AGE_DAYS = 365
    # Automatic pruning: at most once an interval across instances; each process
    # looks whether one is due after this many SCIM requests, or once an interval.
    SCIM_LOG_PRUNE_INTERVAL_SECONDS = 3600
    SCIM_LOG_PRUNE_EVERY_REQUESTS = 1000
    # The log rows of successful reads wait at most this long and are written
    # in batches (store.log.Pending); 0 writes each before its answer goes out.
    SCIM_LOG_READ_DELAY_SECONDS = 0.25
    RATELIMIT_STORAGE_URI = "memory://"
    SCIM_BAD_TOKEN_LIMIT = "30 per minute"
    LOGIN_RATE_LIMIT = "10 per minute"  # failed sign-ins per client address
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: Secure when PUBLIC_URL or PREFERRED_URL_SCHEME says https (see security.py).
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_SECURE: bool | None = None
    # How many reverse proxies in front of the app set X-Forwarded-* (0: trust none).
    TRUSTED_PROXIES = 0
    # Strict-Transport-Security on responses to HTTPS requests; 0 leaves it out.
    HSTS_SECONDS = 365 * 24 * 3600


# How an environment variable spells a boolean setting.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

ENVIRONMENT_KEYS = (
    "SECRET_KEY",
    "PUBLIC_URL",
    "RATELIMIT_STORAGE_URI",
    # Single sign-on fixed by the deployment (see auth.oidc.from_config).
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_SCOPES",
    "OIDC_IDENTITY_CLAIM",
    "OIDC_MATCH_BY_NAME",
    "OIDC_CREATE_USERS",
    "OIDC_ENABLED",
    "PREFERRED_URL_SCHEME",
    "TRUSTED_PROXIES",
    "SESSION_COOKIE_SECURE",
    "HSTS_SECONDS",
)


def from_environment(config: dict[str, Any]) -> None:
    """Override config from environment variables (DATABASE_URL, SECRET_KEY, PUBLIC_URL...)."""
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(database_url)
    for key in ENVIRONMENT_KEYS:
        if os.environ.get(key):
            config[key] = os.environ[key]


def normalize_database_url(url: str) -> str:
    """Return url with the psycopg 3 driver named, as hosting platforms often omit it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def finalize(config: dict[str, Any], instance_path: Path) -> None:
    """Fill in what depends on the instance folder: the SQLite file and the secret key."""
    instance_path.mkdir(parents=True, exist_ok=True)
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance_path / 'unleash_wizard.db'}"
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = load_or_create_secret_key(instance_path / "secret_key")
    if config.get("PUBLIC_URL"):
        config["PUBLIC_URL"] = config["PUBLIC_URL"].rstrip("/")


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at path, creating it once with owner-only permissions."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when several workers start at once, only one key is written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
