"""First run, sign-in and sign-out."""

import json
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
from ..store import settings
from ..store import sso
from ..store.models import utcnow
from ..store.transactions import begin_write
from . import oidc
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
        # Only a username that exists is logged: what someone typed into the
        # username field may be their password.
        known = accounts.find_by_name(db.session, form.username.data)
        current_app.logger.warning(
            "Failed sign-in for %s from %s",
            repr(known.user_name) if known else "an unknown username",
            request.remote_addr,
        )
        return login_page(form, next_url, LOGIN_FAILED), 200, NO_STORE
    return login_page(form, next_url), 200, NO_STORE


def login_page(form: LoginForm, next_url: str | None, error: str | None = None) -> str:
    form.password.data = ""
    return render_template(
        "auth/login.html",
        form=form,
        next_url=next_url,
        error=error,
        sso=oidc.load(db.session).usable,
    )


@bp.post("/logout")
def logout():
    # Clear first: logout_user leaves a note in the session that makes
    # Flask-Login delete the remember-me cookie too.
    session.clear()
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


# Failed sign-ins are counted per client address in extensions.limiter's storage
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


# ---------------------------------------------------------------------------
# Single sign-on (OpenID Connect)
# ---------------------------------------------------------------------------
# One callback serves two purposes: signing in, and the OIDC tab's "test
# sign-in", which reports the claims and who they would sign in as without
# signing anyone in. The purpose rides in the session next to Authlib's state.

PURPOSE = "sso_purpose"
NEXT = "sso_next"
SIGN_IN = "sign-in"
TEST = "test"


def public_url(path: str) -> str:
    """Return path as users and Entra reach it: under PUBLIC_URL, else this request's host."""
    root = current_app.config.get("PUBLIC_URL") or request.url_root
    return root.rstrip("/") + path


def callback_url() -> str:
    """Return the redirect URI to register at the provider."""
    return public_url(url_for("auth.sso_callback"))


def start_sso(config: oidc.OidcSettings, purpose: str, next_url: str | None = None):
    """Send the browser to the provider for purpose; failures get the error page."""
    session[PURPOSE] = purpose
    if next_url:
        session[NEXT] = next_url
    try:
        return oidc.start(config, callback_url())
    except oidc.SsoFailure as failure:
        return sso_failed(failure)


@bp.get("/login/sso")
def sso_login():
    config = oidc.load(db.session)
    if not config.usable:
        return sso_failed(oidc.not_configured())
    return start_sso(config, SIGN_IN, safe_next(request.args.get("next")))


@bp.get("/login/sso/callback")
def sso_callback():
    purpose = session.pop(PURPOSE, SIGN_IN)
    next_url = safe_next(session.pop(NEXT, None))
    config = oidc.load(db.session)
    if purpose == TEST:
        if not (current_user.is_authenticated and accounts.is_admin(db.session, current_user)):
            return render_template("errors/403.html"), 403
    elif not config.usable:
        return sso_failed(oidc.not_configured())
    try:
        claims = oidc.finish(config)
    except oidc.SsoFailure as failure:
        return sso_failed(failure, testing=purpose == TEST)
    if purpose == TEST:
        return show_test_result(config, claims)
    return sign_in_with(config, claims, next_url)


def sign_in_with(config: oidc.OidcSettings, claims: dict, next_url: str | None):
    """Sign in the user the claims match, or show why not."""
    begin_write(db.session)
    try:
        identity = sso.identity_from_claims(claims, config.identity_claim)
        user, created = sso.sign_in_user(
            db.session, identity, config.match_by_name, config.create_users
        )
    except sso.SignInRefused as refused:
        db.session.rollback()
        return sso_failed(refusal(refused))
    if created:
        audit.record(
            db.session,
            user.user_name,
            "account.create",
            f"user '{user.user_name}' created at its first single sign-on",
        )
    audit.record(db.session, user.user_name, "account.sso_sign_in", "signed in with single sign-on")
    db.session.commit()
    session.clear()
    login_user(user)
    return redirect(next_url or home_url())


def refusal(refused: sso.SignInRefused) -> oidc.SsoFailure:
    """Return the failure page for a sign-in the matching rules refused."""
    titles = {
        sso.UNKNOWN_USER: "You don't have an account here yet",
        sso.DISABLED_USER: "This account is disabled",
        sso.LOCAL_ACCOUNT: "Sign in with your password instead",
        sso.AMBIGUOUS: "Several accounts match",
        sso.OTHER_PERSON: "This account belongs to someone else",
        sso.MISSING_CLAIM: "The provider did not say who you are",
        sso.CREATE_FAILED: "Your account could not be created",
    }
    fixes = {
        sso.MISSING_CLAIM: "For Entra keep the identity claim 'oid' and the scope 'profile'; "
        "for other providers use 'sub'. " + oidc.SETTINGS_FIX,
        sso.AMBIGUOUS: "An admin checks the directory for duplicate users. " + oidc.SETTINGS_FIX,
    }
    return oidc.SsoFailure(
        refused.reason,
        titles.get(refused.reason, "Sign-in refused"),
        refused.detail + (" " + fixes[refused.reason] if refused.reason in fixes else ""),
        status=403,
    )


def sso_failed(failure: oidc.SsoFailure, testing: bool = False):
    """Answer a failed single sign-on with a page that says what to fix, and remember it."""
    current_app.logger.warning("Single sign-on failed: %s", failure)
    record_outcome(oidc.LAST_ERROR, {"code": failure.code, "title": failure.title})
    if testing:
        record_outcome(oidc.LAST_TEST, {"ok": False, "code": failure.code, "title": failure.title})
    page = render_template("auth/sso_error.html", failure=failure, testing=testing)
    return page, failure.status, NO_STORE


def record_outcome(key: str, value: dict) -> None:
    """Store what the last sign-in or test did, for the OIDC tab and the support view."""
    db.session.rollback()
    begin_write(db.session)
    settings.put(db.session, key, {**value, "at": utcnow().isoformat()})
    db.session.commit()


def claim_text(value) -> str:
    """Return a claim's value as the test page shows it."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def show_test_result(config: oidc.OidcSettings, claims: dict):
    """Show an admin's test sign-in: the claims received and who they would sign in as."""
    outcome, user, ok = None, None, True
    try:
        identity = sso.identity_from_claims(claims, config.identity_claim)
        user = sso.find_user(db.session, identity, config.match_by_name)
        if user is None:
            outcome = (
                "A user would be created at the first sign-in."
                if config.create_users
                else "no user here matches this identity, and creating users is off."
            )
            ok = config.create_users
        elif not user.active:
            outcome, ok = f"'{user.user_name}' is disabled, so sign-in would be refused.", False
    except sso.SignInRefused as refused:
        outcome, ok = refused.detail, False
    role = accounts.role_of(db.session, user) if user is not None else None
    record_outcome(oidc.LAST_TEST, {"ok": ok, "claims": sorted(claims)})
    page = render_template(
        "auth/sso_test.html",
        claims=[(name, claim_text(value)) for name, value in sorted(claims.items())],
        identity_claim=config.identity_claim,
        user=user,
        role=role,
        outcome=outcome,
        ok=ok,
    )
    return page, 200, NO_STORE
