"""SQLAlchemy models: users, groups, memberships, SCIM tokens, settings and logs.

A SCIM resource is kept whole in a JSON column (``data``), so every attribute
Entra sends survives, enterprise extension included. The attributes that are
filtered on, unique or needed by the app are also columns with indexes, kept in
step with ``data`` by store.users and store.groups on every write.
"""

import hashlib
from datetime import UTC
from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import registry

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={
            datetime: DateTime(timezone=True),
            dict[str, Any]: JSON,
            list[str]: JSON,
        },
    )


# Live rows only: a deleted user frees its userName (DESIGN: "the userName is
# free again") while its row stays for the audit trail.
LIVE = text("deleted_at IS NULL")


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255))
    user_name_key: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    display_name_key: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(255))
    family_name: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_users_user_name_key_live",
            "user_name_key",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index("ix_users_external_id", "external_id"),
        Index("ix_users_display_name_key", "display_name_key"),
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_modified_at", "modified_at"),
    )

    def get_id(self) -> str:
        """Return what a session (or remember-me cookie) holds to name this user.

        For an account with a password it carries a stamp of the password
        hash, so setting a new password ends every session the old one opened.
        """
        if self.password_hash:
            return f"{self.id}.{password_stamp(self.password_hash)}"
        return self.id


def password_stamp(password_hash: str) -> str:
    """Return a short digest of a password hash: it changes with the password, reveals nothing."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class UserEmail(Base):
    """One of a user's emails, as a row so email filters run through an index."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(255))
    value_key: Mapped[str] = mapped_column(String(255))
    type: Mapped[str | None] = mapped_column(String(64))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_user_emails_value_key", "value_key"),
        Index("ix_user_emails_user_id", "user_id"),
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255))
    display_name_key: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_groups_display_name_key_live",
            "display_name_key",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
        Index("ix_groups_external_id", "external_id"),
        Index("ix_groups_created_at", "created_at"),
        Index("ix_groups_modified_at", "modified_at"),
    )


class Membership(Base):
    """A user in a group; the primary key indexes by group, the second index by user."""

    __tablename__ = "memberships"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_memberships_user_id", "user_id"),)


class ScimToken(Base):
    """A bearer token for /scim/v2; only its SHA-256 is stored."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Setting(Base):
    """A named value shared by every instance (SCIM on or off, the admin group...)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class ProvisioningLog(Base):
    """One row per /scim/v2 request. Never a token, a password or an attribute value."""

    __tablename__ = "provisioning_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(default=0.0)
    token_name: Mapped[str | None] = mapped_column(String(100))
    resource_type: Mapped[str | None] = mapped_column(String(16))
    resource_id: Mapped[str | None] = mapped_column(String(36))
    attributes: Mapped[list[str] | None]
    # What the request tells about the client: "test-connection", "legacy-patch"...
    signals: Mapped[list[str] | None]
    scim_type: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_provisioning_log_at", "at"),
        Index("ix_provisioning_log_status", "status"),
        # The log page filters by method or resource and shows the newest first:
        # with the time second, a page is read in order from the index, no sort.
        Index("ix_provisioning_log_method_at", "method", "at"),
        Index("ix_provisioning_log_resource_type_at", "resource_type", "at"),
    )


class AuditEvent(Base):
    """An admin action: SCIM switched on or off, tokens created or revoked..."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_events_at", "at"),)
