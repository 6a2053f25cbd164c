"""Settings shared by every instance, kept in the database."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Setting

SCIM_ENABLED = "scim_enabled"
SCIM_ENABLED_AT = "scim_enabled_at"


def get(session: Session, key: str, default: Any = None) -> Any:
    """Return the value stored under key, or default."""
    value = session.scalar(select(Setting.value).where(Setting.key == key))
    return default if value is None else value


def put(session: Session, key: str, value: Any) -> None:
    """Store value under key (the caller commits)."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def scim_enabled(session: Session) -> bool:
    """Return whether provisioning is on (off means paused: data and tokens kept)."""
    return bool(get(session, SCIM_ENABLED, False))
