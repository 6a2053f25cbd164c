"""The admin group: SCIM users are Viewers, members of the named group are Admins."""

import pytest
from apps import add_local
from wizard_helpers import create_group
from wizard_helpers import create_user
from wizard_helpers import patch
from wizard_helpers import put_setting
from wizard_helpers import text

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import User


def role(app, user_id: str) -> str:
    with app.app_context():
        return accounts.role_of(db.session, db.session.get(User, user_id))


def as_user(client, user_id: str):
    """Act as user_id, as a future single sign-on would: SCIM users have no password."""
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    return client


@pytest.fixture
def alice(app, scim, admin) -> str:
    """Return a SCIM user in the group 'Unleash Admins', with the group not yet named."""
    alice = create_user(scim, "alice@contoso.example")
    create_group(scim, "Unleash Admins", [alice])
    return alice


def test_local_users_keep_their_own_role(app, admin):
    watcher = add_local(app, "watcher", role="viewer")
    put_setting(app, "admin_group", "Unleash Admins")

    assert role(app, admin) == "admin"
    assert role(app, watcher) == "viewer"


def test_scim_users_are_viewers_without_an_admin_group(app, alice):
    assert role(app, alice) == "viewer"


def test_members_of_the_admin_group_are_admins(app, scim, alice):
    bob = create_user(scim, "bob@contoso.example")

    put_setting(app, "admin_group", "unleash ADMINS")  # matched like SCIM matches displayName

    assert role(app, alice) == "admin"
    assert role(app, bob) == "viewer"
    with app.app_context():
        assert accounts.is_admin(db.session, db.session.get(User, alice))


def test_leaving_the_group_or_its_removal_ends_admin_rights(app, scim, alice):
    put_setting(app, "admin_group", "Unleash Admins")
    group_id = create_group(scim, "Other", [alice])
    assert role(app, alice) == "admin"

    groups = scim.get('/scim/v2/Groups?filter=displayName eq "Unleash Admins"').get_json()
    admins_id = groups["Resources"][0]["id"]
    patch(
        scim,
        f"/scim/v2/Groups/{admins_id}",
        {"op": "remove", "path": f'members[value eq "{alice}"]'},
    )
    assert role(app, alice) == "viewer"

    put_setting(app, "admin_group", "Other")
    assert role(app, alice) == "admin"
    scim.delete(f"/scim/v2/Groups/{group_id}")
    assert role(app, alice) == "viewer"


def test_the_admin_group_setting_lets_a_member_into_admin_pages(app, client, alice):
    as_user(client, alice)
    assert client.get("/setup/").status_code == 403

    put_setting(app, "admin_group", "Unleash Admins")

    response = client.get("/setup/")
    assert response.status_code == 200
    assert "Set up Entra provisioning" in text(response)


def test_saving_the_admin_group_in_step_0_makes_members_admins(app, client, alice):
    client.post("/login", data={"username": "admin", "password": "Correct horse battery 9"})

    client.post("/setup/lockout/admin-group", data={"group": "Unleash Admins"})

    assert role(app, alice) == "admin"
