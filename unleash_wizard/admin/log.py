"""The provisioning log page: each /scim/v2 request the app recorded, and the admins' actions.

Admins only. The filters are GET parameters, so a filtered view is a link to
share, and they run in SQL on the indexes of provisioning_log. Error rows carry
the hint the wizard gives for the same cause (wizard.checks.hint_for_row) and a
link to the step that fixes it. The page shows only what the log keeps: never a
request header, a token or an attribute value.
"""

import re
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask import url_for

from ..auth import admin_required
from ..extensions import db
from ..store import audit
from ..store import log
from ..store import tokens
from ..store.models import AuditEvent
from ..store.models import ProvisioningLog
from ..store.models import utcnow
from ..wizard import checks
from ..wizard.steps import STEPS
from ..wizard.views import ago
from .directory import page_arg
from .directory import page_window

bp = Blueprint("log", __name__, url_prefix="/log")

NO_STORE = {"Cache-Control": "no-store"}

STATUS_LABELS = {
    "errors": "Errors (400 and up)",
    "2xx": "2xx success",
    "3xx": "3xx not modified",
    "4xx": "4xx client error",
    "5xx": "5xx server error",
}
RESOURCE_LABELS = {log.USER: "Users", log.GROUP: "Groups", log.OTHER: "Other"}
TIME_RANGES = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}

# What a request told about the client, in plain words; "warn" marks what needs a look.
SIGNALS = {
    "test-connection": ("test connection", "info"),
    "bad-token": ("bad token", "warn"),
    "local-account-conflict": ("local account has this userName", "warn"),
    "legacy-op-case": ("old PATCH format: capitalised op", "warn"),
    "legacy-boolean-string": ('old PATCH format: "False" as text', "warn"),
    "legacy-member-remove": ("old PATCH format: member removed by value", "warn"),
    "compliant-patch": ("standard PATCH", ""),
    "lookup-empty": ("lookup: no match", ""),
    "lookup-found": ("lookup: found", ""),
    "user-created": ("user created", ""),
    "user-updated": ("user updated", ""),
    "user-disabled": ("user disabled", ""),
    "user-enabled": ("user enabled", ""),
    "user-deleted": ("user deleted", ""),
    "group-created": ("group created", ""),
    "group-updated": ("group updated", ""),
    "group-deleted": ("group deleted", ""),
    "members-changed": ("members changed", ""),
}
ACTIONS = {
    "scim.enable": "SCIM switched on",
    "scim.disable": "SCIM switched off",
    "scim.delete-all-users": "All SCIM users removed",
    "scim.delete-all-groups": "All SCIM groups removed",
    "token.create": "Token created",
    "token.revoke": "Token revoked",
    "user.update": "User changed",
    "user.remove": "User removed",
    "group.remove": "Group removed",
    "account.create": "Local account created",
    "account.reset-password": "Password reset",
    "wizard.admin_group": "Admin group set",
    "wizard.entra_app": "Entra's Provisioning page confirmed",
    "wizard.mapping_recheck": "Mapping check restarted",
    "wizard.complete": "Setup complete",
    "log.prune": "Log pruned",
}

SHOWN_ATTRIBUTES = 5
PATH_LENGTH = 48
_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


@bp.before_request
@admin_required
def require_admin():
    """Let only Admins read the log."""
    return None


@bp.context_processor
def helpers():
    return {"page_window": page_window}


# ---------------------------------------------------------------------------
# Filters from the query string
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """The filters as the page received them, and what they mean for the database."""

    status: str
    method: str
    resource: str
    time: str
    date_from: str
    date_to: str
    filters: log.Filters
    date_error: str | None

    def args(self) -> dict[str, str]:
        """Return the filters as query parameters, for the paging links."""
        values = {
            "status": self.status,
            "method": self.method,
            "resource": self.resource,
            "time": self.time,
            "from": self.date_from,
            "to": self.date_to,
        }
        return {key: value for key, value in values.items() if value}

    def summary(self) -> list[str]:
        """Return the filters in force, in words."""
        words = []
        if self.status:
            words.append(STATUS_LABELS[self.status])
        if self.method:
            words.append(self.method)
        if self.resource:
            words.append(RESOURCE_LABELS[self.resource])
        if self.date_from or self.date_to:
            span = f"from {self.date_from}" if self.date_from else ""
            span += (" " if span else "") + (f"to {self.date_to}" if self.date_to else "")
            words.append(span + " (UTC)")
        elif self.time:
            words.append(TIME_RANGES[self.time][0].lower())
        return words


def _choice(name: str, allowed, normalize=str) -> str:
    value = normalize((request.args.get(name) or "").strip())
    return value if value in allowed else ""


def _day(name: str) -> tuple[str, date | None, bool]:
    text = (request.args.get(name) or "").strip()
    if not text:
        return "", None, False
    try:
        return text, date.fromisoformat(text), False
    except ValueError:
        return "", None, True


def read_query(now: datetime) -> Query:
    """Return the filters of this request; values it doesn't know mean "any"."""
    resources = {name.lower(): name for name in log.RESOURCES}
    status = _choice("status", log.STATUS_CLASSES, str.lower)
    method = _choice("method", log.METHODS, str.upper)
    resource = resources.get((request.args.get("resource") or "").strip().lower(), "")
    span = _choice("time", TIME_RANGES, str.lower)
    date_from, day_from, bad_from = _day("from")
    date_to, day_to, bad_to = _day("to")
    error = None
    if bad_from or bad_to:
        error = "Write dates as YYYY-MM-DD, such as 2024-05-31; the wrong one is left out."
    if day_from and day_to and day_from > day_to:
        day_from, day_to = day_to, day_from
        date_from, date_to = date_to, date_from
    since = until = None
    if day_from or day_to:
        span = ""  # dates win over the time range
        since = datetime.combine(day_from, time.min, UTC) if day_from else None
        until = datetime.combine(day_to, time.min, UTC) + timedelta(days=1) if day_to else None
    elif span:
        since = now - TIME_RANGES[span][1]
    filters = log.Filters(
        status=status or None,
        method=method or None,
        resource=resource or None,
        since=since,
        until=until,
    )
    return Query(status, method, resource, span, date_from, date_to, filters, error)


# ---------------------------------------------------------------------------
# Rows as the page shows them
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """An error row's hint, and the page that helps."""

    text: str
    url: str | None
    link_text: str | None


@dataclass(frozen=True)
class RequestRow:
    row: ProvisioningLog
    at: datetime
    path: str
    attributes: list[str]
    more_attributes: int
    signals: list[tuple[str, str]]
    fix: Fix | None

    @property
    def error(self) -> bool:
        return self.row.status >= 400

    @property
    def status_class(self) -> str:
        return f"{self.row.status // 100}xx"


def short_path(path: str) -> str:
    """Return path without the /scim/v2 prefix, ids cut to their first 8 characters."""
    if path == log.PREFIX or path.startswith(log.PREFIX + "/"):
        path = path[len(log.PREFIX) :] or "/"
    path = _UUID.sub(lambda match: match.group(1) + "…", path)
    return path if len(path) <= PATH_LENGTH else path[: PATH_LENGTH - 1] + "…"


def attribute_label(name: str) -> str:
    """Return an attribute name to read: extension URNs shortened ("enterprise: department")."""
    if name.startswith("urn:"):
        return checks.mapping_name(name) or name
    return name


def signal_words(signals: list[str] | None) -> list[tuple[str, str]]:
    """Return a row's signals as (words, kind), the known ones in SIGNALS' order."""
    present = set(signals or [])
    known = [SIGNALS[name] for name in SIGNALS if name in present]
    unknown = sorted(name.replace("-", " ") for name in present if name not in SIGNALS)
    return known + [(words, "") for words in unknown]


def fix_for(row: ProvisioningLog) -> Fix:
    """Return the wizard's hint for an error row and the link to the step that fixes it."""
    hint = checks.hint_for_row(row)
    if hint.step is not None:
        step = STEPS[hint.step]
        url = url_for("wizard.step", slug=step.slug)
        return Fix(hint.text, url, f"Step {step.number}: {step.title}")
    if hint.endpoint and hint.endpoint in current_app.view_functions:
        return Fix(hint.text, url_for(hint.endpoint), hint.link_text)
    return Fix(hint.text, None, None)


def request_row(row: ProvisioningLog) -> RequestRow:
    names = [attribute_label(name) for name in row.attributes or [] if isinstance(name, str)]
    return RequestRow(
        row=row,
        at=tokens.aware(row.at),
        path=short_path(row.path),
        attributes=names[:SHOWN_ATTRIBUTES],
        more_attributes=max(0, len(names) - SHOWN_ATTRIBUTES),
        signals=signal_words(row.signals),
        fix=fix_for(row) if row.status >= 400 else None,
    )


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    at: datetime
    label: str


def audit_row(event: AuditEvent) -> AuditRow:
    return AuditRow(event, tokens.aware(event.at), ACTIONS.get(event.action, event.action))


def retention() -> dict[str, Any]:
    """Return the bounds old rows are pruned on, and when that last happened."""
    config = current_app.config
    return {
        "max_rows": config["SCIM_LOG_MAX_ROWS"],
        "max_age_days": config["SCIM_LOG_MAX_AGE_DAYS"],
        "audit_max_age_days": config["AUDIT_MAX_AGE_DAYS"],
        "last_pruned": log.last_pruned(db.session),
    }


def when(moment: datetime | None) -> str:
    """Return moment in UTC to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def iso_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


@bp.get("/")
def requests():
    query = read_query(utcnow())
    listing = log.page_of(db.session, query.filters, page_arg())
    rows = [request_row(row) for row in listing.rows]
    return (
        render_template(
            "admin/log/requests.html",
            listing=listing,
            rows=rows,
            query=query,
            status_labels=STATUS_LABELS,
            methods=log.METHODS,
            resource_labels=RESOURCE_LABELS,
            time_ranges=TIME_RANGES,
            retention=retention(),
            when=when,
            iso_time=iso_time,
            ago=ago,
        ),
        200,
        NO_STORE,
    )


@bp.get("/audit", endpoint="audit")
def audit_events():
    listing = audit.page_of(db.session, page_arg())
    return (
        render_template(
            "admin/log/audit.html",
            listing=listing,
            rows=[audit_row(event) for event in listing.rows],
            retention=retention(),
            when=when,
            iso_time=iso_time,
            ago=ago,
        ),
        200,
        NO_STORE,
    )
