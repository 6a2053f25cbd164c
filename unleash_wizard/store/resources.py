"""Users and groups as SCIM sees them: queries, writes and rendering.

Callers pass canonical dicts (scim.resources.canonical); this module keeps the
indexed columns in step with the JSON document, and runs membership changes as
single statements whatever their size.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import NamedTuple

from sqlalchemy import JSON
from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from ..scim.errors import ScimError
from ..scim.errors import invalid_value
from ..scim.errors import uniqueness
from ..scim.resources import ENTERPRISE
from ..scim.resources import GROUP
from ..scim.resources import USER
from ..scim.resources import iso
from .models import Group
from .models import Membership
from .models import User
from .models import UserEmail
from .models import utcnow
from .prepared import Prepared
from .prepared import Target
from .prepared import dialect_of
from .prepared import sync


class LocalAccountConflict(ScimError):
    """A SCIM create whose userName belongs to a local account, which SCIM never takes over."""

    def __init__(self, user_name: str):
        super().__init__(
            409,
            f"userName '{user_name}' belongs to a local account of this app; "
            "SCIM does not take over local accounts. An admin can link or rename it.",
            "uniqueness",
        )


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows and the total that match."""

    rows: list[Any]
    total: int


class UserRow(NamedTuple):
    """A user as the SCIM API renders it, read or written without the ORM."""

    id: str
    data: dict[str, Any]
    active: bool
    created_at: datetime
    modified_at: datetime
    version: int
    # The (id, displayName) of its groups when the query read them with the
    # user (users_by_key; [] for a user just created), else None.
    groups: list[tuple[str, str]] | None = None


def _key(text: str | None) -> str | None:
    return text.lower() if isinstance(text, str) else None


def new_id() -> str:
    """Return a fresh SCIM id."""
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


# _by_key_only: where rows are found by key (ids, a group's memberships), the
# test "not deleted" is made on the rows found, not in the WHERE clause. With
# `deleted_at IS NULL` there, PostgreSQL without statistics on the table
# (autovacuum off, or a table Entra's first cycle has just filled) took the
# partial unique index on live names, which holds every live row, for a small
# one, and read all of them: at 100,000 users a member PATCH spent 80 ms
# there, holding its group's row lock, and a group's member list 400 ms.
# tests/store/test_plans.py asks both databases for these queries' plans.


def live_users() -> Select[tuple[User]]:
    """Return a query for the users SCIM can see: SCIM-managed and not deleted."""
    return select(User).where(User.scim_managed.is_(True), User.deleted_at.is_(None))


def get_user(session: Session, user_id: str, lock: bool = False) -> User | None:
    """Return the SCIM-visible user with this id, locked for update if asked."""
    query = select(User).where(User.id == user_id)  # visible or not: see _by_key_only
    if lock:
        # FOR NO KEY UPDATE on PostgreSQL: it does not block the foreign-key
        # checks of a concurrent membership insert, which FOR UPDATE would,
        # deadlocking a DELETE of this user against a PATCH of its group.
        query = query.with_for_update(key_share=True)
    user = session.scalar(query)
    return user if user is not None and _visible(user.scim_managed, user.deleted_at) else None


def _visible(scim_managed: Any, deleted_at: Any) -> bool:
    """Return whether a user row found by key is one SCIM sees (see _by_key_only)."""
    return bool(scim_managed) and deleted_at is None


class _GroupList(FunctionElement):
    """A user's groups as one JSON array of [id, displayName, deleted_at, sort key].

    Written per dialect because the two spell JSON aggregation differently.
    PostgreSQL sorts in the aggregate, by its collation, as the ORM's
    ORDER BY does; SQLite's json_group_array takes no ORDER BY (before
    3.44), so _group_pairs() sorts by the key, in the code point order that
    SQLite's BINARY collation also uses.
    """

    type = JSON()
    inherit_cache = True


@compiles(_GroupList, "postgresql")
def _group_list_postgresql(element: _GroupList, compiler: Any, **kw: Any) -> str:
    group_id, name, deleted_at, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_agg(json_build_array({group_id}, {name}, {deleted_at}) ORDER BY {key})"


@compiles(_GroupList, "sqlite")
def _group_list_sqlite(element: _GroupList, compiler: Any, **kw: Any) -> str:
    group_id, name, deleted_at, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_group_array(json_array({group_id}, {name}, {deleted_at}, {key}))"


# Entra's cycles are mostly these: a lookup by an equality on an indexed key,
# then a create. They run as Prepared statements (see prepared.py); every other
# query goes through the ORM. A lookup reads the groups of the users it finds
# in the same statement, as a subquery per user found: on PostgreSQL a round
# trip less for every lookup that finds its user.
_GROUPS_OF_ROW = (
    select(_GroupList(Group.id, Group.display_name, Group.deleted_at, Group.display_name_key))
    .select_from(Membership)
    .join(Group, Group.id == Membership.group_id)
    .where(Membership.user_id == User.id)
    .scalar_subquery()
)
_LIVE_USER_ROWS = select(
    User.id,
    User.data,
    User.active,
    User.created_at,
    User.modified_at,
    User.version,
    _GROUPS_OF_ROW,
).where(User.scim_managed.is_(True), User.deleted_at.is_(None))
# The indexed columns a lookup by equality reads directly, by column name.
_USERS_BY_KEY = {
    column.key: Prepared(
        _LIVE_USER_ROWS.where(column == bindparam("value"))
        .order_by(User.created_at, User.id)
        .limit(bindparam("limit"))
    )
    for column in (User.user_name_key, User.external_id)
}
# By id, whether the user is SCIM-visible is decided on the row (_by_key_only).
_USER_BY_ID = Prepared(
    select(*_LIVE_USER_ROWS.selected_columns, User.scim_managed, User.deleted_at).where(
        User.id == bindparam("value")
    )
)
KEY_COLUMNS = frozenset({*_USERS_BY_KEY, User.id.key})
_NAME_TAKEN = Prepared(
    select(User.id, User.scim_managed).where(
        User.user_name_key == bindparam("key"), User.deleted_at.is_(None)
    )
)
_INSERT_USER = Prepared.insert(User.__table__, skip=())
_INSERT_EMAIL = Prepared.insert(UserEmail.__table__)
_GROUPS_OF_USER = Prepared(
    select(Group.id, Group.display_name, Group.deleted_at)
    .join(Membership, Membership.group_id == Group.id)
    .where(Membership.user_id == bindparam("user_id"))
    .order_by(Group.display_name_key)
)


def users_by_key(target: Target, column: str, value: str, limit: int) -> list[UserRow]:
    """Return up to limit SCIM-visible users whose column (one of KEY_COLUMNS) holds value.

    value is as the column stores it (sqlfilter.user_key_equality gives it so):
    a userName lowered. Oldest first.
    """
    if column == User.id.key:
        rows = _USER_BY_ID.rows(target, {"value": value})
        rows = [row[:-2] for row in rows if _visible(*row[-2:])][:limit]
    else:
        rows = _USERS_BY_KEY[column].rows(target, {"value": value, "limit": limit})
    sqlite = dialect_of(target).name == "sqlite"
    return [UserRow(*row[:-1], groups=_group_pairs(row[-1], sqlite)) for row in rows]


def _group_pairs(found: list[list[Any]] | None, sort: bool) -> list[tuple[str, str]]:
    """Return the (id, displayName) of the live groups in a _GroupList array."""
    items = found or []  # PostgreSQL's json_agg of no rows is NULL
    if sort:
        items = sorted(items, key=lambda item: item[3] or "")
    return [(item[0], item[1]) for item in items if item[2] is None]  # see _by_key_only


def groups_of_user(target: Target, user_id: str) -> list[tuple[str, str]]:
    """Return the (id, displayName) of one user's groups: groups_of() for a single user."""
    rows = _GROUPS_OF_USER.rows(target, {"user_id": user_id})
    return [(group_id, name) for group_id, name, deleted_at in rows if deleted_at is None]


def _fits(name: str, value: Any, limit: int = 255) -> Any:
    """Return value, or refuse it when it is longer than its column.

    The indexed columns are VARCHAR(255) (an email's type, 64): PostgreSQL
    fails the write on a longer value, SQLite keeps it. Both answer 400.

    :raises ScimError: 400 invalidValue.
    """
    if isinstance(value, str) and len(value) > limit:
        raise invalid_value(f"'{name}' is longer than {limit} characters")
    return value


def _user_columns(data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("name") or {}
    return {
        "user_name": _fits("userName", data["userName"]),
        "user_name_key": _fits("userName", data["userName"].lower()),
        "display_name": _fits("displayName", data.get("displayName")),
        "display_name_key": _fits("displayName", _key(data.get("displayName"))),
        "external_id": _fits("externalId", data.get("externalId")),
        "given_name": _fits("name.givenName", name.get("givenName")),
        "family_name": _fits("name.familyName", name.get("familyName")),
        "active": data.get("active", True),
    }


def _check_user_name(target: Target, data: dict[str, Any], own_id: str | None) -> None:
    for other_id, scim_managed in _NAME_TAKEN.rows(target, {"key": data["userName"].lower()}):
        if other_id == own_id:
            continue
        if not scim_managed:
            raise LocalAccountConflict(data["userName"])
        raise uniqueness(f"userName '{data['userName']}' is already taken")


def insert_user(target: Target, data: dict[str, Any]) -> UserRow:
    """Insert a SCIM-managed user (the caller commits) and return it.

    :raises ScimError: 409 when the userName is taken, by SCIM or by a local account.
    """
    if not data.get("userName", "").strip():
        raise invalid_value("'userName' must not be empty")
    _check_user_name(target, data, None)
    row, emails = new_user_rows(new_id(), data, utcnow())
    _INSERT_USER.execute(target, row)
    for email in emails:
        _INSERT_EMAIL.execute(target, email)
    sync(target)  # a userName taken since the check fails here, as an IntegrityError
    return UserRow(*(row[field] for field in UserRow._fields[:-1]), groups=[])


def new_user_rows(
    user_id: str, data: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the users row and the user_emails rows of a new SCIM-managed user."""
    data = {**data, "active": data.get("active", True)}  # a new user starts enabled
    row = {
        "id": user_id,
        "scim_managed": True,
        "role": "viewer",
        "data": data,
        "created_at": now,
        "modified_at": now,
        "version": 1,
        **_user_columns(data),
    }
    return row, _email_rows(user_id, data)


def create_user(session: Session, data: dict[str, Any]) -> User:
    """Insert a SCIM-managed user (the caller commits) and return it as a model.

    :raises ScimError: 409 when the userName is taken, by SCIM or by a local account.
    """
    row = insert_user(session, data)
    user = session.get(User, row.id)
    assert user is not None
    return user


def replace_user(session: Session, user: User, data: dict[str, Any]) -> None:
    """Store data as the user's whole SCIM document (the caller commits)."""
    if not data.get("userName", "").strip():
        raise invalid_value("'userName' must not be empty")
    if data["userName"].lower() != user.user_name_key:
        _check_user_name(session, data, user.id)
    emails_changed = data.get("emails") != user.data.get("emails")
    for column, value in _user_columns(data).items():
        setattr(user, column, value)
    user.data = data
    user.modified_at = utcnow()
    user.version = user.version + 1
    session.flush()
    if emails_changed:
        _write_emails(session, user.id, data)


def _write_emails(session: Session, user_id: str, data: dict[str, Any]) -> None:
    session.execute(delete(UserEmail).where(UserEmail.user_id == user_id))
    rows = _email_rows(user_id, data)
    if rows:
        session.execute(insert(UserEmail), rows)


def _email_rows(user_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "user_id": user_id,
            "value": _fits("emails.value", email["value"]),
            "value_key": _fits("emails.value", email["value"].lower()),
            "type": _fits("emails.type", email.get("type"), 64),
            "primary": bool(email.get("primary", False)),
        }
        for email in data.get("emails") or []
        if isinstance(email.get("value"), str)
    ]


def delete_user(session: Session, user: User) -> None:
    """Remove user from SCIM's view, keeping the row for the audit trail (the caller commits).

    The userName becomes free again (the unique index covers live rows only)
    and the user can no longer sign in.
    """
    now = utcnow()
    user.deleted_at = now
    user.active = False
    user.modified_at = now
    user.version = user.version + 1
    # Bump the user's groups before their memberships go, so the subquery
    # still finds them: each group's members changed (RFC 7644 §3.14).
    group_ids = select(Membership.group_id).where(Membership.user_id == user.id)
    session.execute(
        update(Group)
        .where(Group.id.in_(group_ids))
        .values(version=Group.version + 1, modified_at=now)
    )
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    session.execute(delete(UserEmail).where(UserEmail.user_id == user.id))


def search_users(
    session: Session,
    condition: ColumnElement[bool] | None,
    order: Any,
    start: int,
    count: int,
) -> Page:
    """Return one page of SCIM-visible users matching condition."""
    query = live_users()
    if condition is not None:
        query = query.where(condition)
    return _page(session, query, User, order, start, count)


def _page(session: Session, query: Any, model: Any, order: Any, start: int, count: int) -> Page:
    order_by = [order, model.id] if order is not None else [model.created_at, model.id]
    if count == 0:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        return Page([], total)
    rows = list(session.scalars(query.order_by(*order_by).offset(start - 1).limit(count)))
    if start == 1 and len(rows) < count:
        # The whole result fits the page: no second query for the total.
        return Page(rows, len(rows))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return Page(rows, total)


def groups_of(session: Session, user_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Return, for each user id, the (id, displayName) of its groups, in one query."""
    result: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return result
    rows = session.execute(
        select(Membership.user_id, Group.id, Group.display_name, Group.deleted_at)
        .join(Group, Group.id == Membership.group_id)
        .where(Membership.user_id.in_(user_ids))
        .order_by(Group.display_name_key)
    )
    for user_id, group_id, display_name, deleted_at in rows:
        if deleted_at is None:  # in Python: see _by_key_only
            result[user_id].append((group_id, display_name))
    return result


def user_to_scim(
    user: User | UserRow, base_url: str, groups: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Return the user as a SCIM resource."""
    data = user.data or {}
    resource: dict[str, Any] = {"schemas": user_schemas(data), "id": user.id}
    resource.update(data)
    # After a PATCH removes "active" it is unassigned (RFC 7644 §3.5.2.2) and
    # not shown; the user stays enabled, as RFC 7643 §4.1.1 lets us decide.
    if "active" in data or not user.active:
        resource["active"] = user.active
    if groups:
        resource["groups"] = [
            {"value": gid, "display": name, "$ref": f"{base_url}/Groups/{gid}", "type": "direct"}
            for gid, name in groups
        ]
    resource["meta"] = _meta("User", user, f"{base_url}/Users/{user.id}")
    return resource


def user_schemas(data: dict[str, Any]) -> list[str]:
    """Return the schemas a user document carries."""
    schemas = [USER]
    for key in data:
        if key.startswith("urn:") or key.startswith("http"):
            schemas.append(key)
    if ENTERPRISE in data and schemas.count(ENTERPRISE) > 1:
        schemas.remove(ENTERPRISE)
    return schemas


def _meta(kind: str, row: User | UserRow | Group, location: str) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": iso(row.created_at),
        "lastModified": iso(row.modified_at),
        "location": location,
        "version": etag(row.version),
    }


def etag(version: int) -> str:
    """Return the weak ETag of a resource version."""
    return f'W/"{version}"'


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


def live_groups() -> Select[tuple[Group]]:
    """Return a query for groups that are not deleted."""
    return select(Group).where(Group.deleted_at.is_(None))


def get_group(session: Session, group_id: str) -> Group | None:
    """Return the live group with this id."""
    group = session.get(Group, group_id)  # live or not: see _by_key_only
    return group if group is not None and group.deleted_at is None else None


def _check_display_name(session: Session, display_name: str, own_id: str | None) -> None:
    other = session.scalar(
        select(Group.id).where(
            Group.display_name_key == display_name.lower(), Group.deleted_at.is_(None)
        )
    )
    if other is not None and other != own_id:
        raise uniqueness(f"A group called '{display_name}' already exists")


def _group_columns(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "display_name": _fits("displayName", data["displayName"]),
        "display_name_key": _fits("displayName", data["displayName"].lower()),
        "external_id": _fits("externalId", data.get("externalId")),
    }


def create_group(session: Session, data: dict[str, Any], member_ids: list[str]) -> Group:
    """Insert a group and its members (the caller commits).

    :raises ScimError: 409 when the name is taken, 400 when a member is unknown.
    """
    if not data.get("displayName", "").strip():
        raise invalid_value("'displayName' must not be empty")
    _check_display_name(session, data["displayName"], None)
    now = utcnow()
    group = Group(
        id=new_id(),
        data=data,
        created_at=now,
        modified_at=now,
        version=1,
        scim_managed=True,
        **_group_columns(data),
    )
    session.add(group)
    session.flush()
    add_members(session, group.id, member_ids)
    return group


def replace_group(session: Session, group: Group, data: dict[str, Any]) -> None:
    """Store data (members excluded) as the group's document (the caller commits)."""
    if not data.get("displayName", "").strip():
        raise invalid_value("'displayName' must not be empty")
    if data["displayName"].lower() != group.display_name_key:
        _check_display_name(session, data["displayName"], group.id)
    for column, value in _group_columns(data).items():
        setattr(group, column, value)
    group.data = data
    session.flush()


def bump_group(session: Session, group_id: str, expected_version: int | None = None) -> int | None:
    """Mark a live group changed and return its new version, or None if it is gone.

    This UPDATE comes first in every membership change: on PostgreSQL it locks
    the group row, so parallel PATCHes to one group run one after the other
    and none is lost.
    """
    query = (
        update(Group)
        .where(Group.id == group_id)  # live or not: see _by_key_only
        .values(version=Group.version + 1, modified_at=utcnow())
        .returning(Group.version, Group.deleted_at)
    )
    if expected_version is not None:
        query = query.where(Group.version == expected_version)
    row = session.execute(query).one_or_none()
    # A deleted group was bumped too: the caller answers 404 and rolls back.
    return row.version if row is not None and row.deleted_at is None else None


def _insert_ignore(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(Membership)
    return sqlite_insert(Membership)


def add_members(session: Session, group_id: str, user_ids: Iterable[str]) -> None:
    """Add users to a group in one statement, ignoring those already in it.

    :raises ScimError: 400 invalidValue when an id is not a SCIM-visible user.
    """
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return
    # By primary key alone, SCIM-visible or not decided here (see _by_key_only).
    found = session.execute(
        select(User.id, User.scim_managed, User.deleted_at).where(User.id.in_(wanted))
    )
    known = {uid for uid, managed, deleted_at in found if _visible(managed, deleted_at)}
    missing = [uid for uid in wanted if uid not in known]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise invalid_value(f"No user with id {shown}")
    # Rows as executemany parameters, not a VALUES list built into the statement:
    # SQLAlchemy sends them as one multi-row INSERT per 1,000 ("insertmanyvalues")
    # from a statement it compiles once, where a VALUES list of n rows was a new
    # statement with 2n parameters to compile on every PATCH.
    session.execute(
        _insert_ignore(session).on_conflict_do_nothing(),
        [{"group_id": group_id, "user_id": uid} for uid in wanted],
    )


def remove_members(session: Session, group_id: str, user_ids: Iterable[str]) -> None:
    """Remove these users from the group in one statement; others stay."""
    wanted = list(dict.fromkeys(user_ids))
    if wanted:
        session.execute(
            delete(Membership).where(
                Membership.group_id == group_id, Membership.user_id.in_(wanted)
            )
        )


def set_members(session: Session, group_id: str, user_ids: Iterable[str]) -> None:
    """Make user_ids the group's whole membership."""
    session.execute(delete(Membership).where(Membership.group_id == group_id))
    add_members(session, group_id, user_ids)


def delete_group(session: Session, group: Group) -> None:
    """Remove the group from SCIM's view; its name becomes free (the caller commits)."""
    group.deleted_at = utcnow()
    group.version = group.version + 1
    session.execute(delete(Membership).where(Membership.group_id == group.id))


def search_groups(
    session: Session,
    condition: ColumnElement[bool] | None,
    order: Any,
    start: int,
    count: int,
) -> Page:
    """Return one page of live groups matching condition."""
    query = live_groups()
    if condition is not None:
        query = query.where(condition)
    return _page(session, query, Group, order, start, count)


def members_of(session: Session, group_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Return, for each group id, its members' (id, displayName), in one query."""
    result: dict[str, list[tuple[str, str | None]]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return result
    rows = session.execute(
        select(Membership.group_id, User.id, User.display_name, User.deleted_at)
        .join(User, User.id == Membership.user_id)
        .where(Membership.group_id.in_(group_ids))
        .order_by(Membership.group_id, User.id)
    )
    for group_id, user_id, display_name, deleted_at in rows:
        if deleted_at is None:  # in Python: see _by_key_only
            result[group_id].append((user_id, display_name))
    return result


def group_to_scim(
    group: Group, base_url: str, members: list[tuple[str, str | None]] | None
) -> dict[str, Any]:
    """Return the group as a SCIM resource; members None leaves them out."""
    resource: dict[str, Any] = {"schemas": [GROUP], "id": group.id}
    resource.update(group.data or {})
    if members:
        resource["members"] = [_member(uid, name, base_url) for uid, name in members]
    resource["meta"] = _meta("Group", group, f"{base_url}/Groups/{group.id}")
    return resource


def _member(user_id: str, display: str | None, base_url: str) -> dict[str, Any]:
    member = {"value": user_id, "$ref": f"{base_url}/Users/{user_id}", "type": "User"}
    if display:
        member["display"] = display
    return member


def counts(session: Session) -> dict[str, int]:
    """Return how many SCIM users and groups are live."""
    users = session.scalar(select(func.count()).select_from(live_users().subquery())) or 0
    groups = session.scalar(select(func.count()).select_from(live_groups().subquery())) or 0
    return {"users": users, "groups": groups}


def parse_when(text: str) -> datetime:
    """Return an ISO timestamp as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
