"""Discovery (RFC 7644 §4), root search and the endpoints this service does not offer."""

import pytest
from scim_checks import ENTERPRISE
from scim_checks import GROUP
from scim_checks import LIST
from scim_checks import SEARCH
from scim_checks import USER
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_group
from scim_checks import create_user
from scim_checks import empty_database
from scim_checks import ids
from scim_checks import own_app

SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
PUBLIC = "https://wizard.example.com/scim/v2"


@pytest.fixture(scope="module")
def module_app(tmp_path_factory, database_url):
    with own_app(tmp_path_factory.mktemp("discovery"), url=database_url) as (app, _):
        yield app


@pytest.fixture
def app(module_app):
    """This module's app, emptied: the conftest ``client`` and ``scim`` build on it."""
    empty_database(module_app)
    return module_app


# ---------------------------------------------------------------------------
# ServiceProviderConfig
# ---------------------------------------------------------------------------


def test_service_provider_config_tells_what_is_supported(app, scim):
    body = assert_scim_json(scim.get("/scim/v2/ServiceProviderConfig"))

    assert body["schemas"] == [SPC]
    assert body["patch"] == {"supported": True}
    assert body["filter"]["supported"] is True
    assert body["filter"]["maxResults"] == app.config["SCIM_MAX_RESULTS"]
    assert body["sort"] == {"supported": True}
    assert body["etag"] == {"supported": True}
    assert body["bulk"]["supported"] is False
    assert body["changePassword"] == {"supported": False}
    schemes = body["authenticationSchemes"]
    assert [s["type"] for s in schemes] == ["oauthbearertoken"]
    assert body["meta"]["location"] == f"{PUBLIC}/ServiceProviderConfig"


def test_filter_max_results_is_what_lists_honour(app, scim, monkeypatch):
    monkeypatch.setitem(app.config, "SCIM_MAX_RESULTS", 2)
    for i in range(3):
        create_user(scim, f"u{i}@example.com")

    spc = assert_scim_json(scim.get("/scim/v2/ServiceProviderConfig"))
    body = assert_scim_json(scim.get("/scim/v2/Users?count=100"))

    assert spc["filter"]["maxResults"] == 2
    assert body["itemsPerPage"] == 2
    assert body["totalResults"] == 3


def test_etag_support_is_real(scim):
    user = create_user(scim, "etag@example.com")

    response = scim.get(f"/scim/v2/Users/{user['id']}")

    assert response.headers["ETag"] == user["meta"]["version"]


def test_sort_support_is_real(scim):
    for name in ("b@example.com", "a@example.com"):
        create_user(scim, name)

    body = assert_scim_json(scim.get("/scim/v2/Users?sortBy=userName"))

    assert [r["userName"] for r in body["Resources"]] == ["a@example.com", "b@example.com"]


# ---------------------------------------------------------------------------
# ResourceTypes
# ---------------------------------------------------------------------------


def test_resource_types_list_users_and_groups(scim):
    body = assert_scim_json(scim.get("/scim/v2/ResourceTypes"))

    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 2
    by_id = {r["id"]: r for r in body["Resources"]}
    assert set(by_id) == {"User", "Group"}
    user = by_id["User"]
    assert user["schemas"] == [RESOURCE_TYPE]
    assert user["endpoint"] == "/Users"
    assert user["schema"] == USER
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert user["meta"]["location"] == f"{PUBLIC}/ResourceTypes/User"
    group = by_id["Group"]
    assert group["endpoint"] == "/Groups"
    assert group["schema"] == GROUP
    assert not group.get("schemaExtensions")


@pytest.mark.parametrize("name", ["User", "Group"])
def test_resource_type_by_id(scim, name):
    body = assert_scim_json(scim.get(f"/scim/v2/ResourceTypes/{name}"))

    assert body["id"] == name
    assert body["schemas"] == [RESOURCE_TYPE]


def test_unknown_resource_type_is_404(scim):
    assert_scim_error(scim.get("/scim/v2/ResourceTypes/Device"), 404)


# ---------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------


def schema_attributes(schema: dict) -> dict[str, dict]:
    return {a["name"]: a for a in schema["attributes"]}


def test_schemas_list_user_group_and_enterprise(scim):
    body = assert_scim_json(scim.get("/scim/v2/Schemas"))

    assert body["schemas"] == [LIST]
    assert {s["id"] for s in body["Resources"]} == {USER, GROUP, ENTERPRISE}
    for schema in body["Resources"]:
        assert schema["schemas"] == [SCHEMA]
        assert schema["meta"]["location"] == f"{PUBLIC}/Schemas/{schema['id']}"
        assert schema["attributes"]


@pytest.mark.parametrize("urn", [USER, GROUP, ENTERPRISE])
def test_schema_by_urn(scim, urn):
    body = assert_scim_json(scim.get(f"/scim/v2/Schemas/{urn}"))

    assert body["id"] == urn
    assert body["schemas"] == [SCHEMA]


def test_schema_urn_lookup_is_case_insensitive(scim):
    assert assert_scim_json(scim.get(f"/scim/v2/Schemas/{USER.lower()}"))["id"] == USER


def test_unknown_schema_is_404(scim):
    assert_scim_error(scim.get("/scim/v2/Schemas/urn:example:nothing"), 404)


def test_user_schema_matches_what_the_service_keeps(scim):
    schema = assert_scim_json(scim.get(f"/scim/v2/Schemas/{USER}"))
    attributes = schema_attributes(schema)

    # No SCIM passwords are kept, so none is advertised.
    assert "password" not in attributes
    assert attributes["userName"]["required"] is True
    assert attributes["userName"]["uniqueness"] == "server"
    assert attributes["userName"]["caseExact"] is False
    assert attributes["groups"]["mutability"] == "readOnly"
    assert attributes["active"]["type"] == "boolean"


def test_group_schema_marks_display_name_unique(scim):
    schema = assert_scim_json(scim.get(f"/scim/v2/Schemas/{GROUP}"))

    assert schema_attributes(schema)["displayName"]["uniqueness"] == "server"


def test_every_advertised_user_attribute_is_accepted(scim):
    schema = assert_scim_json(scim.get(f"/scim/v2/Schemas/{USER}"))
    samples = {"string": "x", "boolean": True, "reference": "https://example.com/x"}
    body = {"schemas": [USER], "userName": "everything@example.com"}
    for attribute in schema["attributes"]:
        if attribute["mutability"] == "readOnly" or attribute["name"] == "userName":
            continue
        if attribute["type"] == "complex":
            value = {
                sub["name"]: samples.get(sub["type"], "eA==")
                for sub in attribute["subAttributes"]
                if sub["mutability"] != "readOnly"
            }
            if attribute.get("multiValued"):
                value = [{**value, "primary": True} if "primary" in value else value]
        else:
            value = samples[attribute["type"]]
        body[attribute["name"]] = value

    response = scim.post("/scim/v2/Users", json=body)

    created = assert_scim_json(response, 201)
    for name in body:
        if name != "schemas":
            assert name in created


# ---------------------------------------------------------------------------
# Bulk, /Me and root search
# ---------------------------------------------------------------------------


def test_bulk_is_501_as_the_config_says(scim):
    response = scim.post(
        "/scim/v2/Bulk",
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []},
    )

    body = assert_scim_error(response, 501)
    assert "ServiceProviderConfig" in body["detail"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_me_is_501(scim, method):
    response = scim.open(method, "/scim/v2/Me", json={} if method != "GET" else None)

    assert_scim_error(response, 501)


def test_root_search_returns_users_and_groups(scim):
    user = create_user(scim, "a@example.com", displayName="Shared")
    group = create_group(scim, "Shared")
    create_group(scim, "Other")

    response = scim.post(
        "/scim/v2/.search", json={"schemas": [SEARCH], "filter": 'displayName eq "shared"'}
    )

    body = assert_scim_json(response)
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 2
    assert ids(body) == {user["id"], group["id"]}
    kinds = {r["meta"]["resourceType"] for r in body["Resources"]}
    assert kinds == {"User", "Group"}


def test_root_search_with_user_only_attribute_returns_users(scim):
    user = create_user(scim, "a@example.com")
    create_group(scim, "G")

    response = scim.post(
        "/scim/v2/.search", json={"schemas": [SEARCH], "filter": 'userName sw "a"'}
    )

    assert ids(assert_scim_json(response)) == {user["id"]}


def test_root_search_without_filter_pages_over_everything(scim):
    for i in range(3):
        create_user(scim, f"u{i}@example.com")
    create_group(scim, "G")

    first = assert_scim_json(
        scim.post("/scim/v2/.search", json={"schemas": [SEARCH], "startIndex": 1, "count": 3})
    )
    second = assert_scim_json(
        scim.post("/scim/v2/.search", json={"schemas": [SEARCH], "startIndex": 4, "count": 3})
    )

    assert first["totalResults"] == second["totalResults"] == 4
    assert first["itemsPerPage"] == 3
    assert second["itemsPerPage"] == 1
    assert second["startIndex"] == 4
    assert ids(first).isdisjoint(ids(second))


def test_root_search_with_attribute_no_type_has_is_invalid_filter(scim):
    response = scim.post(
        "/scim/v2/.search", json={"schemas": [SEARCH], "filter": 'shoeSize eq "1"'}
    )

    assert_scim_error(response, 400, "invalidFilter")


def test_root_search_with_wrong_schema_is_400(scim):
    response = scim.post("/scim/v2/.search", json={"schemas": [USER]})

    assert_scim_error(response, 400, "invalidValue")


def test_root_search_excluded_attributes_apply(scim):
    user = create_user(scim, "a@example.com")
    group = create_group(scim, "G", [user["id"]])

    response = scim.post(
        "/scim/v2/.search",
        json={"schemas": [SEARCH], "excludedAttributes": ["members", "groups", "meta"]},
    )

    body = assert_scim_json(response)
    assert ids(body) == {user["id"], group["id"]}
    for resource in body["Resources"]:
        assert not {"members", "groups", "meta"} & set(resource)


def test_discovery_paths_ignore_unknown_query_parameters(scim):
    response = scim.get("/scim/v2/ServiceProviderConfig?aadOptscim062020")

    assert assert_scim_json(response)["schemas"] == [SPC]
