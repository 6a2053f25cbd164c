"""SQL statements per SCIM request: a fixed number, whatever the size of the data.

Entra provisions 100k-user tenants and grows groups one member at a time, so a
request whose statements grow with the number of users, the size of the group
or the number of members in one PATCH (an N+1) gets slower as the tenant grows.
These tests count the statements each request sends (tests/apps.py's
sql_statements, an SQLAlchemy ``before_cursor_execute`` listener) on small and
large data and want the same number; they time nothing.
"""

import uuid
from collections.abc import Callable
from datetime import UTC
from datetime import datetime

import pytest
from apps import sql_statements
from scim_checks import PATCH_OP
from scim_checks import own_app
from scim_checks import user_body
from sqlalchemy import insert

from unleash_wizard.extensions import db
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail
from unleash_wizard.store.resources import new_user_rows

MANY = 2000  # users, or members of one group, on the large side


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An app with SCIM on and its own database; pruning the log never falls into a count."""
    with own_app(
        tmp_path_factory.mktemp("statements"),
        SCIM_LOG_PRUNE_EVERY_REQUESTS=10**9,
        SCIM_LOG_PRUNE_INTERVAL_SECONDS=10**9,
    ) as (app, client):
        client.get("/scim/v2/Users?count=0")  # the first request of a process prunes once
        yield app, client


def seed_users(app, prefix: str, count: int) -> list[str]:
    """Insert count SCIM users straight into the database; return their ids."""
    now = datetime.now(UTC)
    users, emails = [], []
    for i in range(count):
        name = f"{prefix}{i}@example.com"
        data = {"userName": name, "displayName": name, "emails": [{"value": name, "primary": True}]}
        row, email_rows = new_user_rows(str(uuid.uuid4()), data, now)
        users.append(row)
        emails.extend(email_rows)
    with app.app_context():
        db.session.execute(insert(User), users)
        db.session.execute(insert(UserEmail), emails)
        db.session.commit()
    return [row["id"] for row in users]


def seed_group(app, name: str, members: list[str]) -> str:
    """Insert a group with these members straight into the database; return its id."""
    now = datetime.now(UTC)
    gid = str(uuid.uuid4())
    with app.app_context():
        db.session.execute(
            insert(Group),
            [
                {
                    "id": gid,
                    "display_name": name,
                    "display_name_key": name.lower(),
                    "scim_managed": True,
                    "data": {"displayName": name},
                    "created_at": now,
                    "modified_at": now,
                    "version": 1,
                }
            ],
        )
        if members:
            db.session.execute(
                insert(Membership), [{"group_id": gid, "user_id": u} for u in members]
            )
        db.session.commit()
    return gid


def statements(app, client, send: Callable[[], object], status: int) -> list[str]:
    """Return the SQL statements one request sends, after checking its status.

    A request to /ServiceProviderConfig goes first, so the once-a-minute
    last-used write of the token falls there and never into the count.
    """
    client.get("/scim/v2/ServiceProviderConfig")
    with sql_statements(app) as seen:
        response = send()
    assert response.status_code == status, response.get_data(as_text=True)
    return seen


def patch(*operations) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def add(*user_ids: str) -> dict:
    """Return Entra's member-add PATCH."""
    return patch({"op": "Add", "path": "members", "value": [{"value": u} for u in user_ids]})


def test_user_lookup_does_not_grow_with_the_number_of_users(setup):
    app, client = setup
    seed_users(app, "lookup-few", 3)

    def look_up(name: str):
        return lambda: client.get(f'/scim/v2/Users?filter=userName eq "{name}"')

    found_few = statements(app, client, look_up("lookup-few1@example.com"), 200)
    missing_few = statements(app, client, look_up(f"{uuid.uuid4()}@example.com"), 200)
    seed_users(app, "lookup-many", MANY)
    found_many = statements(app, client, look_up("lookup-many1500@example.com"), 200)
    missing_many = statements(app, client, look_up(f"{uuid.uuid4()}@example.com"), 200)

    assert len(found_many) == len(found_few)
    assert len(missing_many) == len(missing_few)


def test_user_create_and_patch_do_not_grow_with_the_number_of_users(setup):
    app, client = setup
    created_few = statements(
        app, client, lambda: client.post("/scim/v2/Users", json=user_body("new-a@example.com")), 201
    )
    seed_users(app, "create-many", MANY)
    created_many = statements(
        app, client, lambda: client.post("/scim/v2/Users", json=user_body("new-b@example.com")), 201
    )
    assert len(created_many) == len(created_few)

    [uid] = seed_users(app, "patched", 1)
    disable = patch({"op": "Replace", "path": "active", "value": "False"})
    patched = statements(
        app, client, lambda: client.patch(f"/scim/v2/Users/{uid}", json=disable), 200
    )
    seed_users(app, "patch-many", MANY)
    rename = patch({"op": "Replace", "path": "displayName", "value": "Renamed"})
    patched_many = statements(
        app, client, lambda: client.patch(f"/scim/v2/Users/{uid}", json=rename), 200
    )
    assert len(patched_many) == len(patched)


def test_listing_users_does_not_grow_with_the_page(setup):
    app, client = setup
    ids = seed_users(app, "listed", 120)
    seed_group(app, "Listed group", ids)  # each listed user carries a group

    few = statements(app, client, lambda: client.get("/scim/v2/Users?count=2"), 200)
    many = statements(app, client, lambda: client.get("/scim/v2/Users?count=100"), 200)
    assert len(many) == len(few)


def test_one_member_patch_does_not_grow_with_the_group(setup):
    app, client = setup
    users = seed_users(app, "member", MANY + 2)
    small = seed_group(app, "Small group", [])
    large = seed_group(app, "Large group", users[:MANY])

    into_small = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{small}", json=add(users[-1])), 204
    )
    into_large = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{large}", json=add(users[-2])), 204
    )
    assert len(into_large) == len(into_small)

    remove = patch({"op": "remove", "path": f'members[value eq "{users[0]}"]'})
    out_of_large = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{large}", json=remove), 204
    )
    remove = patch({"op": "remove", "path": f'members[value eq "{users[-1]}"]'})
    out_of_small = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{small}", json=remove), 204
    )
    assert len(out_of_large) == len(out_of_small)


def test_member_patch_does_not_grow_with_the_members_it_carries(setup):
    app, client = setup
    users = seed_users(app, "batch", 1001)
    one, thousand = seed_group(app, "One", []), seed_group(app, "Thousand", [])

    single = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{one}", json=add(users[0])), 204
    )
    batch = statements(
        app, client, lambda: client.patch(f"/scim/v2/Groups/{thousand}", json=add(*users[1:])), 204
    )
    assert len(batch) == len(single)


def test_reading_a_group_does_not_grow_with_its_members(setup):
    app, client = setup
    users = seed_users(app, "reader", MANY)
    small = seed_group(app, "Read small", users[:1])
    large = seed_group(app, "Read large", users)

    few = statements(app, client, lambda: client.get(f"/scim/v2/Groups/{small}"), 200)
    many = statements(app, client, lambda: client.get(f"/scim/v2/Groups/{large}"), 200)
    assert len(many) == len(few)
