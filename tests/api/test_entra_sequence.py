"""Microsoft Entra ID's provisioning calls, replayed in the order Entra sends them.

Each scenario runs twice: in the legacy shape Entra sends without the
compliance flag (capitalised ops, "False" as a string, member removal by
value) and in the shape it sends with ``?aadOptscim062020`` on the Tenant URL
(lowercase ops, JSON booleans, member removal by filter). The flag rides on
every URL as an unknown query parameter, which the service ignores. The
provisioning log must tell the two apart.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store.models import ProvisioningLog

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
FLAG = "aadOptscim062020"


@dataclass(frozen=True)
class Shape:
    """How Entra words its requests, with or without the compliance flag."""

    flag: bool

    def url(self, path: str, **query: str) -> str:
        """Return /scim/v2 + path, with the flag first as on Entra's Tenant URL."""
        parts = [FLAG] if self.flag else []
        parts += [f"{key}={quote(value)}" for key, value in query.items()]
        return f"/scim/v2{path}" + ("?" + "&".join(parts) if parts else "")

    def op(self, name: str) -> str:
        return name.lower() if self.flag else name.capitalize()

    def boolean(self, value: bool):
        return value if self.flag else str(value)

    def remove_member(self, user_id: str) -> dict:
        if self.flag:
            return {"op": "remove", "path": f'members[value eq "{user_id}"]'}
        return {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user_id}]}


LEGACY = Shape(flag=False)
FLAGGED = Shape(flag=True)
SHAPES = pytest.mark.parametrize("shape", [LEGACY, FLAGGED], ids=["legacy", "flag"])


def patch_body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def entra_user(user_name: str, **extra) -> dict:
    """Return the body of Entra's POST /Users with the default mappings."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": str(uuid.uuid4()),
        "userName": user_name,
        "active": True,
        "displayName": "Test User",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "roles": [],
        **extra,
    }


def entra_group(display_name: str) -> dict:
    """Return the body of Entra's POST /Groups: no members yet, and its own schema URI."""
    return {
        "schemas": [GROUP, ADSCIM_GROUP],
        "externalId": str(uuid.uuid4()),
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
        "members": [],
    }


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}@contoso.example"


def assert_scim_json(response) -> None:
    assert response.mimetype == SCIM_JSON, response.headers


def assert_list(response, total: int) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_scim_json(response)
    body = response.get_json()
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == total
    assert len(body["Resources"]) == total
    return body["Resources"]


def assert_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert_scim_json(response)
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body["scimType"] == scim_type
    return body


def last_log(app) -> ProvisioningLog:
    with app.app_context():
        row = db.session.scalar(select(ProvisioningLog).order_by(ProvisioningLog.id.desc()))
        db.session.expunge_all()
        return row


def log_of(app, method: str, resource_id: str) -> ProvisioningLog:
    """Return the newest log row of a method on one resource."""
    with app.app_context():
        row = db.session.scalar(
            select(ProvisioningLog)
            .where(ProvisioningLog.method == method, ProvisioningLog.resource_id == resource_id)
            .order_by(ProvisioningLog.id.desc())
        )
        db.session.expunge_all()
        return row


def legacy_signals(row: ProvisioningLog) -> set[str]:
    return {s for s in row.signals or [] if s.startswith("legacy-")}


def create_user(scim, shape: Shape, user_name: str, **extra) -> dict:
    """Look the userName up, find nothing, create it: Entra's create cycle."""
    lookup = scim.get(shape.url("/Users", filter=f'userName eq "{user_name}"'))
    assert assert_list(lookup, 0) == []
    response = scim.post(shape.url("/Users"), json=entra_user(user_name, **extra))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert_scim_json(response)
    return response.get_json()


def create_group(scim, shape: Shape, display_name: str) -> dict:
    query = {"filter": f'displayName eq "{display_name}"', "excludedAttributes": "members"}
    assert assert_list(scim.get(shape.url("/Groups", **query)), 0) == []
    response = scim.post(shape.url("/Groups"), json=entra_group(display_name))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert_scim_json(response)
    return response.get_json()


def get_json(scim, shape: Shape, path: str) -> dict:
    response = scim.get(shape.url(path))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_scim_json(response)
    return response.get_json()


# ---------------------------------------------------------------------------
# Test connection
# ---------------------------------------------------------------------------


@SHAPES
def test_test_connection_finds_empty_lists(scim, app, shape):
    guid = str(uuid.uuid4())

    users = scim.get(shape.url("/Users", filter=f'userName eq "{guid}"'))
    assert assert_list(users, 0) == []
    assert "test-connection" in last_log(app).signals

    query = {"filter": f'displayName eq "{uuid.uuid4()}"', "excludedAttributes": "members"}
    groups = scim.get(shape.url("/Groups", **query))
    assert assert_list(groups, 0) == []
    row = last_log(app)
    assert "test-connection" in row.signals
    assert row.status == 200
    assert row.token_name == "entra"


def test_a_lookup_that_finds_someone_is_no_test_connection(scim, app):
    user = create_user(scim, FLAGGED, unique("found"))

    found = scim.get(FLAGGED.url("/Users", filter=f'userName eq "{user["userName"]}"'))

    assert assert_list(found, 1)[0]["id"] == user["id"]
    assert "test-connection" not in (last_log(app).signals or [])


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


@SHAPES
def test_user_create_cycle(scim, app, shape):
    manager = create_user(scim, shape, unique("manager"))
    user_name = unique("alice")
    enterprise = {
        "department": "Sales",
        "employeeNumber": "701984",
        "manager": {"value": manager["id"]},
    }

    created = create_user(scim, shape, user_name, **{ENTERPRISE: enterprise})

    assert created["userName"] == user_name
    assert created["active"] is True
    assert created["emails"] == [{"primary": True, "type": "work", "value": user_name}]
    assert created["name"]["givenName"] == "Test"
    assert created[ENTERPRISE]["department"] == "Sales"
    assert created[ENTERPRISE]["employeeNumber"] == "701984"
    assert created[ENTERPRISE]["manager"]["value"] == manager["id"]
    assert set(created["schemas"]) == {USER, ENTERPRISE}
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert created["id"] not in (created["externalId"], user_name)
    row = last_log(app)
    assert row.status == 201 and "user-created" in row.signals
    assert row.resource_id == created["id"]

    # Entra looks users up again by the matching attribute it was given.
    by_external_id = scim.get(
        shape.url("/Users", filter=f'externalId eq "{created["externalId"]}"')
    )
    assert [u["id"] for u in assert_list(by_external_id, 1)] == [created["id"]]
    by_email = scim.get(
        shape.url("/Users", filter=f'emails[type eq "work"].value eq "{user_name.upper()}"')
    )
    assert [u["id"] for u in assert_list(by_email, 1)] == [created["id"]]
    by_name = scim.get(shape.url("/Users", filter=f'userName eq "{user_name.upper()}"'))
    assert [u["id"] for u in assert_list(by_name, 1)] == [created["id"]]
    assert "lookup-found" in last_log(app).signals

    assert get_json(scim, shape, f"/Users/{created['id']}") == created


@SHAPES
def test_user_update_patches(scim, app, shape):
    user = create_user(scim, shape, unique("bob"))
    path = shape.url(f"/Users/{user['id']}")
    new_email = unique("bob.new")

    response = scim.patch(
        path,
        json=patch_body(
            {"op": shape.op("replace"), "path": 'emails[type eq "work"].value', "value": new_email},
            {"op": shape.op("replace"), "path": "name.familyName", "value": "Builder"},
        ),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_scim_json(response)
    body = response.get_json()
    assert body["emails"] == [{"primary": True, "type": "work", "value": new_email}]
    assert body["name"]["familyName"] == "Builder"
    assert body["name"]["givenName"] == "Test"
    assert legacy_signals(last_log(app)) == (set() if shape.flag else {"legacy-op-case"})
    by_email = scim.get(
        shape.url("/Users", filter=f'emails[type eq "work"].value eq "{new_email}"')
    )
    assert [u["id"] for u in assert_list(by_email, 1)] == [user["id"]]

    # A path-less replace: dotted keys and a full-URN key, as Entra sends them.
    response = scim.patch(
        path,
        json=patch_body(
            {
                "op": shape.op("replace"),
                "value": {
                    "displayName": "Bob B.",
                    "name.givenName": "Robert",
                    f"{ENTERPRISE}:department": "Engineering",
                },
            },
            {"op": shape.op("add"), "path": "title", "value": "Builder in chief"},
            # Entra adds a value to an entry that does not exist yet.
            {
                "op": shape.op("add"),
                "path": 'phoneNumbers[type eq "work"].value',
                "value": "+1 555",
            },
        ),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["displayName"] == "Bob B."
    assert body["name"] == {
        "formatted": "Test User",
        "familyName": "Builder",
        "givenName": "Robert",
    }
    assert body[ENTERPRISE] == {"department": "Engineering"}
    assert ENTERPRISE in body["schemas"]
    assert body["title"] == "Builder in chief"
    assert body["phoneNumbers"] == [{"type": "work", "value": "+1 555"}]
    assert "name.givenName" not in body and f"{ENTERPRISE}:department" not in body
    assert legacy_signals(last_log(app)) == (set() if shape.flag else {"legacy-op-case"})

    # Entra renames a user with a single-valued replace.
    renamed = unique("robert")
    response = scim.patch(
        path, json=patch_body({"op": shape.op("replace"), "path": "userName", "value": renamed})
    )
    assert response.status_code == 200
    assert response.get_json()["userName"] == renamed
    assert get_json(scim, shape, f"/Users/{user['id']}") == response.get_json()


@SHAPES
def test_user_disable_and_enable(scim, app, shape):
    user = create_user(scim, shape, unique("carol"))
    path = shape.url(f"/Users/{user['id']}")

    response = scim.patch(
        path,
        json=patch_body(
            {"op": shape.op("replace"), "path": "active", "value": shape.boolean(False)}
        ),
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["active"] is False
    assert get_json(scim, shape, f"/Users/{user['id']}")["active"] is False
    expected = set() if shape.flag else {"legacy-op-case", "legacy-boolean-string"}
    row = log_of(app, "PATCH", user["id"])
    assert legacy_signals(row) == expected
    assert "user-disabled" in row.signals
    disabled = scim.get(
        shape.url("/Users", filter=f'userName eq "{user["userName"]}" and active eq false')
    )
    assert [u["id"] for u in assert_list(disabled, 1)] == [user["id"]]

    # With the flag, Entra also sends active in a path-less replace.
    value = {"active": True} if shape.flag else {"active": "True"}
    response = scim.patch(path, json=patch_body({"op": shape.op("replace"), "value": value}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["active"] is True
    row = log_of(app, "PATCH", user["id"])
    assert legacy_signals(row) == expected
    assert "user-enabled" in row.signals

    response = scim.patch(path, json=patch_body({"op": "replace", "value": {"active": False}}))
    assert response.status_code == 200
    assert get_json(scim, shape, f"/Users/{user['id']}")["active"] is False
    assert legacy_signals(log_of(app, "PATCH", user["id"])) == set()


@SHAPES
def test_user_delete_frees_the_user_name(scim, app, shape):
    user_name = unique("dave")
    user = create_user(scim, shape, user_name)

    response = scim.delete(shape.url(f"/Users/{user['id']}"))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_error(scim.get(shape.url(f"/Users/{user['id']}")), 404)
    assert_list(scim.get(shape.url("/Users", filter=f'userName eq "{user_name}"')), 0)
    assert "user-deleted" in log_of(app, "DELETE", user["id"]).signals
    again = create_user(scim, shape, user_name)
    assert again["id"] != user["id"]
    assert again["userName"] == user_name
    # Deleting it once more answers 404, as Entra may retry a delete.
    assert scim.delete(shape.url(f"/Users/{user['id']}")).status_code == 404


@SHAPES
def test_a_second_create_of_one_user_name_is_a_uniqueness_conflict(scim, shape):
    user_name = unique("erin")
    create_user(scim, shape, user_name)

    response = scim.post(shape.url("/Users"), json=entra_user(user_name.upper()))

    assert_error(response, 409, "uniqueness")


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


@SHAPES
def test_group_create_and_lookup(scim, app, shape):
    name = f"Sales {uuid.uuid4().hex[:6]}"

    group = create_group(scim, shape, name)

    assert group["displayName"] == name
    assert group["schemas"][0] == GROUP
    assert ADSCIM_GROUP not in group
    assert not group.get("members")
    assert group["meta"]["resourceType"] == "Group"
    assert "group-created" in last_log(app).signals
    query = {"filter": f'displayName eq "{name}"', "excludedAttributes": "members"}
    found = assert_list(scim.get(shape.url("/Groups", **query)), 1)
    assert found[0]["id"] == group["id"]
    assert "members" not in found[0]
    by_external = scim.get(shape.url("/Groups", filter=f'externalId eq "{group["externalId"]}"'))
    assert [g["id"] for g in assert_list(by_external, 1)] == [group["id"]]


@SHAPES
def test_group_membership_changes(scim, app, shape):
    users = [create_user(scim, shape, unique(f"member{i}"))["id"] for i in range(4)]
    group = create_group(scim, shape, f"Team {uuid.uuid4().hex[:6]}")
    path = shape.url(f"/Groups/{group['id']}")

    def members() -> list[str]:
        body = get_json(scim, shape, f"/Groups/{group['id']}")
        return sorted(m["value"] for m in body.get("members", []))

    # Entra adds one member per operation, sometimes several operations at once.
    response = scim.patch(
        path,
        json=patch_body(
            {"op": shape.op("add"), "path": "members", "value": [{"$ref": None, "value": users[0]}]}
        ),
    )
    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.get_data() == b""
    assert legacy_signals(last_log(app)) == (set() if shape.flag else {"legacy-op-case"})
    response = scim.patch(
        path,
        json=patch_body(
            *(
                {"op": shape.op("add"), "path": "members", "value": [{"value": u}]}
                for u in users[1:]
            )
        ),
    )
    assert response.status_code == 204
    assert members() == sorted(users)
    assert "members-changed" in log_of(app, "PATCH", group["id"]).signals

    # Removing one member leaves the others.
    response = scim.patch(path, json=patch_body(shape.remove_member(users[0])))
    assert response.status_code == 204, response.get_data(as_text=True)
    assert members() == sorted(users[1:])
    row = log_of(app, "PATCH", group["id"])
    expected = set() if shape.flag else {"legacy-op-case", "legacy-member-remove"}
    assert legacy_signals(row) == expected

    # Removing a member who is not there changes nothing and is no error.
    response = scim.patch(path, json=patch_body(shape.remove_member(users[0])))
    assert response.status_code == 204
    assert members() == sorted(users[1:])

    # The member's group shows on the user.
    user = get_json(scim, shape, f"/Users/{users[1]}")
    assert [g["value"] for g in user["groups"]] == [group["id"]]
    assert get_json(scim, shape, f"/Users/{users[0]}").get("groups", []) == []

    # Entra renames groups with a single-valued replace.
    new_name = f"Renamed {uuid.uuid4().hex[:6]}"
    response = scim.patch(
        path, json=patch_body({"op": shape.op("replace"), "path": "displayName", "value": new_name})
    )
    assert response.status_code == 204
    body = get_json(scim, shape, f"/Groups/{group['id']}")
    assert body["displayName"] == new_name
    assert sorted(m["value"] for m in body["members"]) == sorted(users[1:])

    # Deleting a user takes it out of its groups; the others stay.
    assert scim.delete(shape.url(f"/Users/{users[1]}")).status_code == 204
    assert members() == sorted(users[2:])

    assert scim.delete(path).status_code == 204
    assert_error(scim.get(path), 404)


def test_group_patch_with_both_removal_shapes_in_one_request(scim):
    users = [create_user(scim, FLAGGED, unique(f"both{i}"))["id"] for i in range(3)]
    group = create_group(scim, FLAGGED, f"Both {uuid.uuid4().hex[:6]}")
    path = FLAGGED.url(f"/Groups/{group['id']}")
    add = patch_body({"op": "add", "path": "members", "value": [{"value": u} for u in users]})
    assert scim.patch(path, json=add).status_code == 204

    response = scim.patch(
        path, json=patch_body(LEGACY.remove_member(users[0]), FLAGGED.remove_member(users[1]))
    )

    assert response.status_code == 204
    body = get_json(scim, FLAGGED, f"/Groups/{group['id']}")
    assert [m["value"] for m in body["members"]] == [users[2]]


# ---------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------


def test_scim_json_both_ways_and_the_flag_is_ignored(scim, client):
    user_name = unique("frank")
    with_flag = scim.post(f"/scim/v2/Users?{FLAG}", json=entra_user(user_name))
    assert with_flag.status_code == 201
    assert with_flag.mimetype == SCIM_JSON
    assert with_flag.headers["Location"].endswith(f"/scim/v2/Users/{with_flag.get_json()['id']}")

    plain = scim.get(f"/scim/v2/Users/{with_flag.get_json()['id']}")
    flagged = scim.get(f"/scim/v2/Users/{with_flag.get_json()['id']}?{FLAG}")
    assert plain.get_json() == flagged.get_json() == with_flag.get_json()

    # Other clients send plain JSON; the answer is SCIM JSON all the same.
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    response = scim.post("/scim/v2/Users", json=entra_user(unique("grace")), headers=headers)
    assert response.status_code == 201
    assert response.mimetype == SCIM_JSON

    # An unknown path under the flag is still a SCIM error, not an HTML page.
    assert_error(scim.get(f"/scim/v2/Nope?{FLAG}"), 404)
