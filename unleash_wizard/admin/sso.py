"""Single Sign-On section: the SCIM tab (URL, on/off, tokens, danger zone) and the OIDC tab.

Every page is for Admins. A new token's secret is shown once, in the response
to the POST that created it, and nowhere else: not in the session, a flash
message, a URL or the audit trail. Every other POST redirects (PRG).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import PasswordField
from wtforms import StringField
from wtforms import ValidationError
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import Regexp

from ..auth import admin_required
from ..auth import oidc as sso_oidc
from ..auth.forms import strip
from ..auth.views import TEST
from ..auth.views import callback_url
from ..auth.views import start_sso
from ..extensions import db
from ..store import accounts
from ..store import audit
from ..store import bulk
from ..store import settings
from ..store import tokens
from ..store.models import ScimToken
from ..store.models import utcnow
from ..store.transactions import begin_write
from .views import scim_url

bp = Blueprint("sso", __name__, url_prefix="/sso")

NO_STORE = {"Cache-Control": "no-store"}
# Entra's SCIM compliance flag: with it Entra sends standard PATCH requests,
# which deprovisioning needs (Microsoft: "Known issues and resolutions with
# SCIM 2.0 protocol compliance", flags to alter the SCIM behavior).
ENTRA_FLAG = "?aadOptscim062020"
FIRST_TOKEN_NAME = "Entra"
MAX_EXPIRES_DAYS = 3650
LOCKOUT_REFUSAL = (
    "SCIM stays off: no local Admin can sign in with a password. Once SCIM is on, Entra "
    "manages users here; keep at least one local Admin with a password, not provisioned by "
    "SCIM, so you can always get in (flask admin create NAME), then switch SCIM on."
)
KINDS = {"users": ("user", "users"), "groups": ("group", "groups")}


@bp.before_request
@admin_required
def require_admin():
    """Let only Admins reach any page of this section."""
    return None


# ---------------------------------------------------------------------------
# Forms
# ---------------------------------------------------------------------------


class ToggleForm(FlaskForm):
    # The wanted state, not "flip": sending the form twice does not undo it.
    state = HiddenField(validators=[AnyOf(["on", "off"])])


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[strip],
        validators=[DataRequired("Give the token a name."), Length(max=100)],
    )
    expires_days = IntegerField(
        "Expires after (days)",
        validators=[
            Optional(),
            NumberRange(
                1,
                MAX_EXPIRES_DAYS,
                f"Enter a number of days from 1 to {MAX_EXPIRES_DAYS}, "
                "or leave it empty for no expiry.",
            ),
        ],
        render_kw={"min": 1, "max": MAX_EXPIRES_DAYS, "inputmode": "numeric"},
    )


class ConfirmForm(FlaskForm):
    """A bare confirmation: the button, and the CSRF token."""


LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def issuer_url(_form, field) -> None:
    """Accept an https URL, or http to this machine (a provider under test)."""
    parts = urlsplit(field.data or "")
    local = parts.scheme == "http" and (parts.hostname or "") in {
        h.strip("[]") for h in LOCAL_HOSTS
    }
    if not parts.netloc or not (parts.scheme == "https" or local):
        raise ValidationError(
            "Enter the issuer as an https:// URL, such as "
            "https://login.microsoftonline.com/TENANT-ID/v2.0."
        )
    if parts.query or parts.fragment:
        raise ValidationError("The issuer URL has no ?query or #fragment part.")


class OidcForm(FlaskForm):
    issuer = StringField(
        "Issuer URL",
        filters=[strip],
        validators=[DataRequired("Enter the issuer URL."), Length(max=500), issuer_url],
    )
    client_id = StringField(
        "Client ID",
        filters=[strip],
        validators=[DataRequired("Enter the client ID."), Length(max=255)],
    )
    client_secret = PasswordField(
        "Client secret",
        filters=[strip],
        validators=[Optional(), Length(max=1000)],
    )
    scopes = StringField(
        "Scopes",
        filters=[strip],
        validators=[
            Length(max=500),
            Regexp(
                r"^[\x21\x23-\x5B\x5D-\x7E ,]*$", message="Scopes are words separated by spaces."
            ),
        ],
    )
    identity_claim = StringField(
        "Identity claim",
        filters=[strip],
        validators=[
            DataRequired("Enter the claim that identifies a person, such as oid."),
            Regexp(r"^[A-Za-z0-9_.:-]{1,64}$", message="A claim name is one word, such as oid."),
        ],
    )
    match_by_name = BooleanField("Also match by username or email")
    create_users = BooleanField("Create users that SCIM has not provisioned")
    enabled = BooleanField('Offer "Sign in with SSO" on the sign-in page')


class TypedConfirmForm(FlaskForm):
    confirmation = StringField("Confirmation", validators=[DataRequired("Type the words above.")])


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    iso: str
    text: str


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    prefix: str
    created: Moment | None
    last_used: Moment | None
    expires: Moment | None
    status: str


def moment(value: datetime | None) -> Moment | None:
    value = tokens.aware(value)
    if value is None:
        return None
    return Moment(value.isoformat(), value.strftime("%Y-%m-%d %H:%M UTC"))


def token_row(token: ScimToken, now: datetime) -> TokenRow:
    return TokenRow(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created=moment(token.created_at),
        last_used=moment(token.last_used_at),
        expires=moment(token.expires_at),
        status=tokens.status(token, now),
    )


def actor() -> str:
    return current_user.user_name


def expiry_text(token: ScimToken) -> str:
    shown = moment(token.expires_at)
    return f"expires {shown.text}" if shown else "no expiry"


def record_created(token: ScimToken, note: str = "") -> None:
    # The prefix identifies the token, as in the CLI; the secret never goes here.
    audit.record(
        db.session,
        actor(),
        "token.create",
        f"token '{token.name}' (prefix {token.prefix}), {expiry_text(token)}{note}",
    )


def get_token(token_id: int) -> ScimToken:
    token = db.session.get(ScimToken, token_id)
    if token is None:
        abort(404)
    return token


def suggested_name(old_name: str) -> str:
    """Return a free name next to old_name: "Entra 2" -> "Entra 3", not "Entra 2 2"."""
    base = re.sub(r" \d+$", "", old_name) or old_name
    return tokens.free_name(db.session, base)


def lifetime_days(token: ScimToken) -> int | None:
    expires, created = tokens.aware(token.expires_at), tokens.aware(token.created_at)
    if expires is None or created is None:
        return None
    return min(MAX_EXPIRES_DAYS, max(1, round((expires - created).total_seconds() / 86400)))


def confirmation_phrase(kind: str, count: int) -> str:
    singular, plural = KINDS[kind]
    return f"delete {count} {singular if count == 1 else plural}"


def scim_count(kind: str) -> int:
    if kind == "users":
        return bulk.count_scim_users(db.session)
    return bulk.count_scim_groups(db.session)


def scim_page(new_token: tokens.Issued | None = None):
    """Return the SCIM tab; with new_token, its secret on top, this once."""
    session = db.session
    now = utcnow()
    rows = [token_row(token, now) for token in tokens.listing(session)]
    enabled_at = settings.get(session, settings.SCIM_ENABLED_AT)
    page = render_template(
        "admin/sso/scim.html",
        scim_url=scim_url(),
        tenant_url=scim_url() + ENTRA_FLAG,
        state=settings.scim_state(session),
        enabled_at=moment(datetime.fromisoformat(enabled_at)) if enabled_at else None,
        has_live_token=any(row.status == tokens.LIVE for row in rows),
        tokens=rows,
        counts={"users": bulk.count_scim_users(session), "groups": bulk.count_scim_groups(session)},
        toggle_form=ToggleForm(),
        new_token=new_token,
    )
    # The secret is in this page: no cache may keep it.
    return page, 200, NO_STORE


def mark_scim_tab_seen() -> None:
    """Record, once, that an Admin opened the SCIM tab (wizard step 1)."""
    if settings.get(db.session, settings.SCIM_TAB_SEEN_AT):
        return
    begin_write(db.session)
    if settings.get(db.session, settings.SCIM_TAB_SEEN_AT):
        return
    settings.put(db.session, settings.SCIM_TAB_SEEN_AT, utcnow().isoformat())
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another instance recorded it first


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


@bp.get("/")
def index():
    return redirect(url_for("sso.scim"))


def oidc_page(form: OidcForm, config: sso_oidc.OidcSettings, status: int = 200):
    last_test = settings.get(db.session, sso_oidc.LAST_TEST)
    last_error = settings.get(db.session, sso_oidc.LAST_ERROR)
    page = render_template(
        "admin/sso/oidc.html",
        form=form,
        config=config,
        redirect_uri=callback_url(),
        last_test=last_test,
        last_test_at=moment(datetime.fromisoformat(last_test["at"])) if last_test else None,
        last_error=last_error,
        last_error_at=moment(datetime.fromisoformat(last_error["at"])) if last_error else None,
        test_form=ConfirmForm(),
    )
    return page, status, NO_STORE


def fill_form(form: OidcForm, config: sso_oidc.OidcSettings) -> None:
    form.issuer.data = config.issuer
    form.client_id.data = config.client_id
    form.scopes.data = config.scopes
    form.identity_claim.data = config.identity_claim
    form.match_by_name.data = config.match_by_name
    form.create_users.data = config.create_users
    form.enabled.data = config.enabled


@bp.route("/oidc", methods=["GET", "POST"])
def oidc():
    config = sso_oidc.load(db.session)
    form = OidcForm()
    if config.from_deployment:
        if form.is_submitted():
            flash(
                "These settings come from the deployment's configuration; change them there.",
                "error",
            )
        fill_form(form, config)
        return oidc_page(form, config)
    if not form.validate_on_submit():
        if not form.is_submitted():
            fill_form(form, config)
        return oidc_page(form, config, 400 if form.is_submitted() else 200)
    new_secret = form.client_secret.data or None
    if not new_secret and not config.has_secret:
        form.client_secret.errors.append("Enter the client secret from the app registration.")
        return oidc_page(form, config, 400)
    new = sso_oidc.OidcSettings(
        issuer=form.issuer.data,
        client_id=form.client_id.data,
        client_secret=new_secret or config.client_secret,
        scopes=sso_oidc.normalize_scopes(form.scopes.data or sso_oidc.DEFAULT_SCOPES),
        identity_claim=form.identity_claim.data,
        match_by_name=form.match_by_name.data,
        create_users=form.create_users.data,
        enabled=form.enabled.data,
    )
    try:
        sso_oidc.discover(new, fresh=True)
    except sso_oidc.SsoFailure as failure:
        form.issuer.errors.append(f"{failure.title}: {failure.fix}")
        return oidc_page(form, config, 400)
    begin_write(db.session)
    sso_oidc.save(db.session, new, new_secret)
    changes = ["client secret replaced"] if new_secret and config.has_secret else []
    audit.record(
        db.session,
        actor(),
        "oidc.save",
        f"issuer {new.issuer}, client id {new.client_id}, sign-in "
        f"{'on' if new.enabled else 'off'}" + "".join(f", {c}" for c in changes),
    )
    db.session.commit()
    flash(
        "OIDC settings saved. Run a test sign-in to check them."
        if not new.enabled
        else 'OIDC settings saved: the sign-in page offers "Sign in with SSO".',
        "success",
    )
    return redirect(url_for("sso.oidc"))


@bp.post("/oidc/test")
def oidc_test():
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The test was not started; reload the page and try again.", "error")
        return redirect(url_for("sso.oidc"))
    config = sso_oidc.load(db.session)
    if not config.complete and not config.secret_unreadable:
        flash("Save the issuer URL, client ID and client secret first.", "error")
        return redirect(url_for("sso.oidc"))
    return start_sso(config, TEST)


@bp.get("/scim")
def scim():
    mark_scim_tab_seen()
    return scim_page()


@bp.post("/scim/toggle")
def toggle():
    form = ToggleForm()
    if not form.validate_on_submit():
        flash("The switch was not understood; nothing changed.", "error")
        return redirect(url_for("sso.scim"))
    begin_write(db.session)
    session = db.session
    if form.state.data == "off":
        changed = settings.pause_scim(session)
        audit.record(
            session,
            actor(),
            "scim.disable",
            "SCIM provisioning paused" if changed else "already off",
        )
        session.commit()
        flash(
            "Provisioning is paused: /scim/v2 answers 403 until you switch it on again. "
            "Tokens, users and groups are kept.",
            "success",
        )
        return redirect(url_for("sso.scim"))

    if settings.scim_enabled(session):
        audit.record(session, actor(), "scim.enable", "already on")
        session.commit()
        flash("SCIM provisioning was already on.", "info")
        return redirect(url_for("sso.scim"))
    if not accounts.has_local_admin(session):
        audit.record(
            session, actor(), "scim.enable", "refused: no local admin can sign in with a password"
        )
        session.commit()
        flash(LOCKOUT_REFUSAL, "error")
        return redirect(url_for("sso.scim"))
    settings.enable_scim(session)
    issued = None
    if not tokens.has_live(session):
        issued = tokens.issue(session, tokens.free_name(session, FIRST_TOKEN_NAME))
        record_created(issued.token, ", created on switching SCIM on")
    audit.record(session, actor(), "scim.enable", "SCIM provisioning switched on")
    try:
        session.commit()
    except IntegrityError:
        # Another admin switched it on at the same moment and took the name.
        session.rollback()
        flash("Someone else changed SCIM at the same time; check the state and try again.", "error")
        return redirect(url_for("sso.scim"))
    if issued is None:
        flash("SCIM provisioning is on. The existing live tokens work again.", "success")
        return redirect(url_for("sso.scim"))
    flash("SCIM provisioning is on, and a first token was created for Entra.", "success")
    return scim_page(issued)


@bp.route("/scim/tokens/new", methods=["GET", "POST"])
def add_token():
    form = TokenForm()
    if form.validate_on_submit():
        begin_write(db.session)
        try:
            issued = tokens.issue(db.session, form.name.data, form.expires_days.data)
        except tokens.TokenError as error:
            db.session.rollback()
            form.name.errors.append(f"{error}.")
        else:
            record_created(issued.token)
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                form.name.errors.append(f"A token called '{form.name.data}' already exists.")
            else:
                flash(f"Token '{issued.token.name}' created.", "success")
                return scim_page(issued)
    elif not form.is_submitted():
        form.name.data = tokens.free_name(db.session, FIRST_TOKEN_NAME)
    return render_template("admin/sso/token_new.html", form=form)


@bp.route("/scim/tokens/<int:token_id>/replace", methods=["GET", "POST"])
def replace_token(token_id: int):
    old = get_token(token_id)
    if old.revoked_at is not None:
        flash(f"The token '{old.name}' is already revoked; add a new token instead.", "error")
        return redirect(url_for("sso.scim"))
    form = TokenForm()
    if form.validate_on_submit():
        begin_write(db.session)
        old = get_token(token_id)
        try:
            issued = tokens.replace(db.session, old, form.name.data, form.expires_days.data)
        except tokens.TokenError as error:
            db.session.rollback()
            form.name.errors.append(f"{error}.")
        else:
            new = issued.token
            record_created(new, f", replacing '{old.name}'")
            audit.record(
                db.session,
                actor(),
                "token.revoke",
                f"token '{old.name}' (prefix {old.prefix}), replaced by '{new.name}'",
            )
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                form.name.errors.append(f"A token called '{form.name.data}' already exists.")
            else:
                flash(
                    f"Token '{new.name}' created and '{old.name}' revoked: "
                    f"requests with '{old.name}' are refused from now on.",
                    "success",
                )
                return scim_page(issued)
        old = get_token(token_id)
    elif not form.is_submitted():
        form.name.data = suggested_name(old.name)
        form.expires_days.data = lifetime_days(old)
    return render_template(
        "admin/sso/token_replace.html", form=form, token=token_row(old, utcnow())
    )


@bp.route("/scim/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
def revoke_token(token_id: int):
    token = get_token(token_id)
    if token.revoked_at is not None:
        flash(f"The token '{token.name}' is already revoked.", "info")
        return redirect(url_for("sso.scim"))
    form = ConfirmForm()
    if form.validate_on_submit():
        begin_write(db.session)
        token = tokens.revoke(db.session, get_token(token_id).name)
        name, prefix = token.name, token.prefix
        audit.record(db.session, actor(), "token.revoke", f"token '{name}' (prefix {prefix})")
        db.session.commit()
        flash(f"Token '{name}' revoked: requests with it are refused from now on.", "success")
        return redirect(url_for("sso.scim"))
    now = utcnow()
    others_live = any(
        other.id != token.id and tokens.is_live(other, now) for other in tokens.listing(db.session)
    )
    return render_template(
        "admin/sso/token_revoke.html",
        form=form,
        token=token_row(token, now),
        last_live=tokens.is_live(token, now) and not others_live,
        scim_on=settings.scim_enabled(db.session),
    )


@bp.route("/scim/delete-<any(users, groups):kind>", methods=["GET", "POST"])
def delete_all(kind: str):
    form = TypedConfirmForm()
    if form.validate_on_submit():
        begin_write(db.session)
        # Counted again inside the write: the phrase must match what goes now.
        count = scim_count(kind)
        expected = confirmation_phrase(kind, count)
        typed = " ".join(form.confirmation.data.split()).lower()
        if count == 0:
            db.session.rollback()
            flash(f"There are no SCIM {kind} to delete.", "info")
            return redirect(url_for("sso.scim"))
        if typed == expected:
            if kind == "users":
                removed = bulk.delete_all_scim_users(db.session)
            else:
                removed = bulk.delete_all_scim_groups(db.session)
            noun = confirmation_phrase(kind, removed).removeprefix("delete ")
            audit.record(db.session, actor(), f"scim.delete-all-{kind}", f"{noun} deleted")
            db.session.commit()
            flash(
                f"Deleted {noun}. Entra may add them back on its next cycle unless they are "
                "unassigned from the app in Entra or provisioning is paused.",
                "success",
            )
            return redirect(url_for("sso.scim"))
        db.session.rollback()
        form.confirmation.errors.append(
            f"Type exactly “{expected}” to confirm; nothing was deleted."
        )
    count = scim_count(kind)
    return render_template(
        "admin/sso/delete_all.html",
        form=form,
        kind=kind,
        count=count,
        phrase=confirmation_phrase(kind, count),
        scim_on=settings.scim_enabled(db.session),
    )
