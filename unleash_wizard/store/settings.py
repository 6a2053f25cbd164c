"""Settings shared by every instance, kept in the database."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Setting
from .models import utcnow

SCIM_ENABLED = "scim_enabled"
SCIM_ENABLED_AT = "scim_enabled_at"
# When an admin first opened Single Sign-On > SCIM (ISO time); wizard step 1.
SCIM_TAB_SEEN_AT = "scim_tab_seen_at"

# What scim_state() answers.
SCIM_ON = "on"
SCIM_PAUSED = "paused"
SCIM_NEVER = "never"


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


def scim_state(session: Session) -> str:
    """Return SCIM_ON, SCIM_PAUSED (off after having been on) or SCIM_NEVER."""
    if scim_enabled(session):
        return SCIM_ON
    return SCIM_PAUSED if get(session, SCIM_ENABLED_AT) else SCIM_NEVER


def enable_scim(session: Session) -> bool:
    """Switch provisioning on and return whether it was off (the caller commits).

    SCIM_ENABLED_AT marks the switch from off to on, so counts "since SCIM was
    enabled" start there; switching on again while on keeps it.
    """
    if scim_enabled(session):
        return False
    put(session, SCIM_ENABLED, True)
    put(session, SCIM_ENABLED_AT, utcnow().isoformat())
    return True


def pause_scim(session: Session) -> bool:
    """Switch provisioning off, keeping tokens and data; return whether it was on."""
    if not scim_enabled(session):
        return False
    put(session, SCIM_ENABLED, False)
    return True
