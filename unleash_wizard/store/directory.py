"""The directory as admins see it: every live user and group, searched and paged.

Unlike store.resources, which serves SCIM and sees only SCIM-managed users,
these queries cover local accounts too. Searches run in SQL on the lowercased
key columns, so they match case-insensitively and still page in the database.
Edits here touch local accounts only: what SCIM manages, Entra would overwrite.
"""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import accounts
from . import resources
from . import settings
from .models import Group
from .models import Membership
from .models import User
from .models import UserEmail
from .models import utcnow

PER_PAGE = 50
# Longer search text is cut: no name or email the directory holds is longer.
MAX_SEARCH = 255
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class Listing:
    """One page of a directory list: its rows, the total that match, and where it sits."""

    rows: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Return how many pages the whole result fills (at least one, even when empty)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        """Return the 1-based position of the page's first row, 0 when it is empty."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """Return the 1-based position of the page's last row, 0 when it is empty."""
        return self.first + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class UserRow:
    """A user in a list, with its role as it applies (accounts.role_of) and its work email."""

    user: User
    role: str
    work_email: str | None = None


@dataclass(frozen=True)
class GroupRow:
    """A group in the groups list, with its number of live members."""

    group: Group
    members: int


class DirectoryError(Exception):
    """A change the directory refuses; str() says why, for the admin to read."""


class ManagedByScim(DirectoryError):
    """An edit of a user or group that SCIM manages: Entra owns it."""


class LastAdmin(DirectoryError):
    """A change that would leave no local admin able to sign in with a password."""

    def __init__(self, fields: tuple[str, ...] = ()):
        super().__init__(accounts.LAST_ADMIN)
        self.fields = fields


def clean_search(text: str | None) -> str:
    """Return the search text to use: trimmed, bounded, '' for none."""
    return (text or "").strip()[:MAX_SEARCH]


def like_pattern(text: str) -> str:
    """Return a LIKE pattern matching lowercased text anywhere, its wildcards taken literally."""
    escaped = (
        text.lower()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def _contains(column: Any, pattern: str) -> ColumnElement[bool]:
    return column.like(pattern, escape=LIKE_ESCAPE)


def _total(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _page_of(
    session: Session, query: Select[Any], page: int, per_page: int
) -> tuple[Any, int, int]:
    """Return the rows of page (moved back to the last page when beyond it), total and page."""
    total = _total(session, query)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    return rows, total, page


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


def user_search(text: str) -> ColumnElement[bool]:
    """Return a condition matching users whose userName, displayName or an email contains text."""
    pattern = like_pattern(text)
    email = exists().where(UserEmail.user_id == User.id, _contains(UserEmail.value_key, pattern))
    return or_(
        _contains(User.user_name_key, pattern),
        _contains(User.display_name_key, pattern),
        email,
    )


def list_users(
    session: Session, search: str = "", page: int = 1, per_page: int = PER_PAGE
) -> Listing:
    """Return one page of live users, local and SCIM-managed, ordered by userName."""
    query = accounts.live_users()
    search = clean_search(search)
    if search:
        query = query.where(user_search(search))
    query = query.order_by(User.user_name_key, User.id)
    rows, total, page = _page_of(session, query, page, per_page)
    users = [row[0] for row in rows]
    emails = work_emails(session, [user.id for user in users])
    roles = roles_of(session, users)
    return Listing(
        [UserRow(user, roles[user.id], emails.get(user.id)) for user in users],
        total,
        page,
        per_page,
    )


def admin_group_name(session: Session) -> str | None:
    """Return the displayName of the group whose SCIM members are Admins, if one is set."""
    name = settings.get(session, accounts.ADMIN_GROUP)
    return name.strip() if isinstance(name, str) and name.strip() else None


def is_admin_group(session: Session, group: Group) -> bool:
    """Return whether the group's SCIM members are Admins."""
    name = admin_group_name(session)
    return name is not None and group.display_name_key == name.lower()


def roles_of(session: Session, users: list[User]) -> dict[str, str]:
    """Return each user's role as accounts.role_of decides it, in at most one query."""
    name = admin_group_name(session)
    scim_ids = [user.id for user in users if user.scim_managed]
    admins: set[str] = set()
    if name is not None and scim_ids:
        admins = set(
            session.scalars(
                select(Membership.user_id)
                .join(Group, Group.id == Membership.group_id)
                .where(
                    Membership.user_id.in_(scim_ids),
                    Group.display_name_key == name.lower(),
                    Group.deleted_at.is_(None),
                )
            )
        )
    return {
        user.id: (
            (accounts.ADMIN if user.id in admins else accounts.VIEWER)
            if user.scim_managed
            else user.role
        )
        for user in users
    }


def work_emails(session: Session, user_ids: list[str]) -> dict[str, str]:
    """Return each user's work email (the primary one first), in one query."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(UserEmail.user_id, UserEmail.value)
        .where(UserEmail.user_id.in_(user_ids), func.lower(UserEmail.type) == "work")
        .order_by(UserEmail.user_id, UserEmail.primary.desc(), UserEmail.id)
    )
    result: dict[str, str] = {}
    for user_id, value in rows:
        result.setdefault(user_id, value)
    return result


def get_user(session: Session, user_id: str) -> User | None:
    """Return the live user, local or SCIM-managed, with this id."""
    user = session.get(User, user_id)  # live or not: see resources._by_key_only
    return user if user is not None and user.deleted_at is None else None


def update_local_user(
    session: Session,
    user: User,
    display_name: str | None,
    role: str,
    active: bool,
) -> list[str]:
    """Apply an admin's edit to a local user and return what changed (the caller commits).

    :raises ManagedByScim: when SCIM manages the user.
    :raises LastAdmin: when the edit would leave no break-glass admin.
    """
    if user.scim_managed:
        raise ManagedByScim(
            f"'{user.user_name}' is managed by Entra through SCIM; change this user in Entra."
        )
    if role not in accounts.ROLES:
        raise DirectoryError(f"Unknown role '{role}'")
    display_name = (display_name or "").strip() or None
    losing = tuple(
        field for field, lost in (("role", role != accounts.ADMIN), ("active", not active)) if lost
    )
    if losing and not accounts.can_lose_admin(session, user, lock=True):
        raise LastAdmin(losing)
    changes = []
    if display_name != user.display_name:
        changes.append("display name changed")
        user.display_name = display_name
        user.display_name_key = display_name.lower() if display_name else None
    if role != user.role:
        changes.append(f"role {user.role} -> {role}")
        user.role = role
    if active != user.active:
        changes.append("enabled" if active else "disabled")
        user.active = active
    if changes:
        user.modified_at = utcnow()
        user.version = user.version + 1
    return changes


def remove_user(session: Session, user: User) -> None:
    """Remove a user, local or SCIM-managed, keeping the row for the audit trail.

    :raises LastAdmin: when user is the last break-glass admin.
    """
    if not accounts.can_lose_admin(session, user, lock=True):
        raise LastAdmin(("remove",))
    resources.delete_user(session, user)


def member_groups(session: Session, user_id: str) -> list[tuple[str, str]]:
    """Return the (id, displayName) of the live groups the user is in."""
    return resources.groups_of_user(session, user_id)


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


def list_groups(
    session: Session, search: str = "", page: int = 1, per_page: int = PER_PAGE
) -> Listing:
    """Return one page of live groups ordered by displayName, with their member counts."""
    query = resources.live_groups()
    search = clean_search(search)
    if search:
        pattern = like_pattern(search)
        query = query.where(_contains(Group.display_name_key, pattern))
    query = query.order_by(Group.display_name_key, Group.id)
    rows, total, page = _page_of(session, query, page, per_page)
    groups = [row[0] for row in rows]
    counts = member_counts(session, [group.id for group in groups])
    return Listing(
        [GroupRow(group, counts.get(group.id, 0)) for group in groups], total, page, per_page
    )


def member_counts(session: Session, group_ids: list[str]) -> dict[str, int]:
    """Return how many live users each group holds, in one aggregate query."""
    if not group_ids:
        return {}
    # Live members counted, not filtered in WHERE: see resources._by_key_only.
    live = func.sum(case((User.deleted_at.is_(None), 1), else_=0))
    rows = session.execute(
        select(Membership.group_id, live)
        .join(User, User.id == Membership.user_id)
        .where(Membership.group_id.in_(group_ids))
        .group_by(Membership.group_id)
    )
    return {group_id: count for group_id, count in rows}


def get_group(session: Session, group_id: str) -> Group | None:
    """Return the live group with this id."""
    return resources.get_group(session, group_id)


def list_members(
    session: Session, group_id: str, page: int = 1, per_page: int = PER_PAGE
) -> Listing:
    """Return one page of a group's live members (UserRow), ordered by userName."""
    query = (
        accounts.live_users()
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == group_id)
        .order_by(User.user_name_key, User.id)
    )
    rows, total, page = _page_of(session, query, page, per_page)
    users = [row[0] for row in rows]
    roles = roles_of(session, users)
    return Listing([UserRow(user, roles[user.id]) for user in users], total, page, per_page)


def remove_group(session: Session, group: Group) -> None:
    """Remove a group; its members stay, only their membership goes (the caller commits)."""
    resources.delete_group(session, group)
