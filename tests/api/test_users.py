"""/scim/v2/Users over HTTP: CRUD, lists, filters, projection, ETags."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from apps import ScimClient
from apps import sql_statements
from flask import Flask
from scim_checks import ENTERPRISE
from scim_checks import LIST
from scim_checks import SCIM_JSON
from scim_checks import SEARCH
from scim_checks import USER
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_user
from scim_checks import empty_database
from scim_checks import ids
from scim_checks import own_app
from scim_checks import patch_body
from scim_checks import user_body
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store import resources as store
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail

PUBLIC = "https://wizard.example.com/scim/v2"


@pytest.fixture(scope="module")
def module_app(tmp_path_factory, database_url):
    with own_app(tmp_path_factory.mktemp("users"), url=database_url) as (app, _):
        yield app


@pytest.fixture
def app(module_app):
    """This module's app, emptied: the conftest ``client`` and ``scim`` build on it."""
    empty_database(module_app)
    return module_app


def listing(scim, query: str = "", **params) -> dict:
    response = scim.get(f"/scim/v2/Users{query}", query_string=params or None)
    body = assert_scim_json(response)
    assert body["schemas"] == [LIST]
    return body


def found(scim, filter_text: str) -> set[str]:
    return ids(listing(scim, filter=filter_text))


# ---------------------------------------------------------------------------
# POST
# ---------------------------------------------------------------------------


def test_post_creates_user_with_location_and_etag(scim):
    response = scim.post(
        "/scim/v2/Users",
        json=user_body(
            "bjensen@example.com",
            externalId="ext-1",
            name={"givenName": "Barbara", "familyName": "Jensen"},
            emails=[{"value": "bjensen@example.com", "type": "work", "primary": True}],
        ),
    )

    body = assert_scim_json(response, 201)
    user_id = body["id"]
    assert response.headers["Location"] == f"{PUBLIC}/Users/{user_id}"
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["schemas"] == [USER]
    assert body["userName"] == "bjensen@example.com"
    assert body["externalId"] == "ext-1"
    assert body["active"] is True
    assert body["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == response.headers["Location"]
    assert meta["created"] == meta["lastModified"]
    assert meta["created"].endswith("Z")


def test_post_ignores_client_chosen_id_and_meta(scim):
    body = create_user(scim, "a@example.com", id="mine", meta={"version": 'W/"99"'})

    assert body["id"] != "mine"
    assert body["meta"]["version"] == 'W/"1"'


def test_post_without_active_creates_an_active_user(scim):
    response = scim.post("/scim/v2/Users", json={"schemas": [USER], "userName": "a@example.com"})

    assert assert_scim_json(response, 201)["active"] is True


def test_post_keeps_enterprise_extension(scim):
    body = create_user(
        scim,
        "a@example.com",
        schemas=[USER, ENTERPRISE],
        **{ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "m-1"}}},
    )

    assert set(body["schemas"]) == {USER, ENTERPRISE}
    assert body[ENTERPRISE] == {"employeeNumber": "701984", "manager": {"value": "m-1"}}
    again = assert_scim_json(scim.get(f"/scim/v2/Users/{body['id']}"))
    assert again[ENTERPRISE] == body[ENTERPRISE]


def test_post_accepts_plain_application_json(scim):
    response = scim.post(
        "/scim/v2/Users",
        json=user_body("a@example.com"),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 201


def test_post_duplicate_username_is_409_uniqueness_case_insensitively(scim):
    create_user(scim, "bjensen@example.com")

    response = scim.post("/scim/v2/Users", json=user_body("BJensen@Example.COM"))

    assert_scim_error(response, 409, "uniqueness")


def test_post_that_loses_a_race_for_its_username_is_409_and_keeps_nothing(app, scim, monkeypatch):
    """Two creates of one userName pass the check at once; the unique index decides.

    The check is switched off to stand for the other create committing between
    this one's check and its INSERT.
    """
    emails = [{"value": "racer@example.com", "type": "work", "primary": True}]
    first = create_user(scim, "racer@example.com", emails=emails)["id"]
    monkeypatch.setattr(store, "_check_user_name", lambda *_args: None)

    response = scim.post("/scim/v2/Users", json=user_body("Racer@Example.com", emails=emails))

    assert_scim_error(response, 409, "uniqueness")
    with app.app_context():
        assert db.session.scalars(select(User.id)).all() == [first]
        assert db.session.scalars(select(UserEmail.user_id)).all() == [first]
    # The connection the failed create used serves the next one.
    assert scim.post("/scim/v2/Users", json=user_body("other@example.com")).status_code == 201


def test_post_matching_a_local_account_is_409_and_leaves_it_unchanged(app, scim):
    with app.app_context():
        local = User(
            id=str(uuid.uuid4()),
            user_name="admin@example.com",
            user_name_key="admin@example.com",
            display_name="Local Admin",
            scim_managed=False,
            role="admin",
            password_hash="hash",
            data={},
        )
        db.session.add(local)
        db.session.commit()
        local_id = local.id

    response = scim.post(
        "/scim/v2/Users", json=user_body("Admin@example.com", displayName="Taken Over")
    )

    assert_scim_error(response, 409, "uniqueness")
    with app.app_context():
        row = db.session.get(User, local_id)
        assert row.scim_managed is False
        assert row.role == "admin"
        assert row.display_name == "Local Admin"
        assert row.password_hash == "hash"
        assert row.data == {}
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 1
    assert_scim_error(scim.get(f"/scim/v2/Users/{local_id}"), 404)
    assert_scim_error(scim.delete(f"/scim/v2/Users/{local_id}"), 404)
    patch = scim.patch(
        f"/scim/v2/Users/{local_id}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
    )
    assert_scim_error(patch, 404)
    assert listing(scim)["totalResults"] == 0
    assert found(scim, 'userName eq "admin@example.com"') == set()
    with app.app_context():
        row = db.session.get(User, local_id)
        assert row.active is True and row.deleted_at is None


# ---------------------------------------------------------------------------
# GET by id
# ---------------------------------------------------------------------------


def test_get_returns_the_user_with_etag(scim):
    created = create_user(scim, "a@example.com", displayName="A")

    response = scim.get(f"/scim/v2/Users/{created['id']}")

    body = assert_scim_json(response)
    assert body == created
    assert response.headers["ETag"] == created["meta"]["version"]


def test_get_unknown_id_is_404(scim):
    assert_scim_error(scim.get(f"/scim/v2/Users/{uuid.uuid4()}"), 404)


def test_get_with_attributes_returns_only_those(scim):
    created = create_user(scim, "a@example.com", displayName="A", title="T")

    body = assert_scim_json(scim.get(f"/scim/v2/Users/{created['id']}?attributes=displayName"))

    assert body == {"schemas": [USER], "id": created["id"], "displayName": "A"}


def test_get_with_excluded_attributes_drops_those(scim):
    created = create_user(scim, "a@example.com", displayName="A", title="T")

    body = assert_scim_json(
        scim.get(f"/scim/v2/Users/{created['id']}?excludedAttributes=title,meta")
    )

    assert "title" not in body and "meta" not in body
    assert body["displayName"] == "A"
    assert body["id"] == created["id"]


# ---------------------------------------------------------------------------
# PUT
# ---------------------------------------------------------------------------


def test_put_replaces_the_whole_user(scim):
    created = create_user(scim, "a@example.com", displayName="A", title="T", externalId="e1")

    response = scim.put(
        f"/scim/v2/Users/{created['id']}",
        json=user_body("a@example.com", displayName="B", id="ignored"),
    )

    body = assert_scim_json(response)
    assert body["id"] == created["id"]
    assert body["displayName"] == "B"
    assert "title" not in body and "externalId" not in body
    assert body["meta"]["version"] != created["meta"]["version"]
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["meta"]["created"] == created["meta"]["created"]


def test_put_can_rename_and_frees_the_old_username(scim):
    created = create_user(scim, "old@example.com")

    renamed = scim.put(f"/scim/v2/Users/{created['id']}", json=user_body("new@example.com"))

    assert assert_scim_json(renamed)["userName"] == "new@example.com"
    assert found(scim, 'userName eq "new@example.com"') == {created["id"]}
    assert create_user(scim, "old@example.com")["id"] != created["id"]


def test_put_to_another_users_name_is_409(scim):
    create_user(scim, "a@example.com")
    other = create_user(scim, "b@example.com")

    response = scim.put(f"/scim/v2/Users/{other['id']}", json=user_body("A@example.com"))

    assert_scim_error(response, 409, "uniqueness")
    assert (
        assert_scim_json(scim.get(f"/scim/v2/Users/{other['id']}"))["userName"] == "b@example.com"
    )


def test_put_unknown_id_is_404(scim):
    assert_scim_error(scim.put(f"/scim/v2/Users/{uuid.uuid4()}", json=user_body("a@x.com")), 404)


# ---------------------------------------------------------------------------
# PATCH
# ---------------------------------------------------------------------------


def test_patch_active_false_disables_user(app, scim):
    created = create_user(scim, "a@example.com")

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
    )

    assert assert_scim_json(response)["active"] is False
    assert assert_scim_json(scim.get(f"/scim/v2/Users/{created['id']}"))["active"] is False
    assert found(scim, "active eq false") == {created["id"]}
    with app.app_context():
        assert db.session.get(User, created["id"]).active is False


def test_patch_legacy_entra_shape_disables_user(scim):
    created = create_user(scim, "a@example.com")

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "Replace", "path": "active", "value": "False"}),
    )

    assert assert_scim_json(response)["active"] is False


def test_patch_active_true_enables_user_again(scim):
    created = create_user(scim, "a@example.com", active=False)
    assert created["active"] is False

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "value": {"active": True}}),
    )

    assert assert_scim_json(response)["active"] is True


def test_patch_adds_work_email_that_filters_then_find(scim):
    created = create_user(scim, "a@example.com")

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body(
            {"op": "add", "path": 'emails[type eq "work"].value', "value": "a.work@example.com"}
        ),
    )

    assert assert_scim_json(response)["emails"] == [{"type": "work", "value": "a.work@example.com"}]
    assert found(scim, 'emails[type eq "work"].value eq "A.Work@example.com"') == {created["id"]}


def test_patch_pathless_dotted_and_urn_keys(scim):
    created = create_user(scim, "a@example.com", name={"givenName": "A", "familyName": "F"})

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body(
            {
                "op": "Replace",
                "value": {
                    "name.givenName": "Ann",
                    f"{ENTERPRISE}:department": "Tour",
                    "displayName": "Ann F",
                },
            }
        ),
    )

    body = assert_scim_json(response)
    assert body["name"] == {"givenName": "Ann", "familyName": "F"}
    assert body[ENTERPRISE] == {"department": "Tour"}
    assert ENTERPRISE in body["schemas"]
    assert found(scim, 'name.givenName eq "ann"') == {created["id"]}


def test_patch_changes_version_and_last_modified(scim):
    created = create_user(scim, "a@example.com")
    time.sleep(0.002)

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "path": "displayName", "value": "A"}),
    )

    body = assert_scim_json(response)
    assert body["meta"]["version"] != created["meta"]["version"]
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["meta"]["lastModified"] > created["meta"]["lastModified"]
    assert body["meta"]["created"] == created["meta"]["created"]


def test_patch_username_to_a_taken_name_is_409(scim):
    create_user(scim, "a@example.com")
    other = create_user(scim, "b@example.com")

    response = scim.patch(
        f"/scim/v2/Users/{other['id']}",
        json=patch_body({"op": "replace", "path": "userName", "value": "a@EXAMPLE.com"}),
    )

    assert_scim_error(response, 409, "uniqueness")


def test_patch_remove_username_is_mutability_error_and_changes_nothing(scim):
    created = create_user(scim, "a@example.com", displayName="A")

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body(
            {"op": "replace", "path": "displayName", "value": "B"},
            {"op": "remove", "path": "userName"},
        ),
    )

    assert_scim_error(response, 400, "mutability")
    assert assert_scim_json(scim.get(f"/scim/v2/Users/{created['id']}")) == created


def test_patch_id_is_mutability_error(scim):
    created = create_user(scim, "a@example.com")

    response = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "path": "id", "value": "x"}),
    )

    assert_scim_error(response, 400, "mutability")


def test_patch_emails_keeps_email_rows_in_step(app, scim):
    created = create_user(scim, "a@example.com", emails=[{"value": "old@example.com"}])

    scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "path": "emails", "value": [{"value": "new@x.com"}]}),
    )

    assert found(scim, 'emails.value eq "old@example.com"') == set()
    assert found(scim, 'emails.value eq "new@x.com"') == {created["id"]}
    with app.app_context():
        rows = db.session.scalars(select(UserEmail.value)).all()
        assert rows == ["new@x.com"]


# ---------------------------------------------------------------------------
# DELETE
# ---------------------------------------------------------------------------


def test_delete_hides_user_and_frees_username(app, scim):
    created = create_user(scim, "a@example.com", emails=[{"value": "a@example.com"}])

    response = scim.delete(f"/scim/v2/Users/{created['id']}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_scim_error(scim.get(f"/scim/v2/Users/{created['id']}"), 404)
    assert found(scim, 'userName eq "a@example.com"') == set()
    assert found(scim, 'emails.value eq "a@example.com"') == set()
    again = create_user(scim, "a@example.com")
    assert again["id"] != created["id"]
    with app.app_context():
        row = db.session.get(User, created["id"])
        assert row is not None and row.deleted_at is not None and row.active is False


def test_delete_twice_is_404(scim):
    created = create_user(scim, "a@example.com")
    scim.delete(f"/scim/v2/Users/{created['id']}")

    assert_scim_error(scim.delete(f"/scim/v2/Users/{created['id']}"), 404)


def test_patch_and_put_of_deleted_user_are_404(scim):
    created = create_user(scim, "a@example.com")
    scim.delete(f"/scim/v2/Users/{created['id']}")

    patch = scim.patch(
        f"/scim/v2/Users/{created['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": True}),
    )
    put = scim.put(f"/scim/v2/Users/{created['id']}", json=user_body("a@example.com"))

    assert_scim_error(patch, 404)
    assert_scim_error(put, 404)


# ---------------------------------------------------------------------------
# Lists: paging, sorting, projection
# ---------------------------------------------------------------------------


@dataclass
class Directory:
    app: Flask
    scim: ScimClient
    users: list[dict]


@pytest.fixture(scope="module")
def five(tmp_path_factory) -> Iterator[Directory]:
    """Five users created in order, u1 .. u5, with displayNames in reverse order.

    The list tests only read, so they share one database.
    """
    with own_app(tmp_path_factory.mktemp("five")) as (app, scim):
        users = [
            create_user(scim, f"u{i}@example.com", displayName=f"Name {6 - i}") for i in range(1, 6)
        ]
        yield Directory(app, scim, users)


def test_list_without_filter_returns_every_user(five):
    scim = five.scim

    body = listing(scim)

    assert body["totalResults"] == 5
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 5
    assert ids(body) == {u["id"] for u in five.users}


def test_list_of_empty_directory_is_an_empty_list_response(scim):
    body = listing(scim)

    assert body == {
        "schemas": [LIST],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_start_index_and_count_page_through_users(five):
    scim = five.scim

    body = listing(scim, startIndex=2, count=2, sortBy="userName")

    assert body["totalResults"] == 5
    assert body["startIndex"] == 2
    assert body["itemsPerPage"] == 2
    assert [r["userName"] for r in body["Resources"]] == ["u2@example.com", "u3@example.com"]


def test_start_index_past_the_end_gives_no_resources_and_the_total(five):
    scim = five.scim

    body = listing(scim, startIndex=10)

    assert body["totalResults"] == 5
    assert body["Resources"] == []


def test_count_zero_gives_only_the_total(five):
    scim = five.scim

    body = listing(scim, count=0)

    assert body["totalResults"] == 5
    assert body["itemsPerPage"] == 0
    assert body["Resources"] == []


def test_start_index_below_one_is_read_as_one(five):
    scim = five.scim

    body = listing(scim, startIndex=0, count=1, sortBy="userName")

    assert body["startIndex"] == 1
    assert body["Resources"][0]["userName"] == "u1@example.com"


def test_negative_count_is_read_as_zero(five):
    scim = five.scim

    body = listing(scim, count=-3)

    assert body["Resources"] == []
    assert body["totalResults"] == 5


def test_count_is_capped_at_max_results(five, monkeypatch):
    monkeypatch.setitem(five.app.config, "SCIM_MAX_RESULTS", 3)

    body = listing(five.scim, count=50)

    assert body["itemsPerPage"] == 3
    assert body["totalResults"] == 5


def test_sort_by_display_name_ascending_and_descending(five):
    scim = five.scim

    ascending = listing(scim, sortBy="displayName")
    descending = listing(scim, sortBy="displayName", sortOrder="descending")

    names = [r["displayName"] for r in ascending["Resources"]]
    assert names == ["Name 1", "Name 2", "Name 3", "Name 4", "Name 5"]
    assert [r["displayName"] for r in descending["Resources"]] == names[::-1]


def test_sort_by_is_case_insensitive(five):
    scim = five.scim

    body = listing(scim, sortBy="USERNAME", sortOrder="Descending")

    assert body["Resources"][0]["userName"] == "u5@example.com"


def test_bad_sort_order_is_400_invalid_value(scim):
    response = scim.get("/scim/v2/Users?sortBy=userName&sortOrder=sideways")

    assert_scim_error(response, 400, "invalidValue")


def test_list_with_attributes_projects_each_resource(five):
    scim = five.scim

    body = listing(scim, attributes="userName")

    for resource in body["Resources"]:
        assert set(resource) == {"schemas", "id", "userName"}


def test_list_with_excluded_attributes_drops_them(five):
    scim = five.scim

    body = listing(scim, excludedAttributes="displayName,meta,id")

    for resource in body["Resources"]:
        assert "displayName" not in resource and "meta" not in resource
        assert "id" in resource


def test_unknown_query_parameter_is_ignored(five):
    scim = five.scim

    body = assert_scim_json(scim.get("/scim/v2/Users?aadOptscim062020"))
    filtered = assert_scim_json(
        scim.get('/scim/v2/Users?aadOptscim062020&filter=userName eq "u1@example.com"')
    )

    assert body["totalResults"] == 5
    assert ids(filtered) == {five.users[0]["id"]}


def test_unknown_query_parameter_is_ignored_on_writes(scim):
    response = scim.post("/scim/v2/Users?aadOptscim062020", json=user_body("a@example.com"))

    assert response.status_code == 201


def test_user_resource_lists_its_groups(scim):
    user = create_user(scim, "a@example.com")
    group = assert_scim_json(
        scim.post(
            "/scim/v2/Groups",
            json={"displayName": "G", "members": [{"value": user["id"]}]},
        ),
        201,
    )

    body = assert_scim_json(scim.get(f"/scim/v2/Users/{user['id']}"))

    assert body["groups"] == [
        {
            "value": group["id"],
            "display": "G",
            "$ref": f"{PUBLIC}/Groups/{group['id']}",
            "type": "direct",
        }
    ]
    projected = assert_scim_json(scim.get(f"/scim/v2/Users/{user['id']}?excludedAttributes=groups"))
    assert "groups" not in projected


def test_lookups_read_a_users_live_groups_with_the_user_in_name_order(app, scim):
    user = create_user(scim, "a@example.com", externalId="ext-a")
    for name in ("beta", "Alpha", "gamma", "Zeta"):
        body = {"displayName": name, "members": [{"value": user["id"]}]}
        assert_scim_json(scim.post("/scim/v2/Groups", json=body), 201)
    zeta = scim.get('/scim/v2/Groups?filter=displayName eq "Zeta"').get_json()["Resources"][0]
    assert scim.delete(f"/scim/v2/Groups/{zeta['id']}").status_code == 204
    lookups = [
        '/scim/v2/Users?filter=userName eq "A@example.com"',
        '/scim/v2/Users?filter=externalId eq "ext-a"',
        f"/scim/v2/Users/{user['id']}",
    ]

    with sql_statements(app) as seen:
        bodies = [assert_scim_json(scim.get(path)) for path in lookups]

    for body in bodies:
        resource = body["Resources"][0] if "Resources" in body else body
        assert [group["display"] for group in resource["groups"]] == ["Alpha", "beta", "gamma"]
    assert not [sql for sql in seen if "FROM groups JOIN memberships" in sql]
    assert len([sql for sql in seen if "FROM memberships JOIN groups" in sql]) == len(lookups)


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Iterator[tuple[ScimClient, dict[str, str]]]:
    """Three users with varied attributes, in a database this module's filters share."""
    with own_app(tmp_path_factory.mktemp("people")) as (_, scim):
        alice = create_user(
            scim,
            "Alice@Example.com",
            displayName="Alice Archer",
            externalId="ext-A",
            title="Engineer",
            name={"givenName": "Alice", "familyName": "Archer"},
            emails=[
                {"value": "alice@example.com", "type": "work", "primary": True},
                {"value": "alice@home.org", "type": "home"},
            ],
        )
        bob = create_user(
            scim,
            "bob@example.com",
            displayName="Bob Baker",
            externalId="ext-b",
            active=False,
            name={"givenName": "Bob", "familyName": "Baker"},
            emails=[{"value": "bob@example.com", "type": "work"}],
        )
        carol = create_user(
            scim,
            "carol@sample.org",
            displayName="Carol Clark",
            externalId="EXT-C",
            title="Manager",
            schemas=[USER, ENTERPRISE],
            **{ENTERPRISE: {"department": "Sales", "employeeNumber": "42"}},
        )
        yield scim, {"alice": alice["id"], "bob": bob["id"], "carol": carol["id"]}


@pytest.mark.parametrize(
    "filter_text, expected",
    [
        ('userName eq "alice@example.com"', {"alice"}),
        ('USERNAME EQ "ALICE@EXAMPLE.COM"', {"alice"}),
        ('userName ne "alice@example.com"', {"bob", "carol"}),
        ('displayName co "AR"', {"alice", "carol"}),
        ('userName sw "B"', {"bob"}),
        ('userName ew "EXAMPLE.com"', {"alice", "bob"}),
        ('userName gt "bob@example.com"', {"carol"}),
        ('userName ge "bob@example.com"', {"bob", "carol"}),
        ('userName lt "bob@example.com"', {"alice"}),
        ('userName le "bob@example.com"', {"alice", "bob"}),
        ("title pr", {"alice", "carol"}),
        ("not (title pr)", {"bob"}),
        ('title eq "manager"', {"carol"}),
        ('title ne "Engineer"', {"bob", "carol"}),
        ('externalId eq "ext-A"', {"alice"}),
        ('externalId eq "EXT-A"', set()),
        ('externalId eq "EXT-C"', {"carol"}),
        ("active eq true", {"alice", "carol"}),
        ("active eq false", {"bob"}),
        ('userName ew "example.com" and active eq true', {"alice"}),
        ('externalId eq "ext-b" or title eq "MANAGER"', {"bob", "carol"}),
        ('not (userName ew "example.com")', {"carol"}),
        ('userName sw "a" or (userName sw "b" and active eq true)', {"alice"}),
        ('name.familyName eq "archer"', {"alice"}),
        ('name.givenName sw "B"', {"bob"}),
        ('emails[type eq "work"].value eq "bob@example.com"', {"bob"}),
        ('emails[type eq "work" and value co "ALICE"]', {"alice"}),
        ('emails[type eq "home"]', {"alice"}),
        ('emails.value ew "home.org"', {"alice"}),
        ('emails eq "BOB@example.com"', {"bob"}),
        ("emails pr", {"alice", "bob"}),
        ('not (emails[type eq "home"])', {"bob", "carol"}),
        (f'{ENTERPRISE}:department eq "sales"', {"carol"}),
        (f'{ENTERPRISE}:employeeNumber eq "42"', {"carol"}),
        (f'{USER}:userName sw "carol"', {"carol"}),
        ('displayName eq "Alice Archer" and emails[type eq "work"].value eq "x@y.z"', set()),
    ],
)
def test_filter(people, filter_text, expected):
    scim, people_ids = people

    assert found(scim, filter_text) == {people_ids[name] for name in expected}


def test_filter_by_id(people):
    scim, people_ids = people

    assert found(scim, f'id eq "{people_ids["bob"]}"') == {people_ids["bob"]}


def test_filter_username_eq_unknown_guid_is_empty_list_not_404(people):
    scim, _ = people

    body = listing(scim, filter=f'userName eq "{uuid.uuid4()}"')

    assert body["totalResults"] == 0
    assert body["Resources"] == []


def test_filter_on_indexed_attributes_folds_non_ascii_case(scim):
    user = create_user(
        scim,
        "Ärger@example.com",
        displayName="Öko Ärger",
        emails=[{"value": "Ärger@example.com", "type": "work"}],
    )

    assert found(scim, 'userName eq "ärger@EXAMPLE.com"') == {user["id"]}
    assert found(scim, 'displayName sw "öko"') == {user["id"]}
    assert found(scim, 'emails[type eq "work"].value eq "ÄRGER@example.com"') == {user["id"]}


def test_filter_on_other_attributes_folds_non_ascii_case(scim):
    user = create_user(scim, "e@example.com", title="Ärger", name={"givenName": "Émile"})

    assert found(scim, 'title eq "ärger"') == {user["id"]}
    assert found(scim, 'name.givenName eq "ÉMILE"') == {user["id"]}


def test_filter_values_with_like_wildcards_match_literally(scim):
    plain = create_user(scim, "a_b@example.com")
    create_user(scim, "axb@example.com")
    percent = create_user(scim, "100%@example.com")

    assert found(scim, 'userName sw "a_"') == {plain["id"]}
    assert found(scim, 'userName co "%"') == {percent["id"]}


def test_filter_meta_last_modified_gt(scim):
    first = create_user(scim, "a@example.com")
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    second = create_user(scim, "b@example.com")

    utc_text = middle.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    offset_text = middle.astimezone(timezone(timedelta(hours=2))).isoformat()

    assert found(scim, f'meta.lastModified gt "{utc_text}"') == {second["id"]}
    assert found(scim, f'meta.lastModified lt "{utc_text}"') == {first["id"]}
    assert found(scim, f'meta.lastModified gt "{offset_text}"') == {second["id"]}
    assert found(scim, 'meta.lastModified gt "2000-01-01T00:00:00Z"') == {
        first["id"],
        second["id"],
    }


def test_filter_meta_last_modified_gt_its_own_value_leaves_the_resource_out(scim):
    first = create_user(scim, "a@example.com")
    time.sleep(0.002)
    second = create_user(scim, "b@example.com")

    since = first["meta"]["lastModified"]

    assert found(scim, f'meta.lastModified gt "{since}"') == {second["id"]}
    assert found(scim, f'meta.lastModified ge "{since}"') == {first["id"], second["id"]}
    assert found(scim, f'meta.lastModified le "{since}"') == {first["id"]}


def test_filter_meta_last_modified_sees_a_patch(scim):
    user = create_user(scim, "a@example.com")
    create_user(scim, "b@example.com")
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)

    scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "title", "value": "T"}),
    )

    assert found(scim, f'meta.lastModified ge "{since}"') == {user["id"]}


def test_filter_with_bad_datetime_is_invalid_filter(scim):
    response = scim.get('/scim/v2/Users?filter=meta.lastModified gt "yesterday"')

    assert_scim_error(response, 400, "invalidFilter")


def test_filter_combined_with_paging_counts_only_matches(five):
    scim = five.scim

    body = listing(scim, filter='userName sw "u"', count=2, sortBy="userName")

    assert body["totalResults"] == 5
    assert [r["userName"] for r in body["Resources"]] == ["u1@example.com", "u2@example.com"]


# ---------------------------------------------------------------------------
# POST .search
# ---------------------------------------------------------------------------


def test_post_search_filters_and_projects(people):
    scim, people_ids = people

    response = scim.post(
        "/scim/v2/Users/.search",
        json={
            "schemas": [SEARCH],
            "filter": 'userName sw "b"',
            "attributes": ["userName", "displayName"],
            "startIndex": 1,
            "count": 10,
        },
    )

    body = assert_scim_json(response)
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 1
    assert body["Resources"] == [
        {
            "schemas": [USER],
            "id": people_ids["bob"],
            "userName": "bob@example.com",
            "displayName": "Bob Baker",
        }
    ]


def test_post_search_sorts_and_pages(five):
    scim = five.scim

    response = scim.post(
        "/scim/v2/Users/.search",
        json={
            "schemas": [SEARCH],
            "sortBy": "userName",
            "sortOrder": "descending",
            "startIndex": 2,
            "count": 2,
            "excludedAttributes": ["meta"],
        },
    )

    body = assert_scim_json(response)
    assert [r["userName"] for r in body["Resources"]] == ["u4@example.com", "u3@example.com"]
    assert all("meta" not in r for r in body["Resources"])


def test_post_search_with_wrong_schema_is_400(scim):
    response = scim.post("/scim/v2/Users/.search", json={"schemas": [USER], "filter": "title pr"})

    assert_scim_error(response, 400, "invalidValue")


def test_post_search_with_bad_filter_is_invalid_filter(scim):
    response = scim.post("/scim/v2/Users/.search", json={"schemas": [SEARCH], "filter": "title"})

    assert_scim_error(response, 400, "invalidFilter")


def test_responses_are_scim_json(scim):
    created = create_user(scim, "a@example.com")

    for response in (
        scim.get("/scim/v2/Users"),
        scim.get(f"/scim/v2/Users/{created['id']}"),
        scim.post("/scim/v2/Users/.search", json={"schemas": [SEARCH]}),
    ):
        assert response.mimetype == SCIM_JSON
