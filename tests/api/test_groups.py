"""/scim/v2/Groups over HTTP: CRUD, membership PATCH, projection, filters."""

import uuid

import pytest
from apps import sql_statements
from scim_checks import ADSCIM_GROUP
from scim_checks import GROUP
from scim_checks import LIST
from scim_checks import SEARCH
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_group
from scim_checks import create_user
from scim_checks import empty_database
from scim_checks import ids
from scim_checks import own_app
from scim_checks import patch_body
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import utcnow
from unleash_wizard.store.resources import new_user_rows

PUBLIC = "https://wizard.example.com/scim/v2"


@pytest.fixture(scope="module")
def module_app(tmp_path_factory, database_url):
    with own_app(tmp_path_factory.mktemp("groups"), url=database_url) as (app, _):
        yield app


@pytest.fixture
def app(module_app):
    """This module's app, emptied: the conftest ``client`` and ``scim`` build on it."""
    empty_database(module_app)
    return module_app


def get_group(scim, group_id: str, query: str = "") -> dict:
    return assert_scim_json(scim.get(f"/scim/v2/Groups/{group_id}{query}"))


def member_ids(scim, group_id: str) -> set[str]:
    return {m["value"] for m in get_group(scim, group_id).get("members", [])}


def patch_group(scim, group_id: str, *operations, query: str = ""):
    return scim.patch(f"/scim/v2/Groups/{group_id}{query}", json=patch_body(*operations))


@pytest.fixture
def users(scim) -> list[str]:
    """Three SCIM users; returns their ids."""
    return [create_user(scim, f"u{i}@example.com", displayName=f"User {i}")["id"] for i in range(3)]


# ---------------------------------------------------------------------------
# POST, GET, PUT, DELETE
# ---------------------------------------------------------------------------


def test_post_creates_group_with_members_location_and_etag(scim, users):
    response = scim.post(
        "/scim/v2/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Tour Guides",
            "externalId": "ext-g",
            "members": [{"value": users[0]}, {"value": users[1]}],
        },
    )

    body = assert_scim_json(response, 201)
    assert response.headers["Location"] == f"{PUBLIC}/Groups/{body['id']}"
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["schemas"] == [GROUP]
    assert body["displayName"] == "Tour Guides"
    assert body["externalId"] == "ext-g"
    assert body["meta"]["resourceType"] == "Group"
    assert body["meta"]["location"] == response.headers["Location"]
    assert sorted(body["members"], key=lambda m: m["value"]) == sorted(
        [
            {
                "value": uid,
                "$ref": f"{PUBLIC}/Users/{uid}",
                "type": "User",
                "display": f"User {i}",
            }
            for i, uid in enumerate(users[:2])
        ],
        key=lambda m: m["value"],
    )


def test_post_accepts_entra_adscim_schema(scim):
    response = scim.post(
        "/scim/v2/Groups",
        json={
            "schemas": [GROUP, ADSCIM_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "members": [],
        },
    )

    body = assert_scim_json(response, 201)
    assert body["schemas"] == [GROUP]
    assert "members" not in body


def test_post_duplicate_display_name_is_409_uniqueness(scim):
    create_group(scim, "Admins")

    assert_scim_error(
        scim.post("/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "ADMINS"}),
        409,
        "uniqueness",
    )


def test_post_with_unknown_member_is_400_and_creates_nothing(scim, users):
    response = scim.post(
        "/scim/v2/Groups",
        json={"displayName": "G", "members": [{"value": users[0]}, {"value": "nobody"}]},
    )

    assert_scim_error(response, 400, "invalidValue")
    assert assert_scim_json(scim.get("/scim/v2/Groups"))["totalResults"] == 0


def test_get_unknown_group_is_404(scim):
    assert_scim_error(scim.get(f"/scim/v2/Groups/{uuid.uuid4()}"), 404)


def test_get_excluded_attributes_members_leaves_members_out(scim, users):
    group = create_group(scim, "G", users)

    body = get_group(scim, group["id"], "?excludedAttributes=members")

    assert "members" not in body
    assert body["displayName"] == "G"
    assert body["id"] == group["id"]


def test_list_excluded_attributes_members_leaves_members_out(scim, users):
    create_group(scim, "G", users)

    body = assert_scim_json(scim.get("/scim/v2/Groups?excludedAttributes=members"))

    assert body["totalResults"] == 1
    assert "members" not in body["Resources"][0]


def test_get_attributes_returns_only_those(scim, users):
    group = create_group(scim, "G", users)

    body = get_group(scim, group["id"], "?attributes=displayName")

    assert body == {"schemas": [GROUP], "id": group["id"], "displayName": "G"}


def test_put_replaces_name_and_members(scim, users):
    group = create_group(scim, "Old", users[:2], externalId="e")

    response = scim.put(
        f"/scim/v2/Groups/{group['id']}",
        json={"schemas": [GROUP], "displayName": "New", "members": [{"value": users[2]}]},
    )

    body = assert_scim_json(response)
    assert body["displayName"] == "New"
    assert "externalId" not in body
    assert [m["value"] for m in body["members"]] == [users[2]]
    assert body["meta"]["version"] != group["meta"]["version"]
    assert response.headers["ETag"] == body["meta"]["version"]


def test_put_unknown_group_is_404(scim):
    response = scim.put(f"/scim/v2/Groups/{uuid.uuid4()}", json={"displayName": "G"})

    assert_scim_error(response, 404)


def test_put_to_another_groups_name_is_409(scim):
    create_group(scim, "A")
    other = create_group(scim, "B")

    response = scim.put(f"/scim/v2/Groups/{other['id']}", json={"displayName": "a"})

    assert_scim_error(response, 409, "uniqueness")
    assert get_group(scim, other["id"])["displayName"] == "B"


def test_delete_group_hides_it_and_frees_its_name(scim, users):
    group = create_group(scim, "G", users)

    response = scim.delete(f"/scim/v2/Groups/{group['id']}")

    assert response.status_code == 204
    assert_scim_error(scim.get(f"/scim/v2/Groups/{group['id']}"), 404)
    assert_scim_error(scim.delete(f"/scim/v2/Groups/{group['id']}"), 404)
    assert create_group(scim, "G")["id"] != group["id"]
    user = assert_scim_json(scim.get(f"/scim/v2/Users/{users[0]}"))
    assert "groups" not in user


def test_delete_user_removes_it_from_groups(scim, users):
    group = create_group(scim, "G", users)

    assert scim.delete(f"/scim/v2/Users/{users[0]}").status_code == 204

    after = get_group(scim, group["id"])
    assert {m["value"] for m in after["members"]} == set(users[1:])
    assert after["meta"]["version"] != group["meta"]["version"]
    found = assert_scim_json(scim.get(f'/scim/v2/Groups?filter=members[value eq "{users[0]}"]'))
    assert found["totalResults"] == 0


# ---------------------------------------------------------------------------
# Membership PATCH
# ---------------------------------------------------------------------------


def test_patch_add_members_answers_204_with_etag(scim, users):
    group = create_group(scim, "G")

    response = patch_group(
        scim,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": users[0]}, {"value": users[1]}]},
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    after = get_group(scim, group["id"])
    assert response.headers["ETag"] == after["meta"]["version"]
    assert {m["value"] for m in after["members"]} == set(users[:2])


def test_patch_add_existing_member_keeps_one_membership(scim, users):
    group = create_group(scim, "G", users[:1])

    response = patch_group(
        scim, group["id"], {"op": "add", "path": "members", "value": [{"value": users[0]}]}
    )

    assert response.status_code == 204
    assert [m["value"] for m in get_group(scim, group["id"])["members"]] == [users[0]]


def test_patch_with_attributes_answers_200_with_the_group(scim, users):
    group = create_group(scim, "G")

    response = patch_group(
        scim,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": users[0]}]},
        query="?attributes=members,displayName",
    )

    body = assert_scim_json(response)
    assert body["displayName"] == "G"
    assert [m["value"] for m in body["members"]] == [users[0]]
    assert "meta" not in body


def test_patch_with_excluded_attributes_answers_200_without_members(scim, users):
    group = create_group(scim, "G")

    response = patch_group(
        scim,
        group["id"],
        {"op": "add", "path": "members", "value": [{"value": users[0]}]},
        query="?excludedAttributes=members",
    )

    body = assert_scim_json(response)
    assert "members" not in body
    assert body["displayName"] == "G"


def test_patch_remove_member_by_value_list_keeps_the_others(scim, users):
    group = create_group(scim, "G", users)

    response = patch_group(
        scim, group["id"], {"op": "remove", "path": "members", "value": [{"value": users[0]}]}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == set(users[1:])


def test_patch_legacy_capitalised_remove_by_value_keeps_the_others(scim, users):
    group = create_group(scim, "G", users)

    response = patch_group(
        scim, group["id"], {"op": "Remove", "path": "members", "value": [{"value": users[1]}]}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == {users[0], users[2]}


def test_patch_remove_member_by_filter_keeps_the_others(scim, users):
    group = create_group(scim, "G", users)

    response = patch_group(
        scim, group["id"], {"op": "remove", "path": f'members[value eq "{users[2]}"]'}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == set(users[:2])


def test_patch_removing_the_only_member_leaves_an_empty_group(scim, users):
    group = create_group(scim, "G", users[:1])

    patch_group(scim, group["id"], {"op": "remove", "path": f'members[value eq "{users[0]}"]'})

    body = get_group(scim, group["id"])
    assert "members" not in body or body["members"] == []


def test_patch_removing_a_non_member_changes_nothing(scim, users):
    group = create_group(scim, "G", users[:2])

    response = patch_group(
        scim, group["id"], {"op": "remove", "path": "members", "value": [{"value": users[2]}]}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == set(users[:2])


def test_patch_remove_all_members_clears_the_group(scim, users):
    group = create_group(scim, "G", users)

    response = patch_group(scim, group["id"], {"op": "remove", "path": "members"})

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == set()


def test_patch_replace_members_sets_the_membership(scim, users):
    group = create_group(scim, "G", users[:2])

    response = patch_group(
        scim, group["id"], {"op": "replace", "path": "members", "value": [{"value": users[2]}]}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == {users[2]}


def test_patch_pathless_add_of_members(scim, users):
    group = create_group(scim, "G")

    response = patch_group(
        scim, group["id"], {"op": "add", "value": {"members": [{"value": users[1]}]}}
    )

    assert response.status_code == 204
    assert member_ids(scim, group["id"]) == {users[1]}


def test_patch_display_name_with_legacy_pathless_replace(scim, users):
    group = create_group(scim, "Old", users[:1])

    response = patch_group(scim, group["id"], {"op": "Replace", "value": {"displayName": "New"}})

    assert response.status_code == 204
    body = get_group(scim, group["id"])
    assert body["displayName"] == "New"
    assert [m["value"] for m in body["members"]] == [users[0]]


def test_patch_display_name_with_path(scim):
    group = create_group(scim, "Old", externalId="e")

    response = patch_group(
        scim, group["id"], {"op": "replace", "path": "displayName", "value": "New"}
    )

    assert response.status_code == 204
    body = get_group(scim, group["id"])
    assert body["displayName"] == "New"
    assert body["externalId"] == "e"
    assert (
        assert_scim_json(scim.get('/scim/v2/Groups?filter=displayName eq "new"'))["totalResults"]
        == 1
    )


def test_patch_rename_and_members_in_one_request(scim, users):
    group = create_group(scim, "Old", users[:1])

    response = patch_group(
        scim,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "New"},
        {"op": "add", "path": "members", "value": [{"value": users[1]}]},
        {"op": "remove", "path": f'members[value eq "{users[0]}"]'},
    )

    assert response.status_code == 204
    body = get_group(scim, group["id"])
    assert body["displayName"] == "New"
    assert {m["value"] for m in body["members"]} == {users[1]}


def test_patch_rename_to_a_taken_name_is_409(scim):
    create_group(scim, "Taken")
    group = create_group(scim, "Mine")

    response = patch_group(
        scim, group["id"], {"op": "replace", "path": "displayName", "value": "TAKEN"}
    )

    assert_scim_error(response, 409, "uniqueness")


def test_patch_unknown_member_is_400_and_stores_nothing(scim, users):
    group = create_group(scim, "G", users[:1])

    response = patch_group(
        scim,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": users[1]}, {"value": "nobody"}]},
    )

    assert_scim_error(response, 400, "invalidValue")
    after = get_group(scim, group["id"])
    assert after == group


def test_patch_local_account_cannot_become_a_member(app, scim):
    with app.app_context():
        db.session.add(
            User(
                id="local-1",
                user_name="admin",
                user_name_key="admin",
                scim_managed=False,
                data={},
            )
        )
        db.session.commit()
    group = create_group(scim, "G")

    response = patch_group(
        scim, group["id"], {"op": "add", "path": "members", "value": [{"value": "local-1"}]}
    )

    assert_scim_error(response, 400, "invalidValue")
    assert member_ids(scim, group["id"]) == set()


def test_patch_unknown_group_is_404(scim, users):
    response = patch_group(
        scim, str(uuid.uuid4()), {"op": "add", "path": "members", "value": [{"value": users[0]}]}
    )

    assert_scim_error(response, 404)


def test_patch_members_sub_attribute_path_is_invalid_path(scim, users):
    group = create_group(scim, "G", users)

    response = patch_group(
        scim, group["id"], {"op": "replace", "path": "members.display", "value": "x"}
    )

    assert_scim_error(response, 400, "invalidPath")


def test_patch_adds_two_thousand_members_in_one_request(app, scim):
    now = utcnow()
    rows = [
        new_user_rows(str(uuid.uuid4()), {"userName": f"bulk{i}@example.com"}, now)[0]
        for i in range(2000)
    ]
    new_ids = [row["id"] for row in rows]
    with app.app_context():
        db.session.execute(insert(User), rows)
        db.session.commit()
    group = create_group(scim, "Everyone")
    with sql_statements(app) as statements:
        response = patch_group(
            scim,
            group["id"],
            {"op": "add", "path": "members", "value": [{"value": uid} for uid in new_ids]},
        )

    assert response.status_code == 204
    # One statement for the members, not a round trip per member.
    assert len(statements) < 30
    assert sum("INSERT INTO memberships" in s for s in statements) == 1
    with app.app_context():
        stored = db.session.scalar(
            select(func.count()).select_from(Membership).where(Membership.group_id == group["id"])
        )
        assert stored == 2000
    assert member_ids(scim, group["id"]) == set(new_ids)

    response = patch_group(
        scim, group["id"], {"op": "remove", "path": f'members[value eq "{new_ids[0]}"]'}
    )
    assert response.status_code == 204
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.group_id == group["id"])
            )
            == 1999
        )


def test_patch_bumps_the_group_version(app, scim, users):
    group = create_group(scim, "G")

    patch_group(scim, group["id"], {"op": "add", "path": "members", "value": [{"value": users[0]}]})

    with app.app_context():
        assert db.session.get(Group, group["id"]).version == 2


# ---------------------------------------------------------------------------
# Lists and filters
# ---------------------------------------------------------------------------


def test_group_filters(scim, users):
    admins = create_group(scim, "Unleash Admins", users[:1], externalId="ext-Admins")
    viewers = create_group(scim, "Viewers", users[1:])

    def found(text):
        return ids(assert_scim_json(scim.get("/scim/v2/Groups", query_string={"filter": text})))

    assert found('displayName eq "unleash admins"') == {admins["id"]}
    assert found('displayName sw "V"') == {viewers["id"]}
    assert found('externalId eq "ext-Admins"') == {admins["id"]}
    assert found('externalId eq "EXT-ADMINS"') == set()
    assert found(f'members[value eq "{users[2]}"]') == {viewers["id"]}
    assert found(f'members.value eq "{users[0]}"') == {admins["id"]}
    assert found(f'id eq "{viewers["id"]}"') == {viewers["id"]}
    assert found(f'displayName eq "{uuid.uuid4()}"') == set()
    assert found('not (displayName eq "Viewers")') == {admins["id"]}


def test_group_filter_on_user_attribute_is_invalid_filter(scim):
    assert_scim_error(scim.get('/scim/v2/Groups?filter=userName eq "x"'), 400, "invalidFilter")


def test_group_list_pages_and_sorts(scim):
    for name in ("b", "c", "a"):
        create_group(scim, name)

    body = assert_scim_json(
        scim.get("/scim/v2/Groups?sortBy=displayName&sortOrder=descending&startIndex=2&count=1")
    )

    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 3
    assert [r["displayName"] for r in body["Resources"]] == ["b"]


def test_groups_search_post(scim, users):
    group = create_group(scim, "G", users)
    create_group(scim, "H")

    response = scim.post(
        "/scim/v2/Groups/.search",
        json={
            "schemas": [SEARCH],
            "filter": 'displayName eq "g"',
            "excludedAttributes": ["members"],
        },
    )

    body = assert_scim_json(response)
    assert ids(body) == {group["id"]}
    assert "members" not in body["Resources"][0]
