"""The support report: one plain dict, shown on the support page and downloaded as JSON.

diagnostics() reads; it writes nothing and needs no request, so the page and the
download are the same report and can never disagree. Every fact comes from
wizard.checks and the store, never worked out a second time here.

Nothing secret goes in: no token secret or hash, no password or password hash,
no SECRET_KEY, no database URL (it may hold a password), no cookie or session.
for_download() also drops the few example names the page shows, and
leaked_secrets() scans the serialized file for secrets before it leaves.
"""

import copy
import json
import math
import platform
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from importlib import metadata
from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from ..auth import oidc
from ..store import accounts
from ..store import log
from ..store import resources
from ..store import settings
from ..store import tokens
from ..store.models import AuditEvent
from ..store.models import ScimToken
from ..store.models import User
from ..wizard import checks
from ..wizard import steps

# Bump when a key is renamed or removed, so support tooling can tell files apart.
SCHEMA = "unleash-wizard-diagnostics/1"
PACKAGE = "unleash-wizard"
# A live token expiring sooner than this is worth a word in the summary.
EXPIRY_WARNING = timedelta(days=14)
# Strings shorter than this are not searched for: they match ordinary words
# ("test" in "test_connection"), and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH = 8

# The summary's verdict.
ALL_GREEN = "ok"
ATTENTION = "attention"
IN_PROGRESS = "in-progress"

SCIM_WORDS = {settings.SCIM_ON: "on", settings.SCIM_PAUSED: "paused", settings.SCIM_NEVER: "off"}
LEGACY_WORDS = {
    "legacy-op-case": 'capitalised operations such as "Replace"',
    "legacy-boolean-string": '"True" and "False" as text',
    "legacy-member-remove": "members removed by value",
}


def app_version() -> str:
    """Return the installed version of unleash-wizard, or "dev" from a bare checkout."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "dev"


def iso(moment: datetime | None) -> str | None:
    """Return moment as an ISO 8601 UTC string to the second, or None."""
    moment = tokens.aware(moment)
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def diagnostics(
    session: Session, config: Mapping[str, Any], now: datetime, *, scim_url: str
) -> dict[str, Any]:
    """Return the support report: setup, SCIM, tokens, traffic, findings, counts, errors, steps.

    scim_url is the SCIM API URL as the admin pages show it (admin.views.scim_url),
    passed in so that this function needs no request.
    """
    statuses = steps.evaluate(session)
    by_slug = {step.slug: status for step, status in zip(steps.STEPS, statuses, strict=True)}
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": iso(now),
        "app": {
            "name": PACKAGE,
            "version": app_version(),
            "python": platform.python_version(),
        },
        "setup": {
            # The dialect's name only: the URL may carry a password.
            "database": session.get_bind().dialect.name,
            "public_url_set": bool(config.get("PUBLIC_URL")),
            "scim_url": scim_url,
            "tenant_url": scim_url + checks.ENTRA_FLAG,
        },
        "scim": scim_section(session, by_slug["enable"]),
        "sign_in": oidc.describe(session, config),
        "tokens": token_rows(session, now),
        "last_request": last_request(session),
        "test_connection": test_connection(by_slug["connect"]),
        "flag": flag_section(session),
        "mappings": mapping_section(by_slug["mappings"]),
        "counts": count_section(session, by_slug["lockout"], by_slug["provision"]),
        "errors": error_section(by_slug["provision"]),
        "steps": [
            {
                "number": step.number,
                "slug": step.slug,
                "title": step.title,
                "where": step.where,
                "state": status.state,
                "summary": status.summary,
                "since": iso(status.since),
            }
            for step, status in zip(steps.STEPS, statuses, strict=True)
        ],
    }
    # The verdict reads first, in the file as on the page.
    first = {"schema": SCHEMA, "generated_at": report["generated_at"]}
    return {**first, "summary": summary(report, now), **report}


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def scim_section(session: Session, enable: checks.Status) -> dict[str, Any]:
    """Return whether SCIM is on, off or paused, since when, and what step 2 says."""
    state = SCIM_WORDS[settings.scim_state(session)]
    enabled_at = checks.enabled_since(session)
    paused_at = None
    if state == "paused":
        # Pausing is not a setting of its own; the audit trail has when it happened.
        paused_at = session.scalar(
            select(AuditEvent.at)
            .where(AuditEvent.action == "scim.disable", AuditEvent.detail != "already off")
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(1)
        )
    return {
        "state": state,
        "since": iso(enabled_at if state == "on" else paused_at),
        "enabled_at": iso(enabled_at),
        "paused_at": iso(paused_at),
        "live_tokens": len(enable.details.get("tokens", [])),
        "step": 2,
    }


def token_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Return every token as name, prefix, times and status; never its secret or hash."""
    return [
        {
            "name": token.name,
            "prefix": token.prefix,
            "created_at": iso(token.created_at),
            "last_used_at": iso(token.last_used_at),
            "expires_at": iso(token.expires_at),
            "revoked_at": iso(token.revoked_at),
            "status": tokens.status(token, now),
        }
        for token in tokens.listing(session)
    ]


def last_request(session: Session) -> dict[str, Any] | None:
    """Return the latest /scim/v2 request and how it went, or None before the first."""
    rows = log.recent(session, 1)
    if not rows:
        return None
    row = rows[0]
    result: dict[str, Any] = {
        "at": iso(row.at),
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "token_name": row.token_name,
        "ok": row.status < 400,
        "scim_type": row.scim_type,
        "error": None,
        "hint": None,
    }
    if row.status >= 400:
        conflict = "local-account-conflict" in (row.signals or [])
        # error_cause takes quoted values (userNames) and ids out of the detail.
        result["error"] = checks.error_cause(row.detail) or None
        result["hint"] = hint_dict(checks.hint_for(row.status, row.scim_type, conflict))
    return result


def test_connection(connect: checks.Status) -> dict[str, Any]:
    """Return whether Entra's Test connection reached the app, and when (step 4)."""
    test_at = connect.details.get("test_at")
    return {
        "seen": test_at is not None,
        "at": iso(test_at),
        "last_success_at": iso(connect.details.get("last_success_at")),
        "bad_token_count": connect.details.get("bad_count", 0),
        "paused_count": connect.details.get("paused_count", 0),
        "step": 4,
    }


def flag_section(session: Session) -> dict[str, Any]:
    """Return the compliance-flag mode the PATCH shapes show, with what it means."""
    flag = checks.flag_status(session)
    kinds = [LEGACY_WORDS.get(kind, kind) for kind in flag.legacy_kinds]
    if flag.mode == "off":
        explanation = (
            "Entra's latest PATCH came in its legacy format"
            + (f" ({', '.join(kinds)})" if kinds else "")
            + ", so the Tenant URL in Entra most likely lacks ?aadOptscim062020. Without "
            "the flag, disabling and removing users may go wrong: paste the Tenant URL "
            "above into Entra and Save (step 4). If the admin just used Provision on "
            "demand, ignore this: on-demand provisioning always sends the legacy format."
        )
    elif flag.mode == "on":
        explanation = "Entra's latest PATCH requests arrive in the standard RFC 7644 format."
        if flag.legacy_count:
            explanation += (
                f" The {flag.legacy_count} older one(s) in the legacy format most likely came "
                "from Provision on demand, which ignores the flag."
            )
    else:
        explanation = (
            "No PATCH request from Entra yet, so its shape can't tell whether the "
            "Tenant URL carries ?aadOptscim062020."
        )
    return {
        "mode": flag.mode,
        "explanation": explanation,
        "legacy_count": flag.legacy_count,
        "legacy_kinds": list(flag.legacy_kinds),
        "last_legacy_at": iso(flag.last_legacy_at),
        "last_compliant_at": iso(flag.last_compliant_at),
        "step": 4,
    }


def mapping_section(mappings: checks.Status) -> dict[str, Any]:
    """Return step 5's findings: extra attributes with counts, work emails other than userName."""
    details = mappings.details
    return {
        "state": mappings.state,
        "summary": mappings.summary,
        "writes": details.get("writes", 0),
        "window": details.get("window"),
        "since": iso(details.get("since")),
        "extra_attributes": [
            {"name": extra["name"], "count": extra["count"], "example": extra["example"]}
            for extra in details.get("extras", [])
        ],
        "email_mismatch_count": details.get("email_mismatch_count", 0),
        "email_mismatch_examples": [
            {"user_name": example["user_name"], "email": example["email"]}
            for example in details.get("email_mismatches", [])
        ],
        "step": 5,
    }


def count_section(
    session: Session, lockout: checks.Status, provision: checks.Status
) -> dict[str, Any]:
    """Return live SCIM users and groups, local accounts, and what Entra did since SCIM went on."""
    live = resources.counts(session)
    local = accounts.live_users().where(User.scim_managed.is_(False)).subquery()
    local_count = session.scalar(select(func.count()).select_from(local)) or 0
    activity = provision.details.get("counts", {})
    return {
        "scim_users": live["users"],
        "scim_groups": live["groups"],
        "local_accounts": local_count,
        "local_admins": len(lockout.details.get("admins", [])),
        "admin_group": lockout.details.get("admin_group"),
        "admin_group_exists": lockout.details.get("admin_group_exists", False),
        "admin_group_members": lockout.details.get("admin_group_members", 0),
        "activity_since": iso(provision.details.get("since")),
        "activity": {key: value for key, value in activity.items() if isinstance(value, int)},
        "last_activity_at": iso(activity.get("last_at")),
    }


def hint_dict(hint: checks.Hint) -> dict[str, Any]:
    """Return a hint as plain data: the words, and the step or page that helps."""
    return {
        "text": hint.text,
        "step": hint.step,
        "endpoint": hint.endpoint,
        "link_text": hint.link_text,
    }


def error_section(provision: checks.Status) -> dict[str, Any]:
    """Return the errors since SCIM went on, grouped by cause with hints (step 6's)."""
    return {
        "since": iso(provision.details.get("since")),
        "recent_errors": provision.details.get("recent_errors", 0),
        "recent_window": provision.details.get("clean_run"),
        "groups": [
            {
                "status": group.status,
                "scim_type": group.scim_type,
                "cause": group.detail,
                "count": group.count,
                "last_at": iso(group.last_at),
                "hint": hint_dict(group.hint),
            }
            for group in provision.details.get("errors", [])
        ],
        "step": 6,
    }


def summary(report: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Return the verdict on top: all green, or the things that need attention."""
    attention: list[dict[str, Any]] = []
    for step in report["steps"]:
        if step["state"] == checks.PROBLEM:
            attention.append(
                {
                    "text": f"Step {step['number']} ({step['title']}): {step['summary']}",
                    "step": step["number"],
                }
            )
    if report["flag"]["mode"] == "off":
        attention.append(
            {"text": "Entra's compliance flag seems to be off: check the Tenant URL.", "step": 4}
        )
    for token in report["tokens"]:
        expires = token["expires_at"]
        if token["status"] == tokens.LIVE and expires:
            left = datetime.fromisoformat(expires) - now
            if left < EXPIRY_WARNING:
                days = math.ceil(left / timedelta(days=1))
                attention.append(
                    {
                        "text": f"The token '{token['name']}' expires in "
                        f"{checks.plural(days, 'day')}: add a new one and "
                        "paste it into Entra before then.",
                        "step": 2,
                    }
                )
    pending = next((step for step in report["steps"] if step["state"] != checks.DONE), None)
    if attention:
        verdict = ATTENTION
        headline = checks.plural(len(attention), "thing needs", "things need") + " attention"
    elif pending is not None:
        verdict = IN_PROGRESS
        headline = f"Setup in progress: step {pending['number']} ({pending['title']}) is next"
    else:
        verdict = ALL_GREEN
        headline = "All green: every setup step is done and Entra's latest requests went through"
    return {
        "verdict": verdict,
        "headline": headline,
        "attention": attention,
        "next_step": pending["number"] if pending is not None else None,
        "steps_done": sum(1 for step in report["steps"] if step["state"] == checks.DONE),
        "steps_total": len(report["steps"]),
    }


# ---------------------------------------------------------------------------
# The download
# ---------------------------------------------------------------------------


def for_download(report: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of report fit to leave the building: no names of people.

    The page shows example userNames and emails so the admin can find the users
    concerned; they are personal data already in the directory, and a support
    engineer needs only the counts and the attribute names, so the file keeps
    those and nothing more. Step 0's summary names the local admins; the file
    says how many there are instead.
    """
    data = copy.deepcopy(report)
    for extra in data["mappings"]["extra_attributes"]:
        extra.pop("example", None)
    data["mappings"].pop("email_mismatch_examples", None)
    for step in data["steps"]:
        if step["slug"] == "lockout" and step["state"] == checks.DONE:
            step["summary"] = (
                f"{checks.plural(data['counts']['local_admins'], 'local admin')} "
                "can sign in with a password."
            )
    return data


def serialize(report: dict[str, Any]) -> str:
    """Return report as pretty-printed JSON text."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def secrets_to_hide(session: Session, config: Mapping[str, Any]) -> dict[str, str]:
    """Return every secret the app holds, by a label safe to log: key, hashes, database password."""
    found: dict[str, str] = {}
    keys = [config.get("SECRET_KEY"), *(config.get("SECRET_KEY_FALLBACKS") or [])]
    for number, key in enumerate(keys):
        if key:
            label = "the SECRET_KEY" if number == 0 else f"SECRET_KEY_FALLBACKS[{number - 1}]"
            found[label] = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    for name, token_hash in session.execute(select(ScimToken.name, ScimToken.token_hash)):
        found[f"the hash of the SCIM token '{name}'"] = token_hash
    password_hashes = session.execute(
        select(User.id, User.password_hash).where(User.password_hash.is_not(None))
    )
    for user_id, password_hash in password_hashes:
        found[f"the password hash of user id {user_id}"] = password_hash
    found.update(oidc.secrets(session, config))
    database_url = config.get("SQLALCHEMY_DATABASE_URI")
    if database_url:
        found["the database URL"] = str(database_url)
        try:
            password = make_url(str(database_url)).password
        except ArgumentError:
            password = None
        if password:
            found["the database password"] = str(password)
    return found


def leaked_secrets(text: str, hidden: Mapping[str, str]) -> list[str]:
    """Return the labels of the secrets that text contains, raw or JSON-escaped."""
    leaked = []
    for label, value in hidden.items():
        if len(value) < MIN_SECRET_LENGTH:
            continue
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if value in text or escaped in text:
            leaked.append(label)
    return leaked
