"""The directory: users and groups lists, user and group pages, edits and removals.

SCIM-managed users and groups are Entra's: the page disables their controls and
says why, and the server refuses the edit too. The last break-glass admin can
never be disabled, made a Viewer or removed.
"""

import re
import threading

import pytest
from apps import sql_statements
from sqlalchemy import select
from sqlalchemy.orm import Session

from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import directory
from unleash_wizard.store import resources
from unleash_wizard.store import settings
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import User

PASSWORD = "Correct horse battery 9"
SCIM_REASON = (
    "Managed by Entra through SCIM: change this user in Entra; edits here would be overwritten."
)
MARKUP = "<script>alert(1)</script><b>x</b>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"


# ---------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------


def add_local(app, user_name: str, role: str = "admin", password: str | None = PASSWORD) -> str:
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, PASSWORD, role)
        if password is None:
            user.password_hash = None
        db.session.commit()
        return user.id


def add_scim_users(app, count: int, prefix: str = "user", **data) -> list[str]:
    """Create count SCIM-managed users in one transaction, as Entra would over time."""
    with app.app_context():
        ids = []
        for number in range(count):
            name = f"{prefix}{number:03d}@example.com"
            user = resources.create_user(
                db.session,
                {
                    "userName": name,
                    "displayName": f"{prefix.title()} {number:03d}",
                    "emails": [{"value": name, "type": "work", "primary": True}],
                    **data,
                },
            )
            ids.append(user.id)
        db.session.commit()
        return ids


def add_group(app, name: str, member_ids: list[str]) -> str:
    with app.app_context():
        group = resources.create_group(
            db.session, {"displayName": name, "externalId": f"ext-{name}"}, member_ids
        )
        db.session.commit()
        return group.id


def sign_in(client, user_name: str):
    response = client.post("/login", data={"username": user_name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def get_user(app, user_id: str) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def audit_actions(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.detail) for row in rows]


def page_of(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[-2000:]
    return response.get_data(as_text=True)


def user_names(page: str) -> list[str]:
    """Return the user names of the users table, in order."""
    return re.findall(r'<th scope="row"><a href="/directory/users/[^"]+">([^<]+)</a>', page)


def group_names(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/directory/groups/[^"]+">([^<]+)</a>', page)


def disabled(page: str, element_id: str) -> bool:
    """Return whether the control with this id is disabled, itself or by its fieldset."""
    tag = re.search(rf"<(?:input|select)[^>]*\bid=\"{element_id}\"[^>]*>", page)
    assert tag, f"no control {element_id}"
    if re.search(r"\sdisabled(\s|>|=)", tag.group(0)):
        return True
    before = page[: tag.start()]
    opened = before.rfind("<fieldset")
    return opened > before.rfind("</fieldset>") and "disabled" in before[opened:].split(">")[0]


@pytest.fixture
def admin(app) -> str:
    return add_local(app, "admin")


@pytest.fixture
def signed_in(client, admin):
    return sign_in(client, "admin")


@pytest.fixture
def scim_user(scim) -> dict:
    """A user as Entra creates it, enterprise extension and all."""
    response = scim.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "Barbara.Jensen@Contoso.com",
            "displayName": "Barbara Jensen",
            "externalId": "b5e0a1c2-ext",
            "active": True,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "title": "Tour Guide",
            "emails": [{"value": "barbara.jensen@contoso.com", "type": "work", "primary": True}],
            ENTERPRISE: {"department": "Tours", "employeeNumber": "701984"},
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json(force=True)


# ---------------------------------------------------------------------------
# Who may look and who may change
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/directory/users", "/directory/groups", "/directory/users/x", "/directory/groups/x"]
)
def test_anonymous_visitor_is_sent_to_sign_in(client, admin, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_post_changes_nothing_and_is_sent_to_sign_in(app, client, admin):
    response = client.post(f"/directory/users/{admin}/remove", data={"confirm": "y"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert get_user(app, admin).deleted_at is None


def test_menu_links_to_the_directory(signed_in):
    page = page_of(signed_in.get("/directory/groups"))

    assert '<a href="/directory/users" aria-current="page">Directory</a>' in page


def test_viewer_reads_the_directory_without_change_controls(app, client, admin, scim_user):
    add_local(app, "viewer", role="viewer")
    group_id = add_group(app, "Readers", [scim_user["id"]])
    sign_in(client, "viewer")

    assert "Barbara.Jensen@Contoso.com" in page_of(client.get("/directory/users"))
    user_page = page_of(client.get(f"/directory/users/{scim_user['id']}"))
    group_page = page_of(client.get(f"/directory/groups/{group_id}"))
    assert "Readers" in page_of(client.get("/directory/groups"))

    for page in (user_page, group_page):
        assert "you can look at the directory but not change it" in page
        assert "/remove" not in page and "/edit" not in page


def test_viewer_posts_are_refused_with_403_and_change_nothing(app, client, admin, scim_user):
    viewer = add_local(app, "viewer", role="viewer")
    group_id = add_group(app, "Readers", [scim_user["id"]])
    sign_in(client, "viewer")

    posts = [
        (f"/directory/users/{admin}/edit", {"role": "viewer", "status": "disabled"}),
        (f"/directory/users/{viewer}/edit", {"role": "admin", "status": "active"}),
        (f"/directory/users/{admin}/remove", {"confirm": "y"}),
        (f"/directory/users/{scim_user['id']}/remove", {"confirm": "y"}),
        (f"/directory/groups/{group_id}/remove", {"confirm": "y"}),
    ]
    for path, data in posts:
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        assert "This page is for Admins" in response.get_data(as_text=True)

    assert get_user(app, admin).role == "admin" and get_user(app, admin).active
    assert get_user(app, viewer).role == "viewer"
    assert get_user(app, scim_user["id"]).deleted_at is None
    with app.app_context():
        assert resources.get_group(db.session, group_id) is not None
    assert audit_actions(app) == []


def test_forms_without_a_csrf_token_are_refused(app, client, admin):
    other = add_local(app, "other", role="viewer")
    sign_in(client, "admin")
    app.config["WTF_CSRF_ENABLED"] = True

    edit = client.post(f"/directory/users/{other}/edit", data={"role": "admin", "status": "active"})
    remove = client.post(f"/directory/users/{other}/remove", data={"confirm": "y"})

    assert edit.status_code == 400 and remove.status_code == 400
    assert get_user(app, other).role == "viewer"
    assert get_user(app, other).deleted_at is None


def test_forms_carry_a_csrf_token(app, client, admin):
    other = add_local(app, "other", role="viewer")
    sign_in(client, "admin")
    app.config["WTF_CSRF_ENABLED"] = True

    page = page_of(client.get(f"/directory/users/{other}"))
    tokens = re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    response = client.post(
        f"/directory/users/{other}/edit",
        data={"display_name": "", "role": "admin", "status": "active", "csrf_token": tokens[0]},
    )

    assert response.status_code == 302
    assert get_user(app, other).role == "admin"


# ---------------------------------------------------------------------------
# Users list: columns, search, paging
# ---------------------------------------------------------------------------


def test_users_list_shows_local_and_scim_users_with_their_columns(app, signed_in, scim_user):
    add_local(app, "ops", role="viewer")
    with app.app_context():
        user = db.session.get(User, scim_user["id"])
        user.active = False
        db.session.commit()

    page = page_of(signed_in.get("/directory/users"))

    assert user_names(page) == ["admin", "Barbara.Jensen@Contoso.com", "ops"]
    row = page[page.index("Barbara.Jensen@Contoso.com") :].split("</tr>")[0]
    assert "Barbara Jensen" in row
    assert "barbara.jensen@contoso.com" in row
    assert "Entra (SCIM)" in row
    assert "Viewer" in row
    assert "Disabled" in row
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT[\d:]+Z\">", row)
    admin_row = page[page.index(">admin</a>") :].split("</tr>")[0]
    assert "Local" in admin_row and "Admin" in admin_row and "Active" in admin_row
    assert "1–3 of 3 users" in page


def test_removed_users_are_not_listed(app, signed_in, scim_user):
    with app.app_context():
        resources.delete_user(db.session, db.session.get(User, scim_user["id"]))
        db.session.commit()

    page = page_of(signed_in.get("/directory/users"))

    assert user_names(page) == ["admin"]
    assert signed_in.get(f"/directory/users/{scim_user['id']}").status_code == 404


def test_search_matches_user_name_display_name_and_email_in_any_case(app, signed_in):
    add_scim_users(app, 1, prefix="carol", displayName="Carol Danvers")
    with app.app_context():
        resources.create_user(
            db.session,
            {
                "userName": "dave@example.com",
                "displayName": "Dave Lister",
                "emails": [{"value": "Red.Dwarf@Ship.example", "type": "work"}],
            },
        )
        db.session.commit()

    def search(text: str) -> list[str]:
        return user_names(page_of(signed_in.get("/directory/users", query_string={"q": text})))

    assert search("CAROL000") == ["carol000@example.com"]
    assert search("lister") == ["dave@example.com"]
    assert search("red.DWARF") == ["dave@example.com"]
    assert search("example") == ["carol000@example.com", "dave@example.com"]
    assert search("nobody") == []
    assert "No user matches “nobody”." in page_of(signed_in.get("/directory/users?q=nobody"))


def test_search_takes_like_wildcards_literally(app, signed_in):
    with app.app_context():
        for name in ("100%_real@example.com", "100x-real@example.com", "a\\b@example.com"):
            resources.create_user(db.session, {"userName": name})
        db.session.commit()

    def search(text: str) -> list[str]:
        return user_names(page_of(signed_in.get("/directory/users", query_string={"q": text})))

    assert search("100%") == ["100%_real@example.com"]
    assert search("%_r") == ["100%_real@example.com"]
    assert search("_") == ["100%_real@example.com"]
    assert search("a\\b") == ["a\\b@example.com"]
    assert search("%") == ["100%_real@example.com"]


def test_users_are_paged_fifty_at_a_time_with_links_and_total(app, signed_in):
    add_scim_users(app, 60)

    first = page_of(signed_in.get("/directory/users"))
    second = page_of(signed_in.get("/directory/users?page=2"))

    assert len(user_names(first)) == 50
    assert user_names(first)[0] == "admin"
    assert "1–50 of 61 users" in first
    assert 'href="/directory/users?page=2"' in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert user_names(second) == [f"user{n:03d}@example.com" for n in range(49, 60)]
    assert "51–61 of 61 users" in second
    assert 'href="/directory/users" rel="prev"' in second
    assert set(user_names(first)).isdisjoint(user_names(second))


def test_search_and_paging_share_the_url(app, signed_in):
    add_scim_users(app, 55, prefix="sales")
    add_scim_users(app, 5, prefix="hr")

    first = page_of(signed_in.get("/directory/users?q=SALES"))
    second = page_of(signed_in.get("/directory/users?q=SALES&page=2"))

    assert "1–50 of 55 users" in first
    assert 'href="/directory/users?page=2&amp;q=SALES"' in first
    assert 'value="SALES"' in first
    assert user_names(second) == [f"sales{n:03d}@example.com" for n in range(50, 55)]


def test_page_beyond_the_last_shows_the_last_page(app, signed_in):
    add_scim_users(app, 3)

    for page_number in ("9", "-1", "junk"):
        page = page_of(signed_in.get(f"/directory/users?page={page_number}"))
        assert len(user_names(page)) == 4


# ---------------------------------------------------------------------------
# User page
# ---------------------------------------------------------------------------


def test_scim_user_page_shows_what_entra_sent(app, signed_in, scim_user):
    group_id = add_group(app, "Tour Guides", [scim_user["id"]])

    page = page_of(signed_in.get(f"/directory/users/{scim_user['id']}"))

    for shown in (
        "Barbara.Jensen@Contoso.com",
        "Barbara Jensen",
        "barbara.jensen@contoso.com",
        "Tour Guide",
        "givenName",
        "Barbara",
        "familyName",
        "Jensen",
        "Enterprise extension",
        ENTERPRISE,
        "department",
        "Tours",
        "employeeNumber",
        "701984",
        "b5e0a1c2-ext",
        scim_user["id"],
        "Entra (SCIM)",
        "Created",
        "Last modified",
    ):
        assert shown in page, shown
    assert f'href="/directory/groups/{group_id}">Tour Guides<' in page
    assert "<dt>password</dt>" not in page.lower()


def test_scim_members_of_the_admin_group_show_as_admins(app, signed_in):
    boss, staff = add_scim_users(app, 2)
    group_id = add_group(app, "Unleash Admins", [boss])
    with app.app_context():
        settings.put(db.session, accounts.ADMIN_GROUP, "unleash admins")
        db.session.commit()

    listing = page_of(signed_in.get("/directory/users"))
    boss_page = page_of(signed_in.get(f"/directory/users/{boss}"))
    staff_page = page_of(signed_in.get(f"/directory/users/{staff}"))
    group_page = page_of(signed_in.get(f"/directory/groups/{group_id}"))

    boss_row = listing[listing.index("user000@example.com</a>") :].split("</tr>")[0]
    staff_row = listing[listing.index("user001@example.com</a>") :].split("</tr>")[0]
    assert ">Admin</td>" in boss_row and ">Viewer</td>" in staff_row
    assert "member of the admin group “unleash admins”" in boss_page
    assert "Viewers unless they are in the admin group" in staff_page
    assert "This is the admin group" in group_page
    assert ">Admin</td>" in group_page


def test_user_page_never_shows_a_password(app, signed_in):
    with app.app_context():
        user = resources.create_user(
            db.session, {"userName": "old@example.com", "password": "Hunter2-secret"}
        )
        db.session.commit()
        user_id = user.id

    page = page_of(signed_in.get(f"/directory/users/{user_id}"))

    assert "Hunter2-secret" not in page
    assert "<dt>password</dt>" not in page


def test_scim_user_controls_are_disabled_and_say_why(app, signed_in, scim_user):
    page = page_of(signed_in.get(f"/directory/users/{scim_user['id']}"))

    assert SCIM_REASON in page
    for control in ("display_name", "role", "status"):
        assert disabled(page, control), control
    assert not disabled(page, "confirm"), "removal stays allowed"
    assert "Entra may add this user back" in page


def test_server_refuses_edits_of_a_scim_user_and_changes_nothing(app, signed_in, scim_user):
    before = get_user(app, scim_user["id"])

    response = signed_in.post(
        f"/directory/users/{scim_user['id']}/edit",
        data={"display_name": "Hacked", "role": "admin", "status": "disabled"},
    )

    page = page_of(response, 403)
    assert SCIM_REASON in page
    after = get_user(app, scim_user["id"])
    assert (after.display_name, after.role, after.active, after.version) == (
        before.display_name,
        before.role,
        before.active,
        before.version,
    )
    assert after.data == before.data
    assert audit_actions(app) == []
    assert "Hacked" not in page


def test_store_refuses_edits_of_a_scim_user(app, scim_user):
    with app.app_context():
        user = db.session.get(User, scim_user["id"])
        with pytest.raises(directory.ManagedByScim):
            directory.update_local_user(db.session, user, "X", "admin", True)


def test_admin_edits_a_local_users_display_name_role_and_status(app, signed_in):
    ops = add_local(app, "ops", role="viewer")

    response = signed_in.post(
        f"/directory/users/{ops}/edit",
        data={"display_name": "  Ops Team  ", "role": "admin", "status": "disabled"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/directory/users/{ops}"
    user = get_user(app, ops)
    assert (user.display_name, user.display_name_key) == ("Ops Team", "ops team")
    assert (user.role, user.active, user.version) == ("admin", False, 2)
    assert audit_actions(app) == [
        (
            "admin",
            "user.update",
            "local user 'ops': display name changed; role viewer -> admin; disabled",
        )
    ]
    page = page_of(signed_in.get(response.headers["Location"]))
    assert "Saved &#39;ops&#39;" in page
    assert user_names(page_of(signed_in.get("/directory/users?q=OPS+team"))) == ["ops"]


def test_admin_enables_a_disabled_local_user_who_then_signs_in(app, client, admin):
    ops = add_local(app, "ops", role="viewer")
    sign_in(client, "admin")
    client.post(f"/directory/users/{ops}/edit", data={"role": "viewer", "status": "disabled"})
    other = app.test_client()
    assert other.post("/login", data={"username": "ops", "password": PASSWORD}).status_code == 200

    client.post(f"/directory/users/{ops}/edit", data={"role": "viewer", "status": "active"})

    assert get_user(app, ops).active
    sign_in(other, "ops")


def test_disabling_a_user_ends_their_session(app, client, admin):
    add_local(app, "ops", role="viewer")
    ops_client = sign_in(app.test_client(), "ops")
    ops = ops_client.get("/directory/users")
    assert ops.status_code == 200
    sign_in(client, "admin")
    with app.app_context():
        ops_id = accounts.find_by_name(db.session, "ops").id

    client.post(f"/directory/users/{ops_id}/edit", data={"role": "viewer", "status": "disabled"})

    assert ops_client.get("/directory/users").status_code == 302


def test_saving_unchanged_values_records_nothing(app, signed_in):
    ops = add_local(app, "ops", role="viewer")

    response = signed_in.post(
        f"/directory/users/{ops}/edit",
        data={"display_name": "", "role": "viewer", "status": "active"},
    )

    assert response.status_code == 302
    assert get_user(app, ops).version == 1
    assert audit_actions(app) == []


def test_an_unknown_role_is_a_form_error(app, signed_in):
    ops = add_local(app, "ops", role="viewer")

    page = page_of(
        signed_in.post(f"/directory/users/{ops}/edit", data={"role": "root", "status": "active"})
    )

    assert "Not a valid choice" in page
    assert get_user(app, ops).role == "viewer"


# ---------------------------------------------------------------------------
# The last break-glass admin
# ---------------------------------------------------------------------------


def test_last_admins_role_status_and_removal_are_disabled_with_the_reason(signed_in, admin):
    page = page_of(signed_in.get(f"/directory/users/{admin}"))

    assert accounts.LAST_ADMIN in page
    assert disabled(page, "role") and disabled(page, "status") and disabled(page, "confirm")
    assert not disabled(page, "display_name")


@pytest.mark.parametrize(
    "data",
    [
        {"role": "viewer", "status": "active"},
        {"role": "admin", "status": "disabled"},
        {"role": "viewer", "status": "disabled"},
    ],
    ids=["demote", "disable", "both"],
)
def test_last_admin_cannot_be_demoted_or_disabled(app, signed_in, admin, data):
    response = signed_in.post(
        f"/directory/users/{admin}/edit", data={"display_name": "Boss", **data}
    )

    page = page_of(response)
    assert "Nothing was changed" in page
    assert 'class="field-errors"' in page and accounts.LAST_ADMIN in page
    user = get_user(app, admin)
    assert (user.role, user.active, user.display_name, user.version) == ("admin", True, None, 1)
    assert audit_actions(app) == []


def test_last_admin_cannot_remove_themselves(app, signed_in, admin):
    page = page_of(signed_in.post(f"/directory/users/{admin}/remove", data={"confirm": "y"}))

    assert "Nothing was removed" in page and accounts.LAST_ADMIN in page
    assert get_user(app, admin).deleted_at is None
    assert page_of(signed_in.get("/directory/users"))


def test_admins_without_a_password_do_not_count_as_break_glass(app, signed_in, admin):
    # An SSO-only local admin (no password) cannot sign in when SSO is down,
    # so the password admin stays the last break-glass account.
    sso = add_local(app, "sso-admin", password=None)

    response = signed_in.post(f"/directory/users/{admin}/remove", data={"confirm": "y"})

    assert accounts.LAST_ADMIN in page_of(response)
    assert get_user(app, admin).deleted_at is None
    # ... while the password-less admin can go.
    response = signed_in.post(f"/directory/users/{sso}/remove", data={"confirm": "y"})
    assert response.status_code == 302
    assert get_user(app, sso).deleted_at is not None


def test_the_last_admins_display_name_stays_editable(app, signed_in, admin):
    # The locked selects are not sent by the browser; the server keeps their values.
    response = signed_in.post(f"/directory/users/{admin}/edit", data={"display_name": "Boss"})

    assert response.status_code == 302
    user = get_user(app, admin)
    assert (user.display_name, user.role, user.active) == ("Boss", "admin", True)


def test_with_two_admins_one_can_go_and_then_the_other_is_locked(app, signed_in, admin):
    second = add_local(app, "second")

    page = page_of(signed_in.get(f"/directory/users/{second}"))
    assert not disabled(page, "role")
    response = signed_in.post(
        f"/directory/users/{second}/edit", data={"role": "viewer", "status": "active"}
    )
    assert response.status_code == 302
    assert get_user(app, second).role == "viewer"

    refused = signed_in.post(
        f"/directory/users/{admin}/edit", data={"role": "viewer", "status": "active"}
    )
    assert accounts.LAST_ADMIN in page_of(refused)
    assert get_user(app, admin).role == "admin"


def test_an_admin_may_remove_themselves_when_another_admin_remains(app, client, admin):
    add_local(app, "second")
    sign_in(client, "admin")

    response = client.post(f"/directory/users/{admin}/remove", data={"confirm": "y"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert get_user(app, admin).deleted_at is not None
    assert client.get("/directory/users").status_code == 302, "signed out"


def test_an_admin_may_disable_themselves_when_another_admin_remains(app, client, admin):
    add_local(app, "second")
    sign_in(client, "admin")

    response = client.post(
        f"/directory/users/{admin}/edit", data={"role": "admin", "status": "disabled"}
    )

    assert response.headers["Location"] == "/login"
    assert not get_user(app, admin).active
    assert client.get("/directory/users").status_code == 302, "signed out"


def test_can_lose_admin_counts_only_other_break_glass_admins(app, admin):
    viewer = add_local(app, "viewer", role="viewer")
    add_local(app, "sso", password=None)
    disabled_admin = add_local(app, "gone")
    with app.app_context():
        db.session.get(User, disabled_admin).active = False
        db.session.commit()

        assert not accounts.can_lose_admin(db.session, db.session.get(User, admin))
        assert not accounts.can_lose_admin(db.session, db.session.get(User, admin), lock=True)
        assert accounts.can_lose_admin(db.session, db.session.get(User, viewer))
        assert accounts.can_lose_admin(db.session, db.session.get(User, disabled_admin))
        db.session.rollback()

    add_local(app, "second")
    with app.app_context():
        assert accounts.can_lose_admin(db.session, db.session.get(User, admin), lock=True)


def test_two_admins_disabling_each_other_at_once_leave_one(app):
    first_id = add_local(app, "first")
    second_id = add_local(app, "second")
    with app.app_context():
        engine = db.engine
    first, second = Session(engine), Session(engine)

    def begin_write(session: Session) -> None:
        # As the views do: on SQLite the write lock comes first.
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})

    begin_write(first)
    first_user = first.get(User, first_id)
    assert accounts.can_lose_admin(first, first_user, lock=True)
    first_user.active = False
    first.flush()
    answers = []

    def disable_second():
        begin_write(second)  # SQLite waits here
        answers.append(accounts.can_lose_admin(second, second.get(User, second_id), lock=True))
        second.rollback()

    thread = threading.Thread(target=disable_second)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second change waits for the first"
    first.commit()
    thread.join(30)

    assert answers == [False]
    first.close()
    second.close()


# ---------------------------------------------------------------------------
# Removing users
# ---------------------------------------------------------------------------


def test_removing_a_scim_user_hides_it_here_and_from_scim(app, signed_in, scim, scim_user):
    page = page_of(signed_in.get(f"/directory/users/{scim_user['id']}"))
    assert "Entra may add this user back" in page

    response = signed_in.post(f"/directory/users/{scim_user['id']}/remove", data={"confirm": "y"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/directory/users"
    listing = page_of(signed_in.get("/directory/users"))
    assert "Barbara.Jensen@Contoso.com" not in user_names(listing)
    assert "Entra may add this user back" in listing
    assert scim.get(f"/scim/v2/Users/{scim_user['id']}").status_code == 404
    assert audit_actions(app) == [
        (
            "admin",
            "user.remove",
            "SCIM-managed user 'Barbara.Jensen@Contoso.com' removed in the directory",
        )
    ]
    # Entra's next cycle can create the user again: the userName is free.
    again = scim.post(
        "/scim/v2/Users", json={"schemas": [USER], "userName": "barbara.jensen@contoso.com"}
    )
    assert again.status_code == 201


def test_removing_a_scim_user_drops_it_from_its_groups(app, signed_in, scim_user):
    group_id = add_group(app, "Tour Guides", [scim_user["id"]])

    signed_in.post(f"/directory/users/{scim_user['id']}/remove", data={"confirm": "y"})

    page = page_of(signed_in.get(f"/directory/groups/{group_id}"))
    assert "This group has no members." in page


def test_removal_needs_the_confirmation_box(app, signed_in, scim_user):
    page = page_of(signed_in.post(f"/directory/users/{scim_user['id']}/remove", data={}))

    assert "Tick the box to confirm the removal." in page
    assert get_user(app, scim_user["id"]).deleted_at is None


def test_removing_a_local_user_keeps_the_row_for_the_audit_trail(app, signed_in):
    ops = add_local(app, "ops", role="viewer")

    response = signed_in.post(f"/directory/users/{ops}/remove", data={"confirm": "y"})

    assert response.status_code == 302
    user = get_user(app, ops)
    assert user.deleted_at is not None and not user.active
    assert "ops" not in user_names(page_of(signed_in.get("/directory/users")))
    assert signed_in.get(f"/directory/users/{ops}").status_code == 404
    assert audit_actions(app)[-1][1:] == (
        "user.remove",
        "local user 'ops' removed in the directory",
    )
    ops_client = app.test_client()
    assert (
        ops_client.post("/login", data={"username": "ops", "password": PASSWORD}).status_code == 200
    )


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


def test_groups_list_shows_member_counts(app, signed_in):
    users = add_scim_users(app, 7)
    add_group(app, "Engineering", users[:5])
    add_group(app, "Empty", [])
    add_group(app, "Admins", users[5:])
    with app.app_context():
        resources.delete_user(db.session, db.session.get(User, users[0]))
        db.session.commit()

    page = page_of(signed_in.get("/directory/groups"))

    assert group_names(page) == ["Admins", "Empty", "Engineering"]
    counts = re.findall(r'<td class="numeric">(\d+)</td>', page)
    assert counts == ["2", "0", "4"]
    assert "ext-Engineering" in page
    assert "1–3 of 3 groups" in page


def count_selects(app, client, path: str) -> int:
    with sql_statements(app) as statements:
        page_of(client.get(path))
    return sum(1 for statement in statements if statement.lstrip().upper().startswith("SELECT"))


def test_member_counts_take_one_query_however_many_groups(app, signed_in):
    users = add_scim_users(app, 4)
    add_group(app, "G0", users)
    few = count_selects(app, signed_in, "/directory/groups")
    for number in range(1, 12):
        add_group(app, f"G{number}", users[: number % 4])

    many = count_selects(app, signed_in, "/directory/groups")

    assert many == few


def test_user_list_takes_a_fixed_number_of_queries(app, signed_in):
    add_scim_users(app, 2)
    few = count_selects(app, signed_in, "/directory/users")
    add_scim_users(app, 30, prefix="more")

    assert count_selects(app, signed_in, "/directory/users") == few


def test_groups_are_searched_and_paged(app, signed_in):
    with app.app_context():
        for number in range(55):
            resources.create_group(db.session, {"displayName": f"Team {number:02d}"}, [])
        resources.create_group(db.session, {"displayName": "Other_50%"}, [])
        db.session.commit()

    first = page_of(signed_in.get("/directory/groups?q=team"))
    second = page_of(signed_in.get("/directory/groups?q=TEAM&page=2"))

    assert len(group_names(first)) == 50 and "1–50 of 55 groups" in first
    assert group_names(second) == [f"Team {n}" for n in range(50, 55)]
    assert group_names(page_of(signed_in.get("/directory/groups?q=_50%25"))) == ["Other_50%"]


def test_group_page_shows_members_ids_and_why_it_is_read_only(app, signed_in):
    users = add_scim_users(app, 60)
    group_id = add_group(app, "Everyone", users)

    first = page_of(signed_in.get(f"/directory/groups/{group_id}"))
    second = page_of(signed_in.get(f"/directory/groups/{group_id}?page=2"))

    assert "Managed by Entra through SCIM: change this group in Entra" in first
    assert group_id in first and "ext-Everyone" in first
    assert len(user_names(first)) == 50 and "1–50 of 60 members" in first
    assert f'href="/directory/groups/{group_id}?page=2"' in first
    assert user_names(second) == [f"user{n:03d}@example.com" for n in range(50, 60)]
    assert "Entra may add this group back" in first


def test_removing_a_scim_group_hides_it_and_keeps_its_members(app, signed_in, scim, scim_user):
    group_id = add_group(app, "Tour Guides", [scim_user["id"]])

    response = signed_in.post(f"/directory/groups/{group_id}/remove", data={"confirm": "y"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/directory/groups"
    assert "Tour Guides" not in group_names(page_of(signed_in.get("/directory/groups")))
    assert signed_in.get(f"/directory/groups/{group_id}").status_code == 404
    assert scim.get(f"/scim/v2/Groups/{group_id}").status_code == 404
    assert scim.get(f"/scim/v2/Users/{scim_user['id']}").status_code == 200
    assert audit_actions(app)[-1] == (
        "admin",
        "group.remove",
        "SCIM-managed group 'Tour Guides' removed in the directory",
    )


def test_group_removal_needs_the_confirmation_box(app, signed_in):
    group_id = add_group(app, "Keep", [])

    page = page_of(signed_in.post(f"/directory/groups/{group_id}/remove", data={}))

    assert "Tick the box to confirm the removal." in page
    with app.app_context():
        assert resources.get_group(db.session, group_id) is not None


# ---------------------------------------------------------------------------
# Names are data
# ---------------------------------------------------------------------------


def test_markup_sent_through_scim_is_shown_as_text(app, signed_in, scim):
    created = scim.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "mallory@example.com",
            "displayName": MARKUP,
            "title": MARKUP,
            ENTERPRISE: {"department": MARKUP},
        },
    )
    assert created.status_code == 201
    user_id = created.get_json(force=True)["id"]
    group = scim.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": MARKUP, "members": [{"value": user_id}]},
    )
    assert group.status_code == 201
    group_id = group.get_json(force=True)["id"]

    pages = {
        "users": page_of(signed_in.get("/directory/users")),
        "search": page_of(signed_in.get("/directory/users", query_string={"q": MARKUP})),
        "user": page_of(signed_in.get(f"/directory/users/{user_id}")),
        "groups": page_of(signed_in.get("/directory/groups")),
        "group": page_of(signed_in.get(f"/directory/groups/{group_id}")),
    }

    for name, page in pages.items():
        assert "<script>alert(1)" not in page, name
        assert "<b>x</b>" not in page, name
        assert ESCAPED in page, name
    assert pages["user"].count(ESCAPED) >= 4  # title, summary, attributes, group link


def test_like_pattern_escapes_wildcards():
    assert directory.like_pattern("A%b_c\\") == "%a\\%b\\_c\\\\%"


def test_group_model_is_listed_only_while_live(app):
    group_id = add_group(app, "Soon gone", [])
    with app.app_context():
        resources.delete_group(db.session, db.session.get(Group, group_id))
        db.session.commit()
        assert directory.list_groups(db.session).total == 0
