"""First run, sign-in and sign-out."""

import math
import time
from urllib.parse import urlsplit

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from limits import parse as parse_limit

from ..extensions import db
from ..extensions import limiter
from ..store import accounts
from ..store import audit
from .forms import FirstRunForm
from .forms import LoginForm

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Wrong username or password."
NO_STORE = {"Cache-Control": "no-store"}


def safe_next(target: str | None) -> str | None:
    """Return target when it is a path on this site, so sign-in never redirects elsewhere."""
    if not target or "\\" in target or any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_url() -> str:
    return url_for("admin.home")


@bp.route("/setup/first-run", methods=["GET", "POST"])
def first_run():
    if accounts.has_local_admin(db.session):
        return redirect(url_for("auth.login"))
    form = FirstRunForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_local_user(
                db.session, form.username.data, form.password.data, accounts.ADMIN
            )
        except accounts.AccountError as error:
            form.username.errors.append(f"{error}.")
        else:
            audit.record(
                db.session,
                user.user_name,
                "account.create",
                f"first local admin '{user.user_name}' created on the first-run page",
            )
            db.session.commit()
            session.clear()
            login_user(user)
            flash(
                f"Welcome, {user.user_name}. You are the first admin; this account signs in "
                "with its password even when Entra or single sign-on is unavailable.",
                "success",
            )
            return redirect(home_url())
    return render_template("auth/first_run.html", form=form), 200, NO_STORE


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or home_url())
    form = LoginForm()
    if request.method == "POST":
        wait = seconds_until_allowed()
        if wait:
            error = (
                "Too many failed sign-ins from your address. "
                f"Try again in {wait} second{'s' if wait != 1 else ''}."
            )
            headers = {**NO_STORE, "Retry-After": str(wait)}
            return login_page(form, next_url, error), 429, headers
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.username.data, form.password.data)
        if user is not None:
            session.clear()
            login_user(user, remember=form.remember.data)
            return redirect(next_url or home_url())
        count_failure()
        current_app.logger.warning(
            "Failed sign-in for %r from %s", form.username.data, request.remote_addr
        )
        return login_page(form, next_url, LOGIN_FAILED), 200, NO_STORE
    return login_page(form, next_url), 200, NO_STORE


def login_page(form: LoginForm, next_url: str | None, error: str | None = None) -> str:
    form.password.data = ""
    return render_template("auth/login.html", form=form, next_url=next_url, error=error)


@bp.post("/logout")
def logout():
    # Clear first: logout_user leaves a note in the session that makes
    # Flask-Login delete the remember-me cookie too.
    session.clear()
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


# Failed sign-ins are counted per client address in Flask-Limiter's storage
# (memory, or Redis through RATELIMIT_STORAGE_URI so instances count together).
LIMIT_SCOPE = "login-failed"


def _login_limit():
    return parse_limit(current_app.config["LOGIN_RATE_LIMIT"])


def _limited() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def seconds_until_allowed() -> int:
    """Return how long this client must wait before trying again, 0 when it may now."""
    if not _limited():
        return 0
    item, client = _login_limit(), request.remote_addr or "unknown"
    if limiter.limiter.test(item, LIMIT_SCOPE, client):
        return 0
    reset, _ = limiter.limiter.get_window_stats(item, LIMIT_SCOPE, client)
    return max(1, math.ceil(reset - time.time()))


def count_failure() -> None:
    """Count a failed sign-in against this client."""
    if _limited():
        limiter.limiter.hit(_login_limit(), LIMIT_SCOPE, request.remote_addr or "unknown")
