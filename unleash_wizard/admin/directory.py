"""The directory: users and groups, local and provisioned by Entra, to look at and tidy up.

Anyone signed in may read; only Admins change anything. What SCIM manages
belongs to Entra: the page shows why its controls are disabled and the server
refuses the edit too. Removing is allowed, with the warning that Entra may add
the user or group back on its next cycle.
"""

from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from ..auth import admin_required
from ..extensions import db
from ..extensions import login_manager
from ..store import accounts
from ..store import audit
from ..store import directory
from ..store.models import Group
from ..store.models import User
from ..store.transactions import begin_write

bp = Blueprint("directory", __name__, url_prefix="/directory")

SCIM_USER_REASON = (
    "Managed by Entra through SCIM: change this user in Entra; edits here would be overwritten."
)
SCIM_GROUP_REASON = (
    "Managed by Entra through SCIM: change this group in Entra; edits here would be overwritten."
)
ENTRA_MAY_RETURN_USER = (
    "Entra may add this user back on its next provisioning cycle unless the user is "
    "unassigned from the app (or out of its scope) in Entra."
)
ENTRA_MAY_RETURN_GROUP = (
    "Entra may add this group back on its next provisioning cycle unless the group is "
    "unassigned from the app (or out of its scope) in Entra. Its members stay; only their "
    "membership in this group goes."
)
ROLE_LABELS = {accounts.ADMIN: "Admin", accounts.VIEWER: "Viewer"}
ACTIVE = "active"
DISABLED = "disabled"
# SCIM never keeps a password (scim.resources.user_type drops the attribute);
# the page leaves out any that an older row might hold all the same.
HIDDEN_ATTRIBUTES = frozenset({"password"})
# Core attributes in the order an admin reads them; the rest follow by name,
# then extensions such as the enterprise one.
ATTRIBUTE_ORDER = (
    "userName",
    "displayName",
    "name",
    "nickName",
    "title",
    "emails",
    "phoneNumbers",
    "externalId",
    "active",
    # inside name, and inside emails and other multi-valued attributes
    "formatted",
    "honorificPrefix",
    "givenName",
    "middleName",
    "familyName",
    "honorificSuffix",
    "value",
    "display",
    "type",
    "primary",
)
EXTENSION_LABELS = {
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "Enterprise extension",
}


class UserForm(FlaskForm):
    display_name = StringField(
        "Display name",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[Optional(), Length(max=255, message="Use at most 255 characters.")],
    )
    role = SelectField(
        "Role",
        choices=[SelectChoice(accounts.ADMIN, "Admin"), SelectChoice(accounts.VIEWER, "Viewer")],
    )
    status = SelectField(
        "Status",
        choices=[
            SelectChoice(ACTIVE, "Active: can sign in"),
            SelectChoice(DISABLED, "Disabled: cannot sign in"),
        ],
    )


class RemoveForm(FlaskForm):
    confirm = BooleanField(
        "I understand", validators=[DataRequired("Tick the box to confirm the removal.")]
    )


@bp.before_request
def require_sign_in():
    """Let anyone signed in read the directory; send everyone else to sign in."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.context_processor
def helpers():
    return {
        "when": when,
        "iso_time": iso_time,
        "role_label": lambda role: ROLE_LABELS.get(role, role),
        "page_window": page_window,
        "is_admin": current_user.is_authenticated and accounts.is_admin(db.session, current_user),
    }


def when(moment: datetime | None, utc: bool = True) -> str:
    """Return moment for people to read, in UTC (stored naive values are UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M" + (" UTC" if utc else ""))


def iso_time(moment: datetime | None) -> str:
    """Return moment for a <time datetime> attribute."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_window(listing: directory.Listing, around: int = 2) -> list[int | None]:
    """Return the page numbers to link: the first, the last and those near the current one.

    None marks a gap, shown as an ellipsis.
    """
    wanted = {1, listing.pages, *range(listing.page - around, listing.page + around + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= listing.pages)
    window: list[int | None] = []
    for number in numbers:
        if window and number - (window[-1] or 0) > 1:
            window.append(None)
        window.append(number)
    return window


def readable_attributes(data: Any) -> Any:
    """Return a SCIM document for display: no password, core attributes in reading order."""
    if isinstance(data, list):
        return [readable_attributes(item) for item in data]
    if not isinstance(data, dict):
        return data
    shown = {
        key: readable_attributes(value)
        for key, value in data.items()
        if key.lower() not in HIDDEN_ATTRIBUTES
    }
    rank = {name.lower(): position for position, name in enumerate(ATTRIBUTE_ORDER)}

    def order(key: str) -> tuple[int, int, str]:
        extension = key.startswith("urn:") or key.startswith("http")
        return (int(extension), rank.get(key.lower(), len(rank)), key.lower())

    return {key: shown[key] for key in sorted(shown, key=order)}


def attribute_label(key: str) -> str:
    return EXTENSION_LABELS.get(key, key)


def page_arg() -> int:
    page = request.args.get("page", 1, type=int)
    return page if page and page > 0 else 1


def sign_out() -> None:
    """End the session of an admin who just disabled or removed their own account."""
    # As auth.views.logout: clear first, so the remember-me cookie goes too.
    session.clear()
    logout_user()


def source_of(row: User | Group) -> str:
    return "SCIM-managed" if row.scim_managed else "local"


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


@bp.get("/")
def index():
    return redirect(url_for("directory.users"))


@bp.get("/users")
def users():
    search = directory.clean_search(request.args.get("q"))
    listing = directory.list_users(db.session, search, page_arg())
    return render_template("admin/directory/users.html", listing=listing, search=search)


def live_user(user_id: str) -> User:
    user = directory.get_user(db.session, user_id)
    if user is None:
        abort(404)
    return user


def user_values(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name or "",
        "role": accounts.role_of(db.session, user),
        "status": ACTIVE if user.active else DISABLED,
    }


def user_page(
    user: User,
    form: UserForm | None = None,
    remove_form: RemoveForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    if form is None:
        form = UserForm(formdata=None, data=user_values(user))
    if remove_form is None:
        remove_form = RemoveForm(formdata=None)
    if user.scim_managed:
        remove_form.confirm.label.text = (
            "I understand that Entra may add this user back unless I unassign it in Entra"
        )
    else:
        remove_form.confirm.label.text = "I understand that this account can no longer sign in"
    # The last break-glass admin: role, status and removal are locked, the
    # display name stays editable.
    last_admin = accounts.is_break_glass_admin(user) and not accounts.can_lose_admin(
        db.session, user
    )
    return (
        render_template(
            "admin/directory/user.html",
            user=user,
            form=form,
            remove_form=remove_form,
            error=error,
            attributes=readable_attributes(user.data or {}),
            attribute_label=attribute_label,
            groups=directory.member_groups(db.session, user.id),
            role=accounts.role_of(db.session, user),
            admin_group=directory.admin_group_name(db.session),
            work_email=directory.work_emails(db.session, [user.id]).get(user.id),
            last_admin=last_admin,
            last_admin_reason=accounts.LAST_ADMIN,
            scim_reason=SCIM_USER_REASON,
            entra_warning=ENTRA_MAY_RETURN_USER,
            is_self=user.id == current_user.id,
        ),
        status,
    )


@bp.get("/users/<user_id>")
def user(user_id: str):
    return user_page(live_user(user_id))


@bp.post("/users/<user_id>/edit")
@admin_required
def edit_user(user_id: str):
    begin_write(db.session)
    user = live_user(user_id)
    if user.scim_managed:
        # The page shows these controls disabled; a request that sends them
        # anyway changes nothing either.
        return user_page(user, error=f"Nothing was changed. {SCIM_USER_REASON}", status=403)
    form = UserForm(data=user_values(user))
    if not form.validate_on_submit():
        return user_page(user, form=form, error="Nothing was changed: see below.")
    try:
        changes = directory.update_local_user(
            db.session,
            user,
            form.display_name.data,
            form.role.data,
            form.status.data == ACTIVE,
        )
    except directory.LastAdmin as refused:
        db.session.rollback()
        for field in refused.fields:
            (form.role if field == "role" else form.status).errors.append(str(refused))
        return user_page(user, form=form, error="Nothing was changed: see below.")
    if not changes:
        flash("Nothing to save: the values are as they were.", "info")
        return redirect(url_for("directory.user", user_id=user.id))
    actor = current_user.user_name
    audit.record(
        db.session,
        actor,
        "user.update",
        f"local user '{user.user_name}': {'; '.join(changes)}",
    )
    db.session.commit()
    if user.id == current_user.id and not user.active:
        sign_out()
        flash("You disabled your own account and are signed out.", "info")
        return redirect(url_for("auth.login"))
    flash(f"Saved '{user.user_name}': {'; '.join(changes)}.", "success")
    return redirect(url_for("directory.user", user_id=user.id))


@bp.post("/users/<user_id>/remove")
@admin_required
def remove_user(user_id: str):
    begin_write(db.session)
    user = live_user(user_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        return user_page(user, remove_form=form, error="Nothing was removed: see below.")
    try:
        directory.remove_user(db.session, user)
    except directory.LastAdmin as refused:
        db.session.rollback()
        form.confirm.errors.append(str(refused))
        return user_page(user, remove_form=form, error="Nothing was removed: see below.")
    removed_self = user.id == current_user.id
    audit.record(
        db.session,
        current_user.user_name,
        "user.remove",
        f"{source_of(user)} user '{user.user_name}' removed in the directory",
    )
    db.session.commit()
    if removed_self:
        sign_out()
        flash("You removed your own account and are signed out.", "info")
        return redirect(url_for("auth.login"))
    message = f"Removed '{user.user_name}'."
    if user.scim_managed:
        message += " " + ENTRA_MAY_RETURN_USER
    flash(message, "success")
    return redirect(url_for("directory.users"))


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


@bp.get("/groups")
def groups():
    search = directory.clean_search(request.args.get("q"))
    listing = directory.list_groups(db.session, search, page_arg())
    return render_template("admin/directory/groups.html", listing=listing, search=search)


def live_group(group_id: str) -> Group:
    group = directory.get_group(db.session, group_id)
    if group is None:
        abort(404)
    return group


def group_page(group: Group, remove_form: RemoveForm | None = None, error: str | None = None):
    if remove_form is None:
        remove_form = RemoveForm(formdata=None)
    if group.scim_managed:
        remove_form.confirm.label.text = (
            "I understand that Entra may add this group back unless I unassign it in Entra"
        )
    else:
        remove_form.confirm.label.text = "I understand that this group goes for good"
    data = {key: value for key, value in (group.data or {}).items() if key != "members"}
    return render_template(
        "admin/directory/group.html",
        group=group,
        members=directory.list_members(db.session, group.id, page_arg()),
        attributes=readable_attributes(data),
        attribute_label=attribute_label,
        remove_form=remove_form,
        error=error,
        admin_group=directory.is_admin_group(db.session, group),
        scim_reason=SCIM_GROUP_REASON,
        entra_warning=ENTRA_MAY_RETURN_GROUP,
    )


@bp.get("/groups/<group_id>")
def group(group_id: str):
    return group_page(live_group(group_id))


@bp.post("/groups/<group_id>/remove")
@admin_required
def remove_group(group_id: str):
    begin_write(db.session)
    group = live_group(group_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        return group_page(group, remove_form=form, error="Nothing was removed: see below.")
    directory.remove_group(db.session, group)
    audit.record(
        db.session,
        current_user.user_name,
        "group.remove",
        f"{source_of(group)} group '{group.display_name}' removed in the directory",
    )
    db.session.commit()
    message = f"Removed the group '{group.display_name}'."
    if group.scim_managed:
        message += " " + ENTRA_MAY_RETURN_GROUP
    flash(message, "success")
    return redirect(url_for("directory.groups"))
