"""The signed-in landing page."""

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask_login import login_required

from ..extensions import db
from ..store import resources

bp = Blueprint("admin", __name__)

SCIM_PATH = "/scim/v2"


def scim_url() -> str:
    """Return the SCIM API URL to give Entra: PUBLIC_URL, else this request's host."""
    root = current_app.config.get("PUBLIC_URL") or request.url_root
    return root.rstrip("/") + SCIM_PATH


@bp.get("/")
@login_required
def home():
    counts = resources.counts(db.session)
    return render_template("admin/home.html", scim_url=scim_url(), counts=counts)
