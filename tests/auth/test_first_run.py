"""The first-run gate and page: until a local admin exists, it is the only page."""

import pytest
from apps import PASSWORD
from apps import add_local
from apps import sign_in
from auth_helpers import add_scim_user
from auth_helpers import local_users
from auth_helpers import update_user
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import utcnow

FIRST_RUN = "/setup/first-run"


def first_run(client, user_name="admin", password=PASSWORD, confirm=None, **kwargs):
    confirm = password if confirm is None else confirm
    return client.post(
        FIRST_RUN,
        data={"username": user_name, "password": password, "confirm": confirm},
        **kwargs,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/nope")],
)
def test_every_page_leads_to_first_run_while_no_admin_exists(client, method, path):
    response = client.open(path, method=method)

    assert response.status_code == 302
    assert response.headers["Location"] == FIRST_RUN


def test_first_run_page_shows_the_form(client):
    response = client.get(FIRST_RUN)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Create the first admin" in page
    assert 'name="confirm"' in page
    assert response.headers["Cache-Control"] == "no-store"


def test_scim_healthz_and_static_files_are_not_gated(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    # Without a token SCIM answers its own 401, not a redirect to the first-run page.
    for path in ("/scim/v2/Users", "/scim/v2", "/scim/v2/NoSuchThing"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["Content-Type"].startswith("application/scim+json")


def test_scim_works_before_any_admin_exists(client, scim_token):
    response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {scim_token}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "not_an_admin",
    ["scim-admin", "viewer", "disabled", "deleted", "no-password"],
)
def test_only_a_live_local_admin_with_a_password_closes_first_run(app, client, not_an_admin):
    if not_an_admin == "scim-admin":
        user_id = add_scim_user(app, "entra-admin@contoso.example")
        update_user(app, user_id, role="admin")
    elif not_an_admin == "viewer":
        add_local(app, "viewer", role="viewer")
    else:
        user_id = add_local(app, "admin")
        change = {
            "disabled": {"active": False},
            "deleted": {"deleted_at": utcnow()},
            "no-password": {"password_hash": None},
        }[not_an_admin]
        update_user(app, user_id, **change)

    assert client.get("/").headers["Location"] == FIRST_RUN
    assert client.get(FIRST_RUN).status_code == 200


def test_first_run_creates_a_local_admin_and_signs_it_in(app, client):
    response = first_run(client, "root")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert local_users(app) == [("root", "admin")]
    with app.app_context():
        assert accounts.count_local_admins(db.session) == 1
        user = accounts.find_by_name(db.session, "root")
        assert not user.scim_managed and user.active
        assert user.password_hash and PASSWORD not in user.password_hash
        events = db.session.scalars(select(AuditEvent)).all()
        assert [(e.action, PASSWORD in (e.detail or "")) for e in events] == [
            ("account.create", False)
        ]
    home = client.get("/")
    assert home.status_code == 200
    assert "Signed in as <strong>root</strong>" in home.get_data(as_text=True)


def test_first_run_admin_can_sign_in_again_after_signing_out(client):
    first_run(client, "root")
    client.post("/logout")

    response = sign_in(client, "root")

    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_first_run_cannot_be_used_once_an_admin_exists(app, client):
    first_run(client, "root")
    client.post("/logout")

    assert client.get(FIRST_RUN).headers["Location"] == "/login"
    response = first_run(client, "intruder")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert local_users(app) == [("root", "admin")]


def test_first_run_is_closed_by_an_admin_created_elsewhere(app, client):
    add_local(app, "from-cli")

    assert client.get(FIRST_RUN).headers["Location"] == "/login"
    assert client.get("/login").status_code == 200


@pytest.mark.parametrize(
    ("user_name", "password", "confirm", "field", "message"),
    [
        ("root", "Short1!", None, "password", "at least 12 characters"),
        ("root", "alllowercaseletters", None, "password", "Mix at least two kinds"),
        ("root", "123456789012345", None, "password", "Mix at least two kinds"),
        ("Administrator1", "administrator1", None, "password", "must not be the username"),
        ("root", PASSWORD, PASSWORD + "x", "confirm", "The two passwords differ"),
        ("root", "", "", "password", "Enter a password"),
        ("", PASSWORD, None, "username", "Enter a username"),
        ("two words", PASSWORD, None, "username", "cannot contain spaces"),
        ("x" * 256, PASSWORD, None, "username", "at most 255"),
    ],
)
def test_first_run_refuses_bad_input_with_errors_next_to_the_field(
    app, client, user_name, password, confirm, field, message
):
    response = first_run(client, user_name, password, confirm)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'id="{field}-errors"' in page
    errors = page.split(f'id="{field}-errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    assert 'aria-invalid="true"' in page
    assert PASSWORD not in page, "passwords are never sent back"
    assert local_users(app) == []


def test_first_run_refuses_a_username_provisioned_by_scim(app, client):
    add_scim_user(app, "alice@contoso.example")

    response = first_run(client, "Alice@Contoso.example")

    assert response.status_code == 200
    assert "provisioned by SCIM" in response.get_data(as_text=True)
    assert local_users(app) == []


def test_create_local_user_turns_a_lost_race_into_an_account_error(app, monkeypatch):
    add_scim_user(app, "alice@contoso.example")
    # As if SCIM inserted the same userName between the check and the insert.
    monkeypatch.setattr(accounts, "find_by_name", lambda session, name: None)

    with app.app_context():
        with pytest.raises(accounts.AccountError, match="already taken"):
            accounts.create_local_user(db.session, "alice@contoso.example", PASSWORD)
        db.session.commit()
        assert accounts.count_local_admins(db.session) == 0


def test_gate_leaves_scim_alone_with_rate_limits_on(app_with):
    client = app_with(RATELIMIT_ENABLED=True).test_client()

    assert client.get("/scim/v2/Users").status_code == 401
    assert client.get("/").headers["Location"] == FIRST_RUN
