"""The signed-in landing page."""

from flask import Blueprint
from flask import current_app
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from ..auth.views import public_url
from ..extensions import db
from ..store import accounts
from ..store import resources

bp = Blueprint("admin", __name__)

# The sections of the admin area, in menu order; each shows once its blueprint
# is registered, so the menu never links to a page that does not exist.
MAIN_NAV = (
    ("admin.home", "Overview"),
    ("wizard.overview", "Setup"),
    ("sso.scim", "Single Sign-On"),
    ("directory.users", "Directory"),
    ("log.requests", "Provisioning log"),
    ("support.view", "Support"),
)


@bp.app_context_processor
def navigation():
    """Offer base.html the menu entries whose pages exist."""

    def main_nav():
        present = current_app.view_functions
        return [(endpoint, label) for endpoint, label in MAIN_NAV if endpoint in present]

    def current_role():
        # A SCIM user's role comes from the admin group, not the role column.
        if not current_user.is_authenticated:
            return ""
        return accounts.role_of(db.session, current_user)

    return {"main_nav": main_nav, "current_role": current_role}


SCIM_PATH = "/scim/v2"


def scim_url() -> str:
    """Return the SCIM API URL to give Entra: PUBLIC_URL, else this request's host."""
    return public_url(SCIM_PATH)


@bp.get("/")
@login_required
def home():
    # Imported here: wizard.views imports scim_url from this module.
    from ..wizard.views import setup_pending

    # Until setup has been complete once, an Admin's start page is the wizard.
    if setup_pending():
        return redirect(url_for("wizard.overview"))
    counts = resources.counts(db.session)
    return render_template("admin/home.html", scim_url=scim_url(), counts=counts)
