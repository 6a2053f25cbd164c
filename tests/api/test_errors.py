"""Every /scim/v2 failure answers a SCIM error (RFC 7644 §3.12) with the right status."""

import json
import uuid

import pytest
from scim_checks import GROUP
from scim_checks import SCIM_JSON
from scim_checks import USER
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_group
from scim_checks import create_user
from scim_checks import empty_database
from scim_checks import own_app
from scim_checks import patch_body
from scim_checks import user_body


@pytest.fixture(scope="module")
def module_app(tmp_path_factory, database_url):
    with own_app(tmp_path_factory.mktemp("errors"), url=database_url) as (app, _):
        yield app


@pytest.fixture
def app(module_app):
    """This module's app, emptied: the conftest ``client`` and ``scim`` build on it."""
    empty_database(module_app)
    return module_app


def unique(kind: str = "user") -> str:
    """Return a name no other test in this module uses."""
    return f"{kind}-{uuid.uuid4().hex[:12]}@example.com"


def exists(scim, user_name: str) -> bool:
    response = scim.get("/scim/v2/Users", query_string={"filter": f'userName eq "{user_name}"'})
    return assert_scim_json(response)["totalResults"] > 0


# ---------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/scim/v2/Users", "/scim/v2/Groups"])
def test_malformed_json_is_invalid_syntax(scim, path):
    response = scim.post(path, data=b'{"userName": ', headers={"Content-Type": SCIM_JSON})

    assert_scim_error(response, 400, "invalidSyntax")


def test_empty_body_is_invalid_syntax(scim):
    response = scim.post("/scim/v2/Users", data=b"", headers={"Content-Type": SCIM_JSON})

    assert_scim_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize("sent", [[], ["userName"], "bjensen", 42, None])
def test_non_object_body_is_invalid_syntax(scim, sent):
    response = scim.post(
        "/scim/v2/Users", data=json.dumps(sent), headers={"Content-Type": SCIM_JSON}
    )

    assert_scim_error(response, 400, "invalidSyntax")


def test_non_object_patch_body_is_invalid_syntax(scim):
    user = create_user(scim, unique())

    response = scim.patch(f"/scim/v2/Users/{user['id']}", json=[{"op": "remove"}])

    assert_scim_error(response, 400, "invalidSyntax")


def test_patch_without_operations_is_invalid_syntax(scim):
    user = create_user(scim, unique())

    response = scim.patch(f"/scim/v2/Users/{user['id']}", json=patch_body())

    assert_scim_error(response, 400, "invalidSyntax")


def test_patch_with_unknown_op_is_400(scim):
    user = create_user(scim, unique())

    response = scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "move", "path": "title", "value": "x"}),
    )

    assert_scim_error(response, 400, "invalidValue")


@pytest.mark.parametrize(
    "attributes",
    [
        {"active": "yes"},
        {"userName": 42},
        {"emails": "a@example.com"},
        {"name": "Barbara"},
        {"displayName": {"value": "x"}},
    ],
)
def test_wrong_types_are_invalid_value(scim, attributes):
    response = scim.post("/scim/v2/Users", json={**user_body(unique()), **attributes})

    assert_scim_error(response, 400, "invalidValue")


def test_missing_username_is_invalid_value(scim):
    response = scim.post("/scim/v2/Users", json={"schemas": [USER], "displayName": "A"})

    assert_scim_error(response, 400, "invalidValue")


def test_blank_username_is_invalid_value(scim):
    assert_scim_error(scim.post("/scim/v2/Users", json=user_body("  ")), 400, "invalidValue")


def test_missing_group_display_name_is_invalid_value(scim):
    response = scim.post("/scim/v2/Groups", json={"schemas": [GROUP], "members": []})

    assert_scim_error(response, 400, "invalidValue")


def test_unknown_attribute_is_invalid_syntax(scim):
    response = scim.post("/scim/v2/Users", json={**user_body(unique()), "shoeSize": 42})

    assert_scim_error(response, 400, "invalidSyntax")


def test_wrong_schemas_is_invalid_value(scim):
    response = scim.post("/scim/v2/Users", json={"schemas": [GROUP], "userName": "a"})

    assert_scim_error(response, 400, "invalidValue")


def test_patch_unknown_attribute_path_is_invalid_path(scim):
    user = create_user(scim, unique())

    response = scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "shoeSize", "value": 42}),
    )

    assert_scim_error(response, 400, "invalidPath")


def test_patch_wrong_value_type_is_invalid_value(scim):
    user = create_user(scim, unique())

    response = scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": "maybe"}),
    )

    assert_scim_error(response, 400, "invalidValue")


def test_patch_filter_matching_nothing_is_no_target(scim):
    user = create_user(scim, unique())

    response = scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body(
            {
                "op": "replace",
                "path": 'emails[type eq "work" or type eq "home"].value',
                "value": "x",
            }
        ),
    )

    assert_scim_error(response, 400, "noTarget")


def test_patch_group_remove_display_name_is_mutability(scim):
    group = create_group(scim, unique("group"))

    response = scim.patch(
        f"/scim/v2/Groups/{group['id']}", json=patch_body({"op": "remove", "path": "displayName"})
    )

    assert_scim_error(response, 400, "mutability")


# ---------------------------------------------------------------------------
# Query parameters and filters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filter_text",
    [
        'userName eq "unterminated',
        "userName eq",
        'shoeSize eq "42"',
        "active gt true",
        'active eq "true"',
        'name eq "x"',
        'emails[type eq "work"',
        'userName eq "' + "x" * 5000 + '"',
    ],
)
def test_bad_filter_is_invalid_filter(scim, filter_text):
    response = scim.get("/scim/v2/Users", query_string={"filter": filter_text})

    assert_scim_error(response, 400, "invalidFilter")


@pytest.mark.parametrize("query", ["count=ten", "startIndex=first", "sortOrder=sideways"])
def test_bad_list_parameter_is_invalid_value(scim, query):
    assert_scim_error(scim.get(f"/scim/v2/Users?{query}"), 400, "invalidValue")


# ---------------------------------------------------------------------------
# Unknown ids, paths and methods
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Users", "Groups"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_id_is_404_scim_error(scim, kind, method):
    body = {
        "PUT": user_body(unique()) if kind == "Users" else {"displayName": "G"},
        "PATCH": patch_body({"op": "replace", "path": "displayName", "value": "x"}),
    }.get(method)

    response = scim.open(method, f"/scim/v2/{kind}/{uuid.uuid4()}", json=body)

    assert_scim_error(response, 404)


def test_a_group_id_is_not_a_user(scim):
    group = create_group(scim, unique("group"))

    assert_scim_error(scim.get(f"/scim/v2/Users/{group['id']}"), 404)


@pytest.mark.parametrize(
    "path",
    ["/scim/v2/Nope", "/scim/v2/Users/a/b", "/scim/v2/users", "/scim/v2/ResourceTypes/Device"],
)
def test_unknown_path_is_404_scim_error(scim, path):
    assert_scim_error(scim.get(path), 404)


def test_scim_root_is_404_scim_error(scim):
    assert_scim_error(scim.get("/scim/v2"), 404)


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", "/scim/v2/Users"),
        ("PUT", "/scim/v2/Groups"),
        ("POST", "/scim/v2/Users/some-id"),
        ("PATCH", "/scim/v2/Users"),
        ("POST", "/scim/v2/ServiceProviderConfig"),
        ("GET", "/scim/v2/Bulk"),
    ],
)
def test_wrong_method_is_405_scim_error(scim, method, path):
    response = scim.open(method, path, json={} if method in ("POST", "PUT") else None)

    assert_scim_error(response, 405)


# ---------------------------------------------------------------------------
# Size and content type
# ---------------------------------------------------------------------------


def test_body_over_max_content_length_is_413_scim_error(app, scim):
    limit = app.config["MAX_CONTENT_LENGTH"]
    padding = "x" * limit
    name = unique()
    body = {"schemas": [USER], "userName": name, "title": padding}

    response = scim.post(
        "/scim/v2/Users", data=json.dumps(body), headers={"Content-Type": SCIM_JSON}
    )

    assert_scim_error(response, 413)
    assert not exists(scim, name)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415_scim_error(scim, content_type):
    name = unique()

    response = scim.post(
        "/scim/v2/Users",
        data=json.dumps(user_body(name)),
        headers={"Content-Type": content_type},
    )

    assert_scim_error(response, 415)
    assert not exists(scim, name)


def test_scim_json_with_charset_is_accepted(scim):
    response = scim.post(
        "/scim/v2/Users",
        data=json.dumps(user_body(unique())),
        headers={"Content-Type": "application/scim+json; charset=utf-8"},
    )

    assert response.status_code == 201


# ---------------------------------------------------------------------------
# Conditional requests (RFC 7644 §3.14)
# ---------------------------------------------------------------------------


def test_get_with_current_if_none_match_is_304(scim):
    user = create_user(scim, unique())
    etag = user["meta"]["version"]

    response = scim.get(f"/scim/v2/Users/{user['id']}", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag


def test_get_with_stale_if_none_match_is_200(scim):
    user = create_user(scim, unique())
    scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "title", "value": "T"}),
    )

    response = scim.get(
        f"/scim/v2/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]}
    )

    assert assert_scim_json(response)["title"] == "T"


def test_group_get_with_current_if_none_match_is_304(scim):
    group = create_group(scim, unique("group"))

    response = scim.get(
        f"/scim/v2/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]}
    )

    assert response.status_code == 304


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_user_write_with_stale_if_match_is_412_and_changes_nothing(scim, method):
    user = create_user(scim, unique(), title="T")
    body = {
        "PUT": user_body(user["userName"], title="U"),
        "PATCH": patch_body({"op": "replace", "path": "title", "value": "U"}),
    }.get(method)

    response = scim.open(
        method, f"/scim/v2/Users/{user['id']}", json=body, headers={"If-Match": 'W/"99"'}
    )

    assert_scim_error(response, 412)
    assert assert_scim_json(scim.get(f"/scim/v2/Users/{user['id']}")) == user


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_group_write_with_stale_if_match_is_412_and_changes_nothing(scim, method):
    group = create_group(scim, unique("group"))
    body = {
        "PUT": {"displayName": unique("group")},
        "PATCH": patch_body({"op": "replace", "path": "displayName", "value": unique("group")}),
    }.get(method)

    response = scim.open(
        method, f"/scim/v2/Groups/{group['id']}", json=body, headers={"If-Match": 'W/"99"'}
    )

    assert_scim_error(response, 412)
    assert assert_scim_json(scim.get(f"/scim/v2/Groups/{group['id']}")) == group


def test_write_with_current_if_match_succeeds(scim):
    user = create_user(scim, unique())

    response = scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "title", "value": "U"}),
        headers={"If-Match": user["meta"]["version"]},
    )

    body = assert_scim_json(response)
    assert body["title"] == "U"
    assert response.headers["ETag"] == body["meta"]["version"] != user["meta"]["version"]


def test_group_write_with_current_or_star_if_match_succeeds(scim):
    group = create_group(scim, unique("group"))

    first = scim.patch(
        f"/scim/v2/Groups/{group['id']}",
        json=patch_body({"op": "replace", "path": "displayName", "value": unique("group")}),
        headers={"If-Match": group["meta"]["version"]},
    )
    second = scim.patch(
        f"/scim/v2/Groups/{group['id']}",
        json=patch_body({"op": "replace", "path": "displayName", "value": unique("group")}),
        headers={"If-Match": "*"},
    )

    assert first.status_code == 204
    assert second.status_code == 204


def test_if_match_on_unknown_group_is_404(scim):
    response = scim.patch(
        f"/scim/v2/Groups/{uuid.uuid4()}",
        json=patch_body({"op": "replace", "path": "displayName", "value": unique("group")}),
        headers={"If-Match": 'W/"1"'},
    )

    assert_scim_error(response, 404)
