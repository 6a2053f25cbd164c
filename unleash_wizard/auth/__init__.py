"""Sign-in for the admin area: first run, passwords, sessions and roles."""

import functools
from datetime import timedelta

from flask import Flask
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..extensions import db
from ..extensions import login_manager
from ..store import accounts
from . import views

# Paths that work before the first admin exists: Entra provisions over SCIM and
# load balancers probe /healthz whether or not anyone has signed in yet.
OPEN_PREFIXES = ("/scim/v2/",)
OPEN_PATHS = ("/scim/v2", "/healthz")
OPEN_ENDPOINTS = ("static", "auth.first_run")


def init_app(app: Flask) -> None:
    """Register sign-in on app: the blueprint, the session loader and the first-run gate."""
    app.register_blueprint(views.bp)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)
    # Flask-Login keeps a remember-me cookie a year by default; two weeks is
    # plenty for an admin tool. instance/config.py can still say otherwise.
    app.config.setdefault("REMEMBER_COOKIE_DURATION", timedelta(days=14))
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.before_request(require_first_admin)
    app.register_error_handler(CSRFError, csrf_failed)


def load_user(user_id: str):
    """Return the signed-in user, or None so a disabled or deleted user's session ends."""
    return accounts.load_user(db.session, user_id)


def require_first_admin():
    """Send every page to the first-run page while no local admin can sign in."""
    if (
        request.endpoint in OPEN_ENDPOINTS
        or request.path in OPEN_PATHS
        or request.path.startswith(OPEN_PREFIXES)
    ):
        return None
    if accounts.has_local_admin(db.session):
        return None
    return redirect(url_for("auth.first_run"))


def admin_required(view):
    """Let only signed-in Admins through: anonymous visitors sign in, Viewers get a 403 page."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not accounts.is_admin(db.session, current_user):
            return render_template("errors/403.html"), 403
        return view(*args, **kwargs)

    return wrapped


def csrf_failed(error: CSRFError):
    """Answer a form without a valid CSRF token with a page that says what to do."""
    return render_template("errors/400.html", reason=error.description), 400
