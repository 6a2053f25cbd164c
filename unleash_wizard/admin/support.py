"""The support view: the setup summed up for someone helping the admin, and its download.

Both the page and the file come from admin.diagnostics.diagnostics(), so they
say the same. The file leaves the building: before it is sent, its text is
searched for every secret the app holds, and the download is refused if one is
found, whatever put it there.
"""

from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import render_template
from flask import url_for

from ..auth import admin_required
from ..extensions import db
from ..store.models import utcnow
from ..wizard import checks
from ..wizard.steps import STEPS
from ..wizard.views import ago
from . import diagnostics
from .views import scim_url

bp = Blueprint("support", __name__, url_prefix="/support")

NO_STORE = {"Cache-Control": "no-store"}
STATE_WORDS = {checks.DONE: "Done", checks.WAITING: "Waiting", checks.PROBLEM: "Needs attention"}
LOG_ENDPOINT = "log.requests"


@bp.before_request
@admin_required
def require_admin():
    """Let only Admins reach the support view: it describes the whole setup."""
    return None


@bp.context_processor
def helpers():
    """Offer the support templates their small helpers."""
    return {
        "state_words": STATE_WORDS,
        "shown_time": shown_time,
        "time_ago": time_ago,
        "step_url": lambda number: url_for("wizard.step", slug=STEPS[number].slug),
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        "log_url": url_for(LOG_ENDPOINT) if LOG_ENDPOINT in current_app.view_functions else None,
    }


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def shown_time(value: str | None) -> str:
    """Return a report's ISO time as the admin pages show times: "2026-11-30 12:05 UTC"."""
    moment = parse(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def time_ago(value: str | None) -> str:
    """Return how long ago a report's ISO time was, in words."""
    return ago(parse(value))


def build_report() -> dict:
    return diagnostics.diagnostics(db.session, current_app.config, utcnow(), scim_url=scim_url())


@bp.get("/")
def view():
    return render_template("admin/support/view.html", report=build_report()), 200, NO_STORE


@bp.get("/diagnostics.json")
def download():
    report = diagnostics.for_download(build_report())
    text = diagnostics.serialize(report)
    leaked = diagnostics.leaked_secrets(
        text, diagnostics.secrets_to_hide(db.session, current_app.config)
    )
    if leaked:
        # The labels name what leaked (never its value), so the log can be shared.
        current_app.logger.error(
            "Support diagnostics download refused: the file would contain %s. "
            "Nothing was sent; this is a bug in unleash_wizard.admin.diagnostics.",
            ", ".join(leaked),
        )
        return render_template("admin/support/refused.html"), 500, NO_STORE
    stamp = report["generated_at"].replace("+00:00", "Z").replace("-", "").replace(":", "")
    return Response(
        text,
        status=200,
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="unleash-wizard-diagnostics-{stamp}.json"'
            ),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
