"""Local accounts: the admins and viewers who sign in to the app with a password.

A local account is a row of ``users`` with ``scim_managed`` false. SCIM never
reads or writes it, and a SCIM-managed user never has a password.
"""

import functools
import hmac
import uuid

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from . import settings
from .models import Group
from .models import Membership
from .models import User
from .models import password_stamp
from .models import utcnow

ADMIN = "admin"
VIEWER = "viewer"
ROLES = (ADMIN, VIEWER)
# Setting: the displayName of the SCIM group whose members are Admins.
ADMIN_GROUP = "admin_group"


class AccountError(ValueError):
    """An account request the caller should report, such as a username already taken."""


def live_users() -> Select[tuple[User]]:
    """Return a query for users that are not deleted, local or SCIM-managed."""
    return select(User).where(User.deleted_at.is_(None))


def local_admins() -> Select[tuple[User]]:
    """Return a query for break-glass admins: live, active, local, with a password."""
    return live_users().where(
        User.role == ADMIN,
        User.scim_managed.is_(False),
        User.active.is_(True),
        User.password_hash.is_not(None),
    )


def count_local_admins(session: Session) -> int:
    """Return how many local admins can sign in with a password."""
    return session.scalar(select(func.count()).select_from(local_admins().subquery())) or 0


def has_local_admin(session: Session) -> bool:
    """Return whether at least one local admin can sign in with a password."""
    return session.scalar(select(local_admins().exists())) or False


def find_by_name(session: Session, user_name: str) -> User | None:
    """Return the live user, local or SCIM-managed, whose username matches case-insensitively."""
    return session.scalar(live_users().where(User.user_name_key == user_name.lower()))


def load_user(session: Session, session_id: str) -> User | None:
    """Return the user behind a session, or None once deleted, disabled or its password changed.

    session_id is what User.get_id() gave when the session began.
    """
    user_id, _, stamp = session_id.partition(".")
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None or not user.active:
        return None
    if user.password_hash and not hmac.compare_digest(stamp, password_stamp(user.password_hash)):
        return None
    return user


def create_local_user(session: Session, user_name: str, password: str, role: str = ADMIN) -> User:
    """Insert a local user with this password (the caller commits).

    :raises AccountError: when the username is taken, by a local or a SCIM-managed user.
    """
    if role not in ROLES:
        raise AccountError(f"Unknown role '{role}'")
    existing = find_by_name(session, user_name)
    if existing is not None:
        raise AccountError(taken_message(existing))
    now = utcnow()
    user = User(
        id=str(uuid.uuid4()),
        user_name=user_name,
        user_name_key=user_name.lower(),
        display_name=None,
        display_name_key=None,
        active=True,
        scim_managed=False,
        role=role,
        data={},
        created_at=now,
        modified_at=now,
        version=1,
    )
    set_password(user, password)
    try:
        # The live-userName index settles a race with SCIM or another creation;
        # the savepoint keeps the caller's transaction usable when it does.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise AccountError(f"The username '{user_name}' is already taken") from None
    return user


def taken_message(user: User) -> str:
    """Return why a new local account cannot have the username of user."""
    if user.scim_managed:
        return (
            f"The username '{user.user_name}' belongs to a user provisioned by SCIM (Entra); "
            "choose another one"
        )
    return f"A local account called '{user.user_name}' already exists"


def set_password(user: User, password: str) -> None:
    """Store a salted hash of password on user (the caller commits)."""
    user.password_hash = generate_password_hash(password)
    user.modified_at = utcnow()


def check_password(user: User, password: str) -> bool:
    """Return whether password is user's; False when the user has none."""
    if not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def can_sign_in_with_password(user: User) -> bool:
    """Return whether user is a live, active local account with a password."""
    return (
        user.deleted_at is None
        and user.active
        and not user.scim_managed
        and bool(user.password_hash)
    )


def is_break_glass_admin(user: User) -> bool:
    """Return whether user is a local admin who can sign in with a password."""
    return user.role == ADMIN and can_sign_in_with_password(user)


# Why the last break-glass admin keeps its role, shown by the UI and by SCIM.
LAST_ADMIN = (
    "This is the last local admin who can sign in with a password (the break-glass "
    "account), so it cannot be disabled, made a Viewer, removed or taken over by SCIM. "
    "Create another local admin first."
)


def can_lose_admin(session: Session, user: User, lock: bool = False) -> bool:
    """Return whether user may stop being a break-glass admin and leave another one.

    Disabling, demoting, removing, dropping the password or a SCIM takeover
    all need it. With lock, the break-glass admins' rows stay locked until the
    caller's transaction ends, so two admins cannot each remove the other at
    once on PostgreSQL (SQLite serialises writers anyway).
    """
    if not is_break_glass_admin(user):
        return True
    query = local_admins().with_only_columns(User.id)
    if lock:
        query = query.with_for_update()
    return any(admin_id != user.id for admin_id in session.scalars(query))


def authenticate(session: Session, user_name: str, password: str) -> User | None:
    """Return the local user these credentials sign in, or None.

    Unknown usernames cost as much as known ones, so timing does not tell
    which usernames exist.
    """
    user = find_by_name(session, user_name) if user_name else None
    if user is None or not can_sign_in_with_password(user):
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password(user, password) else None


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not a password of anyone")


def role_of(session: Session, user: User) -> str:
    """Return ADMIN or VIEWER: a local user's own role; a SCIM user's from the admin group.

    SCIM users are Viewers unless they belong to the live group named by the
    ADMIN_GROUP setting (matched like SCIM matches displayName, case-insensitively).
    """
    if not user.scim_managed:
        return user.role
    name = settings.get(session, ADMIN_GROUP)
    if not isinstance(name, str) or not name.strip():
        return VIEWER
    member = (
        select(Membership.user_id)
        .join(Group, Group.id == Membership.group_id)
        .where(
            Membership.user_id == user.id,
            Group.display_name_key == name.strip().lower(),
            Group.deleted_at.is_(None),
        )
    )
    return ADMIN if session.scalar(select(member.exists())) else VIEWER


def is_admin(session: Session, user: User) -> bool:
    """Return whether user may change the setup."""
    return role_of(session, user) == ADMIN
