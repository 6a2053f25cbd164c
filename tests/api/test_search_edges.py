"""Presence on complex attributes, meta.resourceType, sorting on any attribute, 405s."""

from scim_checks import ENTERPRISE
from scim_checks import SEARCH
from scim_checks import USER
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_group
from scim_checks import create_user


def names(response) -> list[str]:
    return [
        r.get("userName") or r.get("displayName") for r in assert_scim_json(response)["Resources"]
    ]


def test_pr_on_complex_attributes_tests_that_they_hold_something(scim):
    create_user(
        scim,
        "full@example.com",
        schemas=[USER, ENTERPRISE],
        name={"givenName": "Full"},
        addresses=[{"locality": "Oslo"}],
        **{ENTERPRISE: {"manager": {"value": "boss-id"}}},
    )
    create_user(scim, "bare@example.com")

    for text in ("name pr", "addresses pr", f"{ENTERPRISE}:manager pr"):
        assert names(scim.get("/scim/v2/Users", query_string={"filter": text})) == [
            "full@example.com"
        ]
    negated = scim.get("/scim/v2/Users", query_string={"filter": "not (name pr)"})
    assert names(negated) == ["bare@example.com"]


def test_an_all_null_complex_value_is_unassigned(scim):
    user = create_user(scim, "nulls@example.com", name={"givenName": None})

    assert "name" not in user


def test_meta_resource_type_filters_by_type_on_root_search(scim):
    create_user(scim, "u@example.com")
    create_group(scim, "Team")

    def search(text):
        return scim.post("/scim/v2/.search", json={"schemas": [SEARCH], "filter": text})

    assert names(search('meta.resourceType eq "User"')) == ["u@example.com"]
    assert names(search('meta.resourceType eq "Group"')) == ["Team"]


def test_sort_by_an_attribute_without_a_column_puts_unassigned_last(scim):
    create_user(scim, "b@example.com", title="Boss")
    create_user(scim, "n@example.com")
    create_user(scim, "a@example.com", title="Analyst")

    ascending = scim.get("/scim/v2/Users", query_string={"sortBy": "title"})
    descending = scim.get(
        "/scim/v2/Users", query_string={"sortBy": "title", "sortOrder": "descending"}
    )

    assert names(ascending) == ["a@example.com", "b@example.com", "n@example.com"]
    assert names(descending) == ["n@example.com", "b@example.com", "a@example.com"]


def test_sort_by_a_multi_valued_or_unknown_attribute_is_invalid_value(scim):
    create_user(scim, "x@example.com")

    for attribute in ("emails.value", "nope"):
        response = scim.get("/scim/v2/Users", query_string={"sortBy": attribute})
        assert_scim_error(response, 400, "invalidValue")


def test_get_on_a_search_endpoint_is_405_with_allow(scim):
    for path in ("/scim/v2/Users/.search", "/scim/v2/Groups/.search"):
        response = scim.get(path)
        assert_scim_error(response, 405)
        assert response.headers["Allow"] == "POST"


def test_wrong_method_names_the_allowed_ones(scim):
    response = scim.put("/scim/v2/Users", json={})

    assert_scim_error(response, 405)
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
