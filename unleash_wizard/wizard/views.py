"""The setup wizard: an overview, one page per step, and live status fragments.

Every status comes from wizard.checks, computed from the database and the
provisioning log on each request. The pages work when reloaded by hand;
static/js/live.js refreshes the parts marked ``data-live-src``.
"""

from datetime import datetime

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ..admin.views import scim_url
from ..auth import admin_required
from ..extensions import db
from ..store import accounts
from ..store import audit
from ..store import settings
from ..store.models import utcnow
from ..store.transactions import begin_write
from . import checks
from . import steps
from .forms import AdminGroupForm
from .forms import ConfirmForm
from .steps import STEPS
from .steps import Step

bp = Blueprint("wizard", __name__, url_prefix="/setup")

NO_STORE = {"Cache-Control": "no-store"}
BADGES = {checks.DONE: "Done", checks.WAITING: "Waiting", checks.PROBLEM: "Needs attention"}
RECOVERY_COMMANDS = (
    ("flask admin create USERNAME", "Create a local admin who signs in with a password."),
    ("flask admin reset-password USERNAME", "Set a new password for a local account."),
    ("flask scim disable", "Pause provisioning, keeping tokens, users and groups."),
)


@bp.before_request
@admin_required
def require_admin():
    """Let only Admins reach any page of the wizard."""
    return None


@bp.context_processor
def helpers():
    """Offer the wizard's templates their small helpers."""
    return {
        "badge_text": BADGES,
        "ago": ago,
        "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        "step_url": lambda number: url_for("wizard.step", slug=STEPS[number].slug),
        "steps": STEPS,
        "is_open": lambda number, statuses: steps.reachable(STEPS[number], statuses),
    }


def ago(moment: datetime | None) -> str:
    """Return how long ago moment was, in words ("3 minutes ago")."""
    if moment is None:
        return ""
    seconds = int((utcnow() - moment).total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            return checks.plural(seconds // size, unit) + " ago"
    return "just now"


def actor() -> str:
    return current_user.user_name


def page_values() -> dict:
    """Return what every wizard page shows: the URLs to copy and the flag banner."""
    url = scim_url()
    return {
        "scim_url": url,
        "tenant_url": url + checks.ENTRA_FLAG,
        "flag": checks.flag_status(db.session),
    }


def record_complete(statuses) -> None:
    """Remember, once, that every step was seen done; from then on / no longer leads here."""
    if steps.next_step(statuses) is not None or checks.setup_recorded(db.session):
        return
    begin_write(db.session)
    if checks.setup_recorded(db.session) is None:
        settings.put(db.session, checks.SETUP_COMPLETED_AT, utcnow().isoformat())
        audit.record(db.session, actor(), "wizard.complete", "every setup step seen done")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another instance recorded it first


def setup_pending() -> bool:
    """Return whether the signed-in user is an Admin whom / should lead to the wizard.

    Until every step has been seen done once; a later error does not send the
    admin back here, the wizard stays in the menu.
    """
    if not current_user.is_authenticated or not accounts.is_admin(db.session, current_user):
        return False
    if checks.setup_recorded(db.session) is not None:
        return False
    statuses = steps.evaluate(db.session)
    if steps.next_step(statuses) is None:
        record_complete(statuses)
        return False
    return True


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


@bp.get("/")
def overview():
    statuses = steps.evaluate(db.session)
    record_complete(statuses)
    return render_template(
        "wizard/overview.html",
        statuses=statuses,
        current=steps.next_step(statuses),
        done_count=sum(1 for status in statuses if status.done),
        **page_values(),
    )


@bp.get("/live")
def overview_live():
    statuses = steps.evaluate(db.session)
    return (
        render_template(
            "wizard/_live_overview.html",
            statuses=statuses,
            current=steps.next_step(statuses),
            done_count=sum(1 for status in statuses if status.done),
        ),
        200,
        NO_STORE,
    )


@bp.get("/live/flag")
def flag_live():
    return render_template("wizard/_live_flag.html", **page_values()), 200, NO_STORE


def get_step(slug: str) -> Step:
    step = steps.find(slug)
    if step is None:
        abort(404)
    return step


def step_page(step: Step, **forms):
    statuses = steps.evaluate(db.session)
    if not steps.reachable(step, statuses):
        current = steps.next_step(statuses)
        flash(f"Step {step.number} opens once this one is done.", "info")
        return redirect(url_for("wizard.step", slug=current.slug))
    record_complete(statuses)
    return (
        render_template(
            f"wizard/{step.slug}.html",
            step=step,
            status=statuses[step.number],
            statuses=statuses,
            current=steps.next_step(statuses),
            **{**step_extras(step), **forms},
            **page_values(),
        ),
        200,
        NO_STORE,
    )


def step_extras(step: Step) -> dict:
    """Return what one step's page shows beyond its status."""
    if step.slug == "lockout":
        return {
            "admin_group_form": AdminGroupForm(
                group=settings.get(db.session, accounts.ADMIN_GROUP)
            ),
            "group_names": checks.group_names(db.session),
            "recovery_commands": RECOVERY_COMMANDS,
        }
    if step.slug == "entra-app":
        return {"confirm_form": ConfirmForm()}
    if step.slug == "mappings":
        return {"recheck_form": ConfirmForm()}
    return {}


@bp.get("/<slug>")
def step(slug: str):
    return step_page(get_step(slug))


@bp.get("/<slug>/live")
def step_live(slug: str):
    step = get_step(slug)
    statuses = steps.evaluate(db.session)
    return (
        render_template(
            f"wizard/_live_{step.slug}.html",
            step=step,
            status=statuses[step.number],
            statuses=statuses,
            current=steps.next_step(statuses),
            **page_values(),
        ),
        200,
        NO_STORE,
    )


@bp.get("/<slug>/live/steps")
def steps_live(slug: str):
    step = get_step(slug)
    statuses = steps.evaluate(db.session)
    return (
        render_template(
            "wizard/_live_steps.html",
            step=step,
            statuses=statuses,
            current=steps.next_step(statuses),
        ),
        200,
        NO_STORE,
    )


# ---------------------------------------------------------------------------
# Forms (POST, redirect, GET)
# ---------------------------------------------------------------------------


@bp.post("/lockout/admin-group")
def set_admin_group():
    form = AdminGroupForm()
    if not form.validate_on_submit():
        return step_page(steps.find("lockout"), admin_group_form=form)
    name = form.group.data or None
    begin_write(db.session)
    settings.put(db.session, accounts.ADMIN_GROUP, name)
    audit.record(
        db.session,
        actor(),
        "wizard.admin_group",
        f"admin group set to '{name}'" if name else "admin group cleared",
    )
    db.session.commit()
    if name is None:
        flash("No admin group: every SCIM user is a Viewer.", "success")
    elif name.lower() in {group.lower() for group in checks.group_names(db.session)}:
        flash(f"Members of the SCIM group '{name}' are Admins now.", "success")
    else:
        flash(
            f"Saved. Members of '{name}' become Admins once Entra creates that group here.",
            "success",
        )
    return redirect(url_for("wizard.step", slug="lockout"))


@bp.post("/entra-app/confirm")
def confirm_entra_app():
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form had expired; nothing changed. Try again.", "error")
        return redirect(url_for("wizard.step", slug="entra-app"))
    begin_write(db.session)
    settings.put(db.session, checks.ENTRA_APP_CONFIRMED_AT, utcnow().isoformat())
    audit.record(db.session, actor(), "wizard.entra_app", "admin is on Entra's Provisioning page")
    db.session.commit()
    flash("Great. Now connect Entra to this app.", "success")
    return redirect(url_for("wizard.step", slug="connect"))


@bp.post("/mappings/recheck")
def recheck_mappings():
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form had expired; nothing changed. Try again.", "error")
        return redirect(url_for("wizard.step", slug="mappings"))
    begin_write(db.session)
    settings.put(db.session, checks.MAPPING_CHECK_SINCE, utcnow().isoformat())
    audit.record(db.session, actor(), "wizard.mapping_recheck", "mapping check restarted")
    db.session.commit()
    flash(
        "From now on this step looks only at users Entra sends from this moment. "
        "Use Provision on demand or wait for the next cycle.",
        "success",
    )
    return redirect(url_for("wizard.step", slug="mappings"))
