"""Removing every SCIM-managed user or group at once, from the admin's danger zone.

Each function does what store.resources.delete_user / delete_group do to one
row, for all of them, in a fixed number of statements whatever their count:
rows stay for the audit trail with deleted_at set, memberships and emails go.
Local accounts are never touched. The caller commits, so it all lands at once.
"""

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import Group
from .models import Membership
from .models import User
from .models import UserEmail
from .models import utcnow

# The rows are changed behind the ORM's back; the request ends right after.
BULK = {"synchronize_session": False}


def count_scim_users(session: Session) -> int:
    """Return how many SCIM-managed users are live."""
    query = select(func.count(User.id)).where(
        User.scim_managed.is_(True), User.deleted_at.is_(None)
    )
    return session.scalar(query) or 0


def count_scim_groups(session: Session) -> int:
    """Return how many SCIM-managed groups are live."""
    query = select(func.count(Group.id)).where(
        Group.scim_managed.is_(True), Group.deleted_at.is_(None)
    )
    return session.scalar(query) or 0


def delete_all_scim_users(session: Session) -> int:
    """Remove every live SCIM-managed user from SCIM's view and return how many.

    Four statements: mark the users deleted (their userNames become free and
    their sessions end), bump the groups they were in (RFC 7644 §3.14: the
    members changed), then drop their memberships and emails. The later
    statements find the users by this run's deleted_at, so a user that SCIM
    creates meanwhile is either in the whole removal or untouched.
    """
    now = utcnow()
    removed = session.execute(
        update(User)
        .where(User.scim_managed.is_(True), User.deleted_at.is_(None))
        .values(deleted_at=now, active=False, modified_at=now, version=User.version + 1)
        .execution_options(**BULK)
    ).rowcount
    if not removed:
        return 0
    gone = select(User.id).where(User.scim_managed.is_(True), User.deleted_at == now)
    session.execute(
        update(Group)
        .where(
            Group.deleted_at.is_(None),
            Group.id.in_(select(Membership.group_id).where(Membership.user_id.in_(gone))),
        )
        .values(version=Group.version + 1, modified_at=now)
        .execution_options(**BULK)
    )
    session.execute(
        delete(Membership).where(Membership.user_id.in_(gone)).execution_options(**BULK)
    )
    session.execute(delete(UserEmail).where(UserEmail.user_id.in_(gone)).execution_options(**BULK))
    return removed


def delete_all_scim_groups(session: Session) -> int:
    """Remove every live SCIM-managed group from SCIM's view and return how many.

    Two statements: mark the groups deleted (their names become free), then
    drop their memberships. Users stay, local or SCIM-managed.
    """
    now = utcnow()
    removed = session.execute(
        update(Group)
        .where(Group.scim_managed.is_(True), Group.deleted_at.is_(None))
        .values(deleted_at=now, modified_at=now, version=Group.version + 1)
        .execution_options(**BULK)
    ).rowcount
    if not removed:
        return 0
    gone = select(Group.id).where(Group.scim_managed.is_(True), Group.deleted_at == now)
    session.execute(
        delete(Membership).where(Membership.group_id.in_(gone)).execution_options(**BULK)
    )
    return removed
