"""SCIM bearer tokens: 256 random bits, stored as SHA-256, shown once.

A fast hash is right here: the token is random and as long as a key, so it
cannot be guessed from its hash, and every SCIM request must check one.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import ScimToken
from .models import Setting
from .models import utcnow
from .prepared import Prepared
from .settings import SCIM_ENABLED

TOKEN_PREFIX = "uwz_"
# What status() answers.
LIVE = "live"
REVOKED = "revoked"
EXPIRED = "expired"
# A busy provisioning cycle would otherwise write last_used_at on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenError(ValueError):
    """A token request the caller should report, such as a duplicate name."""


@dataclass(frozen=True)
class Issued:
    token: ScimToken
    secret: str


class Credential(NamedTuple):
    """What a SCIM request needs to know about its token."""

    id: int
    name: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_token(secret: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issue(session: Session, name: str, expires_days: int | None = None) -> Issued:
    """Create a token called name and return it with its secret (the caller commits).

    :raises TokenError: when the name is empty or was ever used (names stay unique
        so the log and the audit trail never confuse two tokens).
    """
    name = name.strip()
    if not name:
        raise TokenError("A token needs a name")
    if len(name) > 100:
        raise TokenError("A token name has at most 100 characters")
    if session.scalar(select(ScimToken.id).where(ScimToken.name == name)) is not None:
        raise TokenError(f"A token called '{name}' already exists")
    if expires_days is not None and expires_days <= 0:
        raise TokenError("A token must expire at least one day from now")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ScimToken(
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    session.flush()
    return Issued(token, secret)


def aware(moment: datetime | None) -> datetime | None:
    """Return moment with UTC attached when the database returned it naive (SQLite)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def is_live(token: ScimToken | Credential, now: datetime | None = None) -> bool:
    """Return whether token is neither revoked nor expired."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return False
    expires = aware(token.expires_at)
    return expires is None or expires > now


def find(session: Session, secret: str) -> ScimToken | None:
    """Return the token whose secret this is, live or not, or None."""
    if not secret or len(secret) > 512:
        return None
    return session.scalar(select(ScimToken).where(ScimToken.token_hash == hash_token(secret)))


def touch_due(token: ScimToken | Credential, now: datetime | None = None) -> bool:
    """Return whether a use of token is due to be recorded (touch_id), at most once a minute."""
    last = aware(token.last_used_at)
    return last is None or (now or utcnow()) - last >= LAST_USED_RESOLUTION


# The token and the SCIM switch in one round trip: every SCIM request runs it.
_CREDENTIALS = Prepared(
    select(
        ScimToken.id,
        ScimToken.name,
        ScimToken.expires_at,
        ScimToken.revoked_at,
        ScimToken.last_used_at,
        select(Setting.value)
        .where(Setting.key == SCIM_ENABLED)
        .scalar_subquery()
        .label("scim_enabled"),
    ).where(ScimToken.token_hash == bindparam("token_hash"))
)


def credentials(session: Session, secret: str) -> tuple[Credential | None, bool]:
    """Return the token whose secret this is (live or not, or None) and whether SCIM is on.

    The same answers as find() and settings.scim_enabled(), in one statement;
    a request without a known token is refused before the switch matters.
    """
    if not secret or len(secret) > 512:
        return None, False
    rows = _CREDENTIALS.rows(session, {"token_hash": hash_token(secret)})
    if not rows:
        return None, False
    *token, enabled = rows[0]
    return Credential(*token), bool(enabled)


_TOUCH = Prepared(
    update(ScimToken.__table__)
    .where(
        ScimToken.id == bindparam("token_id"),
        or_(
            ScimToken.last_used_at.is_(None),
            ScimToken.last_used_at <= bindparam("due_before", type_=ScimToken.last_used_at.type),
        ),
    )
    .values(last_used_at=bindparam("now", type_=ScimToken.last_used_at.type))
)


def touch_id(session: Session, token_id: int) -> None:
    """Record that the token with this id was used now, unless it was within the minute.

    The condition is in the UPDATE, so of several requests that found the
    touch due at once, the first writes it and the others change nothing.
    """
    now = utcnow()
    _TOUCH.execute(
        session, {"token_id": token_id, "now": now, "due_before": now - LAST_USED_RESOLUTION}
    )


def listing(session: Session) -> list[ScimToken]:
    """Return every token, newest first."""
    return list(session.scalars(select(ScimToken).order_by(ScimToken.created_at.desc())))


def revoke(session: Session, name: str) -> ScimToken:
    """Revoke the token called name (the caller commits).

    :raises TokenError: when no such live token exists.
    """
    token = session.scalar(select(ScimToken).where(ScimToken.name == name))
    if token is None:
        raise TokenError(f"No token called '{name}'")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def status(token: ScimToken, now: datetime | None = None) -> str:
    """Return LIVE, REVOKED or EXPIRED."""
    if token.revoked_at is not None:
        return REVOKED
    return LIVE if is_live(token, now) else EXPIRED


def has_live(session: Session) -> bool:
    """Return whether any token would be accepted now."""
    now = utcnow()
    unrevoked = session.scalars(select(ScimToken).where(ScimToken.revoked_at.is_(None)))
    return any(is_live(token, now) for token in unrevoked)


def free_name(session: Session, base: str) -> str:
    """Return base, or "base 2", "base 3"... whichever no token was ever called."""
    base = base.strip()[:90]
    taken = set(session.scalars(select(ScimToken.name).where(ScimToken.name.startswith(base))))
    if base not in taken:
        return base
    number = 2
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


def replace(session: Session, old: ScimToken, name: str, expires_days: int | None = None) -> Issued:
    """Issue a token called name and revoke old, in the caller's transaction.

    Both land on one commit: a failure half-way leaves the old token working,
    never Entra without a token.

    :raises TokenError: when old is already revoked, or as issue() does.
    """
    if old.revoked_at is not None:
        raise TokenError(f"The token '{old.name}' is already revoked")
    issued = issue(session, name, expires_days)
    old.revoked_at = utcnow()
    return issued
