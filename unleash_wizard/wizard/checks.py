"""What the app has seen for each wizard step, from the database and the provisioning log.

Every check takes a SQLAlchemy session and returns a Status. Nothing here asks
the admin to tick a box the app could verify: only step 3 (the Entra page,
before any request reaches us) has a confirmation, and traffic overrides it.
"""

import re
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import accounts
from ..store import resources
from ..store import settings
from ..store import tokens
from ..store.models import Group
from ..store.models import Membership
from ..store.models import ProvisioningLog
from ..store.models import User
from ..store.models import UserEmail

DONE = "done"
WAITING = "waiting"
PROBLEM = "problem"

# Settings the wizard owns (ISO times, except the admin group's name).
SCIM_TAB_SEEN_AT = getattr(settings, "SCIM_TAB_SEEN_AT", "scim_tab_seen_at")
ENTRA_APP_CONFIRMED_AT = "entra_app_confirmed_at"
MAPPING_CHECK_SINCE = "mapping_check_since"
SETUP_COMPLETED_AT = "setup_completed_at"

SCIM_PREFIX = "/scim/v2"
# Entra's compliance flag, appended to the Tenant URL (Microsoft: "Known issues
# and resolutions with SCIM 2.0 protocol compliance", flags to alter the SCIM behavior).
ENTRA_FLAG = "?aadOptscim062020"

# The attributes the guide keeps, plus active, which is how Entra disables a user.
KEPT_ATTRIBUTES = ("userName", "displayName", "emails", "externalId", "active")
# Names a request carries that are no mapping: the envelope of every resource.
ENVELOPE = frozenset({"schemas", "id", "meta"})
MAPPING_WINDOW = 200  # user writes looked at when no "check again" time is set
MAPPING_WINDOW_MAX = 2000  # and at most this many after one
CLEAN_RUN = 20  # the latest requests that must be free of errors for step 6
EXAMPLES = 3

LEGACY_SIGNALS = ("legacy-op-case", "legacy-boolean-string", "legacy-member-remove")
COMPLIANT_PATCH = "compliant-patch"


@dataclass(frozen=True)
class Status:
    """Where one step stands: its state, a one-line summary and what the page shows."""

    state: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state == DONE


@dataclass(frozen=True)
class Hint:
    """How to fix a kind of error: words, and the wizard step or page that helps."""

    text: str
    step: int | None = None
    endpoint: str | None = None
    link_text: str | None = None


@dataclass(frozen=True)
class ErrorGroup:
    status: int
    scim_type: str | None
    detail: str
    count: int
    last_at: datetime | None
    hint: Hint


@dataclass(frozen=True)
class FlagStatus:
    """What the shape of Entra's PATCH requests tells about the compliance flag."""

    mode: str  # "on" | "off" | "unknown"
    legacy_count: int = 0
    last_legacy_at: datetime | None = None
    last_compliant_at: datetime | None = None
    legacy_kinds: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Return a stored ISO time as an aware datetime, or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        return tokens.aware(resources.parse_when(value))
    except ValueError:
        return None


def setting_time(session: Session, key: str) -> datetime | None:
    """Return the time stored under key, or None."""
    return parse_time(settings.get(session, key))


def enabled_since(session: Session) -> datetime | None:
    """Return when SCIM was last switched on, or None (then counts cover all time)."""
    return setting_time(session, settings.SCIM_ENABLED_AT)


def has_signal(name: str) -> ColumnElement[bool]:
    """Return a condition: the log row carries this signal.

    The column is JSON, stored as text on SQLite and as json (not jsonb, so no
    containment operator) on PostgreSQL; matching the quoted name in its text
    works on both.
    """
    return cast(ProvisioningLog.signals, String).like(f'%"{name}"%')


def _since(query, since: datetime | None):
    return query if since is None else query.where(ProvisioningLog.at >= since)


# Rows in the order their requests ended. A successful read's row is written
# in a batch a moment later (log.Pending), so its id can come after that of a
# later request; its time is its own. Ids only break ties.
NEWEST_FIRST = (ProvisioningLog.at.desc(), ProvisioningLog.id.desc())


def _latest(session: Session, *conditions) -> ProvisioningLog | None:
    query = select(ProvisioningLog).where(*conditions).order_by(*NEWEST_FIRST)
    return session.scalar(query.limit(1))


def _at(row: ProvisioningLog | None) -> datetime | None:
    return tokens.aware(row.at) if row is not None else None


def _after(row: ProvisioningLog | None) -> ColumnElement[bool]:
    """Return a condition: the request ended after row's (every request when row is None)."""
    if row is None:
        return ProvisioningLog.id.is_not(None)
    return or_(
        ProvisioningLog.at > row.at,
        and_(ProvisioningLog.at == row.at, ProvisioningLog.id > row.id),
    )


def plural(count: int, one: str, many: str | None = None) -> str:
    """Return '1 user' or '3 users'."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


# ---------------------------------------------------------------------------
# Step 0: keep a way in
# ---------------------------------------------------------------------------


def check_lockout(session: Session) -> Status:
    """Return step 0: done while a local admin can sign in with a password."""
    admins = list(
        session.scalars(
            accounts.local_admins().with_only_columns(User.user_name).order_by(User.user_name_key)
        )
    )
    group_name = settings.get(session, accounts.ADMIN_GROUP) or None
    group = None
    members = 0
    if group_name:
        group = session.scalar(
            resources.live_groups().where(Group.display_name_key == group_name.lower())
        )
        if group is not None:
            members = (
                session.scalar(
                    select(func.count())
                    .select_from(Membership)
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.group_id == group.id, User.deleted_at.is_(None))
                )
                or 0
            )
    details = {
        "admins": admins,
        "admin_group": group_name,
        "admin_group_exists": group is not None,
        "admin_group_members": members,
    }
    if admins:
        names = ", ".join(admins[:EXAMPLES]) + (" and others" if len(admins) > EXAMPLES else "")
        return Status(DONE, f"You can always sign in with a password as {names}.", details)
    return Status(
        PROBLEM,
        "No local admin can sign in with a password. Create one with flask admin create.",
        details,
    )


def group_names(session: Session, limit: int = 500) -> list[str]:
    """Return the display names of live SCIM groups, alphabetically."""
    query = (
        resources.live_groups()
        .with_only_columns(Group.display_name)
        .order_by(Group.display_name_key)
        .limit(limit)
    )
    return list(session.scalars(query))


# ---------------------------------------------------------------------------
# Step 1: find the SCIM settings
# ---------------------------------------------------------------------------


def check_scim_tab(session: Session) -> Status:
    """Return step 1: done once an admin opened Single Sign-On > SCIM."""
    seen = setting_time(session, SCIM_TAB_SEEN_AT)
    if seen is not None:
        return Status(DONE, "You've opened the SCIM tab.", since=seen)
    return Status(WAITING, "Open Single Sign-On, then the SCIM tab.")


# ---------------------------------------------------------------------------
# Step 2: switch SCIM on
# ---------------------------------------------------------------------------


def live_token_names(session: Session) -> list[str]:
    """Return the names of the tokens Entra could use now."""
    return [token.name for token in tokens.listing(session) if tokens.is_live(token)]


def check_scim_on(session: Session) -> Status:
    """Return step 2: done while SCIM is on and a live token exists."""
    enabled = settings.scim_enabled(session)
    since = enabled_since(session)
    live = live_token_names(session)
    details = {"enabled": enabled, "paused": not enabled and since is not None, "tokens": live}
    if enabled and live:
        return Status(DONE, f"SCIM is on, with {plural(len(live), 'live token')}.", details, since)
    if enabled:
        return Status(
            PROBLEM,
            "SCIM is on, but no token is live, so Entra can't get in. Add a token.",
            details,
            since,
        )
    if details["paused"]:
        return Status(
            PROBLEM,
            "Provisioning is paused: Entra's requests are turned away until you switch SCIM on.",
            details,
        )
    return Status(WAITING, "SCIM is off. Switch it on in the SCIM tab.", details)


# ---------------------------------------------------------------------------
# Step 3: open provisioning in Entra
# ---------------------------------------------------------------------------


def check_entra_app(session: Session) -> Status:
    """Return step 3: done when the admin says so, or once a request with a valid token arrived."""
    first = session.scalar(
        select(ProvisioningLog)
        .where(ProvisioningLog.token_name.is_not(None), ProvisioningLog.status != 401)
        .order_by(ProvisioningLog.at, ProvisioningLog.id)
        .limit(1)
    )
    if first is not None:
        return Status(
            DONE,
            "Entra has reached this app, so you found its Provisioning page.",
            {"by": "traffic"},
            _at(first),
        )
    confirmed = setting_time(session, ENTRA_APP_CONFIRMED_AT)
    if confirmed is not None:
        return Status(
            DONE, "You told us you're on Entra's Provisioning page.", {"by": "admin"}, confirmed
        )
    return Status(
        WAITING,
        "Open your app's Provisioning page in Entra, then tell us you're there.",
        {"by": None},
    )


# ---------------------------------------------------------------------------
# Step 4: connect Entra
# ---------------------------------------------------------------------------

# A request Entra made with a token we accepted, whatever the answer.
ACCEPTED_TOKEN = and_(
    ProvisioningLog.token_name.is_not(None), ProvisioningLog.status.not_in((401, 403, 429))
)


def check_connection(session: Session) -> Status:
    """Return step 4: done once Entra's test connection arrived with a valid token."""
    test = _latest(session, has_signal("test-connection"), ProvisioningLog.status == 200)
    success = _latest(session, ACCEPTED_TOKEN)
    bad_query = select(func.count(ProvisioningLog.id), func.max(ProvisioningLog.id)).where(
        ProvisioningLog.status == 401, _after(success)
    )
    bad_count, bad_last_id = session.execute(bad_query).one()
    bad_last = session.get(ProvisioningLog, bad_last_id) if bad_last_id else None

    enabled_at = enabled_since(session)
    paused_query = select(func.count(ProvisioningLog.id), func.max(ProvisioningLog.at)).where(
        ProvisioningLog.status == 403, _after(success)
    )
    paused_query = _since(paused_query, enabled_at)
    paused_count, paused_last = session.execute(paused_query).one()

    details = {
        "test_at": _at(test),
        "last_success_at": _at(success),
        "bad_count": bad_count or 0,
        "bad_last_at": _at(bad_last),
        # A revoked or expired token is named in its 401 row; an unknown one is not.
        "bad_token_name": bad_last.token_name if bad_last is not None else None,
        "paused_count": paused_count or 0,
        "paused_last_at": tokens.aware(paused_last),
    }
    if details["bad_count"]:
        return Status(
            PROBLEM,
            "Entra is sending a token this app doesn't know. Paste the token from step 2 "
            "again, or add a new one.",
            details,
            details["bad_last_at"],
        )
    if details["paused_count"]:
        return Status(
            PROBLEM,
            "Entra's requests arrive while provisioning is paused. Switch SCIM on again.",
            details,
            details["paused_last_at"],
        )
    if test is not None:
        return Status(DONE, "Entra's test connection reached this app.", details, _at(test))
    return Status(WAITING, "Waiting for Entra's test connection.", details)


# ---------------------------------------------------------------------------
# Step 5: keep only four mappings
# ---------------------------------------------------------------------------

_URN = re.compile(r"^(urn:.+?:\d+\.\d+:[A-Za-z]+)(?::(.*))?$")
_EXTENSION_NAME = re.compile(r":extension:([^:]+):")
_KEPT = {name.lower(): name for name in KEPT_ATTRIBUTES}


def mapping_name(carried: str) -> str | None:
    """Return the mapping an attribute name or PATCH path stands for, or None for the envelope.

    ``emails[type eq "work"].value`` -> ``emails``; ``name.givenName`` -> ``name``;
    ``urn:...:enterprise:2.0:User:department`` -> ``enterprise: department``.
    """
    text = carried.strip()
    match = _URN.match(text)
    if match:
        schema, rest = match.group(1), match.group(2) or ""
        root = re.split(r"[.\[:]", rest, maxsplit=1)[0] if rest else ""
        if schema.lower().endswith(":core:2.0:user"):
            text = rest
        else:
            extension = _EXTENSION_NAME.search(schema + ":")
            label = extension.group(1) if extension else schema
            return f"{label}: {root}" if root else label
    root = re.split(r"[.\[]", text, maxsplit=1)[0].strip()
    if not root or root.lower() in ENVELOPE:
        return None
    return _KEPT.get(root.lower(), root)


def _user_writes():
    return select(ProvisioningLog).where(
        ProvisioningLog.resource_type == "User",
        ProvisioningLog.status >= 200,
        ProvisioningLog.status < 300,
        or_(
            and_(ProvisioningLog.method == "POST", ProvisioningLog.path == SCIM_PREFIX + "/Users"),
            and_(
                ProvisioningLog.method.in_(("PUT", "PATCH")),
                ProvisioningLog.path.like(SCIM_PREFIX + "/Users/%"),
            ),
        ),
    )


def email_mismatches(session: Session) -> tuple[int, list[dict[str, str]]]:
    """Return how many live SCIM users have a work email other than their userName, and examples."""
    condition = and_(
        User.scim_managed.is_(True),
        User.deleted_at.is_(None),
        func.lower(UserEmail.type) == "work",
        UserEmail.value_key != User.user_name_key,
    )
    count = (
        session.scalar(
            select(func.count(func.distinct(User.id)))
            .select_from(User)
            .join(UserEmail, UserEmail.user_id == User.id)
            .where(condition)
        )
        or 0
    )
    rows = session.execute(
        select(User.id, User.user_name, UserEmail.value)
        .join(UserEmail, UserEmail.user_id == User.id)
        .where(condition)
        .order_by(User.modified_at.desc(), User.id)
        .limit(EXAMPLES * 2)
    ).all()
    examples: dict[str, tuple[str, str]] = {}
    for user_id, name, email in rows:  # one example per user, even with two work emails
        examples.setdefault(user_id, (name, email))
    examples_list = list(examples.values())[:EXAMPLES]
    return count, [{"user_name": name, "email": email} for name, email in examples_list]


def check_mappings(session: Session) -> Status:
    """Return step 5: done when recent user writes carry only the kept attributes."""
    since = setting_time(session, MAPPING_CHECK_SINCE)
    query = _since(_user_writes(), since).order_by(ProvisioningLog.id.desc())
    rows = list(session.scalars(query.limit(MAPPING_WINDOW_MAX if since else MAPPING_WINDOW)))

    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    example_ids: dict[str, str] = {}
    for row in rows:  # newest first, so the first id seen is the latest example
        names = {mapping_name(name) for name in row.attributes or [] if isinstance(name, str)}
        for name in names:
            if name is None or name.lower() in _KEPT:
                continue
            key = name.lower()
            counts[key] += 1
            labels.setdefault(key, name)
            if row.resource_id and key not in example_ids:
                example_ids[key] = row.resource_id
    user_names = {}
    if example_ids:
        found = session.execute(
            select(User.id, User.user_name).where(User.id.in_(set(example_ids.values())))
        )
        user_names = dict(found.all())
    extras = [
        {
            "name": labels[key],
            "count": count,
            "example": user_names.get(example_ids.get(key, "")),
        }
        for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    mismatch_count, mismatch_examples = email_mismatches(session)
    details = {
        "since": since,
        "writes": len(rows),
        "window": MAPPING_WINDOW_MAX if since else MAPPING_WINDOW,
        "extras": extras,
        "email_mismatch_count": mismatch_count,
        "email_mismatches": mismatch_examples,
        "last_write_at": _at(rows[0]) if rows else None,
    }
    if extras or mismatch_count:
        problems = []
        if extras:
            problems.append("remove " + ", ".join(extra["name"] for extra in extras))
        if mismatch_count:
            problems.append('map emails[type eq "work"].value from userPrincipalName')
        summary = "Fix the mappings in Entra: " + "; ".join(problems) + "."
        return Status(PROBLEM, summary, details, details["last_write_at"])
    if not rows:
        if since is not None:
            return Status(
                WAITING, "Waiting for Entra to send users since you asked to check again.", details
            )
        return Status(WAITING, "Waiting for Entra to send its first users.", details)
    return Status(
        DONE,
        f"Only the attributes to keep arrived, in {plural(len(rows), 'user update')}.",
        details,
        details["last_write_at"],
    )


# ---------------------------------------------------------------------------
# Step 6: turn provisioning on
# ---------------------------------------------------------------------------

COUNTED = {
    "users_created": "user-created",
    "users_updated": "user-updated",
    "users_disabled": "user-disabled",
    "users_enabled": "user-enabled",
    "users_deleted": "user-deleted",
    "groups_created": "group-created",
    "groups_updated": "group-updated",
    "groups_deleted": "group-deleted",
    "member_changes": "members-changed",
    "lookups_empty": "lookup-empty",
    "lookups_found": "lookup-found",
    "conflicts": "local-account-conflict",
}

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+\b")


def error_cause(detail: str | None) -> str:
    """Return an error's detail with its ids and values taken out, so alike errors group."""
    text = detail or ""
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], text)
    text = _UUID.sub("…", text)
    text = _NUMBER.sub("N", text)
    return text.strip()


def hint_for(status: int, scim_type: str | None, conflict: bool) -> Hint:
    """Return what fixes an error with this status and scimType."""
    if status == 401:
        return Hint("Entra's token isn't one this app accepts.", step=4)
    if status == 429:
        return Hint("Too many requests came with a bad token; fix the token first.", step=4)
    if status == 403:
        return Hint("Provisioning was paused when these arrived.", step=2)
    if status == 409 and conflict:
        return Hint(
            "A local account has this userName. Rename or remove the local account, "
            "or give the Entra user another userName.",
            endpoint="directory.users",
            link_text="Open the directory",
        )
    if status == 409:
        return Hint(
            "Entra tried to create something that already exists here. If it keeps "
            "happening, check that userName and displayName are mapped as in step 5.",
            step=5,
        )
    if status == 400 and scim_type in (
        "invalidSyntax",
        "invalidValue",
        "invalidPath",
        "noTarget",
        "mutability",
    ):
        return Hint("A mapping sends something this app can't take.", step=5)
    if status == 404:
        return Hint(
            "Entra asked for a user or group this app no longer has (removed here?). "
            "Entra creates it again on a later cycle; nothing to do unless it repeats."
        )
    if status == 412:
        return Hint("Two changes to the same record crossed; Entra retries by itself.")
    if status >= 500:
        return Hint(
            "Something failed on this app's side. Look at the server's logs around that time."
        )
    return Hint("Entra sent a request this app can't answer. Check the mappings.", step=5)


def hint_for_row(row: ProvisioningLog) -> Hint:
    """Return what fixes the error one log row recorded, as hint_for tells it."""
    return hint_for(row.status, row.scim_type, COUNTED["conflicts"] in (row.signals or []))


def error_groups(session: Session, since: datetime | None, limit: int = 20) -> list[ErrorGroup]:
    """Return the errors since a time, grouped by cause, most recent cause first."""
    query = select(
        ProvisioningLog.status,
        ProvisioningLog.scim_type,
        ProvisioningLog.detail,
        func.count(ProvisioningLog.id),
        func.max(ProvisioningLog.at),
        func.max(ProvisioningLog.id),
        func.sum(case((has_signal("local-account-conflict"), 1), else_=0)),
    ).where(ProvisioningLog.status >= 400)
    query = _since(query, since).group_by(
        ProvisioningLog.status, ProvisioningLog.scim_type, ProvisioningLog.detail
    )
    merged: dict[tuple, dict[str, Any]] = {}
    for status, scim_type, detail, count, last_at, last_id, conflicts in session.execute(query):
        conflict = bool(conflicts)
        key = (status, scim_type, error_cause(detail), conflict)
        group = merged.setdefault(key, {"count": 0, "last_at": None, "last_id": 0})
        group["count"] += count
        last_at = tokens.aware(last_at)
        if group["last_at"] is None or (last_at and last_at > group["last_at"]):
            group["last_at"] = last_at
        group["last_id"] = max(group["last_id"], last_id or 0)
    ordered = sorted(merged.items(), key=lambda item: -item[1]["last_id"])
    return [
        ErrorGroup(
            status=status,
            scim_type=scim_type,
            detail=cause,
            count=group["count"],
            last_at=group["last_at"],
            hint=hint_for(status, scim_type, conflict),
        )
        for (status, scim_type, cause, conflict), group in ordered[:limit]
    ]


def activity(session: Session, since: datetime | None) -> dict[str, Any]:
    """Return what Entra did since a time: counts by kind, requests, errors, the last request."""
    columns = [
        func.sum(case((has_signal(signal), 1), else_=0)).label(name)
        for name, signal in COUNTED.items()
    ]
    query = select(
        func.count(ProvisioningLog.id).label("requests"),
        func.sum(case((ProvisioningLog.status >= 400, 1), else_=0)).label("errors"),
        func.max(ProvisioningLog.at).label("last_at"),
        *columns,
    )
    row = session.execute(_since(query, since)).one()._asdict()
    counts = {key: int(value or 0) for key, value in row.items() if key != "last_at"}
    counts["lookups"] = counts["lookups_empty"] + counts["lookups_found"]
    counts["last_at"] = tokens.aware(row["last_at"])
    return counts


def check_provisioning(session: Session) -> Status:
    """Return step 6: done once lookups and creates arrived and the latest requests are clean."""
    since = enabled_since(session)
    counts = activity(session, since)
    groups = error_groups(session, since)
    # A wrong token that a valid one has since replaced is step 4's story, already
    # fixed: only bad-token answers newer than the latest accepted request count.
    last_accepted = _latest(
        session, ProvisioningLog.status != 401, ProvisioningLog.token_name.is_not(None)
    )
    # Before any request was accepted, wrong tokens are all step 4's.
    latest_query = select(ProvisioningLog.status).where(
        or_(ProvisioningLog.status != 401, _after(last_accepted))
        if last_accepted is not None
        else ProvisioningLog.status != 401
    )
    latest = list(session.scalars(latest_query.order_by(*NEWEST_FIRST).limit(CLEAN_RUN)))
    recent_errors = sum(1 for status in latest if status >= 400)
    details = {
        "since": since,
        "counts": counts,
        "errors": groups,
        "recent_errors": recent_errors,
        "clean_run": CLEAN_RUN,
    }
    created = counts["users_created"] + counts["groups_created"]
    if recent_errors:
        return Status(
            PROBLEM,
            f"{plural(recent_errors, 'error')} in Entra's latest {plural(len(latest), 'request')}. "
            "See the hints below.",
            details,
            counts["last_at"],
        )
    if counts["lookups"] and created:
        return Status(
            DONE,
            f"Entra is provisioning: {plural(counts['users_created'], 'user')} and "
            f"{plural(counts['groups_created'], 'group')} created so far.",
            details,
            counts["last_at"],
        )
    if counts["requests"]:
        return Status(
            WAITING,
            "Entra has been in touch; waiting for its first cycle to create users or groups.",
            details,
            counts["last_at"],
        )
    return Status(WAITING, "Waiting for Entra's first provisioning cycle.", details)


# ---------------------------------------------------------------------------
# Across steps: the compliance flag, from the shape of Entra's PATCH requests
# ---------------------------------------------------------------------------


def flag_status(session: Session) -> FlagStatus:
    """Return what the PATCH requests since SCIM was switched on tell about the flag.

    Without ``aadOptscim062020`` Entra capitalises ops, sends "False" as a string
    and removes members by value; with it, its PATCHes are plain RFC 7644. "Provision
    on demand" ignores the flag, so older legacy PATCHes followed by compliant
    ones mean the flag is on.
    """
    since = enabled_since(session)
    legacy = or_(*(has_signal(name) for name in LEGACY_SIGNALS))
    patch = ProvisioningLog.method == "PATCH"
    last_legacy = session.scalar(
        _since(select(ProvisioningLog).where(patch, legacy), since)
        .order_by(ProvisioningLog.id.desc())
        .limit(1)
    )
    last_compliant = session.scalar(
        _since(select(ProvisioningLog).where(patch, has_signal(COMPLIANT_PATCH)), since)
        .order_by(ProvisioningLog.id.desc())
        .limit(1)
    )
    if last_legacy is None and last_compliant is None:
        return FlagStatus("unknown")
    legacy_count = (
        session.scalar(_since(select(func.count(ProvisioningLog.id)).where(patch, legacy), since))
        or 0
    )
    kinds = tuple(
        name
        for name in LEGACY_SIGNALS
        if last_legacy is not None and name in (last_legacy.signals or [])
    )
    off = last_legacy is not None and (last_compliant is None or last_compliant.id < last_legacy.id)
    return FlagStatus(
        mode="off" if off else "on",
        legacy_count=legacy_count,
        last_legacy_at=_at(last_legacy),
        last_compliant_at=_at(last_compliant),
        legacy_kinds=kinds,
    )


def flag_mode(session: Session) -> str:
    """Return "on", "off" or "unknown": whether Entra's PATCHes show the compliance flag."""
    return flag_status(session).mode


# ---------------------------------------------------------------------------
# All steps
# ---------------------------------------------------------------------------


def setup_recorded(session: Session) -> datetime | None:
    """Return when every step was first seen done, or None."""
    return setting_time(session, SETUP_COMPLETED_AT)
