"""Resource validation (canonical) and projection, without an app."""

import copy
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

from unleash_wizard.scim.errors import ScimError
from unleash_wizard.scim.resources import ADSCIM_GROUP
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.scim.resources import Attribute
from unleash_wizard.scim.resources import canonical
from unleash_wizard.scim.resources import coerce
from unleash_wizard.scim.resources import group_type
from unleash_wizard.scim.resources import iso
from unleash_wizard.scim.resources import parse_attribute_list
from unleash_wizard.scim.resources import project
from unleash_wizard.scim.resources import resolve_text
from unleash_wizard.scim.resources import user_type

CUSTOM = "urn:example:params:scim:schemas:extension:acme:2.0:User"


def user(**attributes):
    return canonical(user_type(), {"schemas": [USER], "userName": "bjensen", **attributes})


def assert_refused(scim_type, body, rtype=None):
    with pytest.raises(ScimError) as caught:
        canonical(rtype or user_type(), body)
    assert caught.value.status == 400
    assert caught.value.scim_type == scim_type
    return caught.value


# ---------------------------------------------------------------------------
# canonical()
# ---------------------------------------------------------------------------


def test_canonical_keeps_writable_attributes_without_schemas():
    result = user(displayName="Babs", active=False)

    assert result == {"userName": "bjensen", "displayName": "Babs", "active": False}


def test_attribute_names_match_case_insensitively_and_take_schema_spelling():
    result = canonical(
        user_type(),
        {"schemas": [USER], "USERNAME": "bjensen", "Name": {"GIVENNAME": "Barbara"}},
    )

    assert result == {"userName": "bjensen", "name": {"givenName": "Barbara"}}


def test_schema_urns_match_case_insensitively():
    result = canonical(
        user_type(),
        {
            "schemas": [USER.upper(), ENTERPRISE.lower()],
            "userName": "bjensen",
            ENTERPRISE.lower(): {"DEPARTMENT": "Tour"},
        },
    )

    assert result == {"userName": "bjensen", ENTERPRISE: {"department": "Tour"}}


def test_read_only_attributes_are_ignored():
    result = user(
        id="client-chosen",
        meta={"created": "2020-01-01T00:00:00Z", "resourceType": "User"},
        groups=[{"value": "g1"}],
    )

    assert result == {"userName": "bjensen"}


def test_read_only_sub_attribute_is_ignored():
    result = user(**{ENTERPRISE: {"manager": {"value": "m-1", "displayName": "Boss"}}})

    assert result[ENTERPRISE] == {"manager": {"value": "m-1"}}


def test_external_id_is_kept():
    assert user(externalId="ext-1")["externalId"] == "ext-1"


def test_null_values_are_dropped():
    result = user(displayName=None, emails=[None, {"value": "a@example.com"}])

    assert result == {"userName": "bjensen", "emails": [{"value": "a@example.com"}]}


def test_enterprise_extension_lands_under_its_urn():
    result = canonical(
        user_type(),
        {
            "schemas": [USER, ENTERPRISE],
            "userName": "bjensen",
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "m-1"}},
        },
    )

    assert result[ENTERPRISE] == {"employeeNumber": "701984", "manager": {"value": "m-1"}}


def test_schemas_may_be_omitted():
    assert canonical(user_type(), {"userName": "bjensen"}) == {"userName": "bjensen"}


@pytest.mark.parametrize(
    "attributes",
    [
        {"active": "yes"},
        {"active": "False"},
        {"userName": 5},
        {"displayName": ["Babs"]},
        {"emails": {"value": "a@example.com"}},
        {"emails": ["a@example.com"]},
        {"name": "Barbara Jensen"},
        {"emails": [{"value": "a@example.com", "primary": "true"}]},
        {"externalId": 7},
        {ENTERPRISE: "Tour"},
        {"displayName": "nul\x00byte"},
    ],
)
def test_wrong_types_are_invalid_value(attributes):
    body = {"schemas": [USER, ENTERPRISE], "userName": "bjensen", **attributes}

    assert_refused("invalidValue", body)


def test_unknown_attribute_is_invalid_syntax():
    error = assert_refused("invalidSyntax", {"schemas": [USER], "userName": "b", "shoeSize": 42})
    assert "shoeSize" in error.detail


def test_unknown_sub_attribute_is_invalid_syntax():
    assert_refused("invalidSyntax", {"userName": "b", "name": {"middle": "x"}})


def test_unknown_attribute_in_enterprise_extension_is_invalid_syntax():
    assert_refused(
        "invalidSyntax",
        {"schemas": [USER, ENTERPRISE], "userName": "b", ENTERPRISE: {"shoeSize": "42"}},
    )


def test_missing_username_is_invalid_value():
    error = assert_refused("invalidValue", {"schemas": [USER], "displayName": "Babs"})
    assert "userName" in error.detail


def test_null_username_is_invalid_value():
    assert_refused("invalidValue", {"schemas": [USER], "userName": None})


def test_missing_group_display_name_is_invalid_value():
    assert_refused("invalidValue", {"schemas": [GROUP], "members": []}, group_type())


def test_schemas_without_the_core_schema_is_invalid_value():
    assert_refused("invalidValue", {"schemas": [GROUP], "userName": "b"})


def test_schemas_that_is_not_a_list_of_strings_is_invalid_value():
    assert_refused("invalidValue", {"schemas": USER, "userName": "b"})
    assert_refused("invalidValue", {"schemas": [USER, 1], "userName": "b"})


@pytest.mark.parametrize("body", [[], "x", 1, None])
def test_body_that_is_not_an_object_is_invalid_syntax(body):
    assert_refused("invalidSyntax", body)


def test_entra_adscim_group_schema_is_accepted_and_dropped():
    body = {
        "schemas": [GROUP, ADSCIM_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "members": [],
    }

    result = canonical(group_type(), body)

    # An empty list is unassigned (RFC 7643 §2.5), so "members": [] is not kept.
    assert result == {
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
    }


def test_entra_adscim_group_object_is_dropped_even_when_not_listed():
    result = canonical(group_type(), {"schemas": [GROUP], "displayName": "G", ADSCIM_GROUP: {}})

    assert result == {"displayName": "G"}


def test_unknown_extension_listed_in_schemas_is_kept_as_sent():
    result = canonical(
        user_type(),
        {"schemas": [USER, CUSTOM], "userName": "bjensen", CUSTOM: {"badge": "B-7"}},
    )

    assert result[CUSTOM] == {"badge": "B-7"}


def test_unknown_extension_not_listed_in_schemas_is_invalid_syntax():
    assert_refused(
        "invalidSyntax", {"schemas": [USER], "userName": "bjensen", CUSTOM: {"badge": "B-7"}}
    )


def test_group_members_are_kept_without_client_sent_display():
    result = canonical(
        group_type(),
        {"schemas": [GROUP], "displayName": "G", "members": [{"value": "u1", "display": "B"}]},
    )

    assert result["members"] == [{"value": "u1"}]


def test_group_member_with_unknown_sub_attribute_is_invalid_syntax():
    assert_refused(
        "invalidSyntax",
        {"schemas": [GROUP], "displayName": "G", "members": [{"value": "u1", "x": 1}]},
        group_type(),
    )


def test_datetime_value_must_be_xsd_datetime():
    when = Attribute(name="when", type="dateTime")

    assert coerce(when, "2024-05-01T12:00:00Z", "when") == "2024-05-01T12:00:00Z"
    with pytest.raises(ScimError) as caught:
        coerce(when, "yesterday", "when")
    assert caught.value.scim_type == "invalidValue"


# ---------------------------------------------------------------------------
# Attribute paths
# ---------------------------------------------------------------------------


def test_resolve_text_reads_dotted_and_urn_paths():
    assert resolve_text(user_type(), "name.givenName").name == "name.givenName"
    assert resolve_text(user_type(), f"{USER}:name.givenName").name == "name.givenName"
    ref = resolve_text(user_type(), f"{ENTERPRISE}:manager.value")
    assert ref.urn == ENTERPRISE and ref.name == "manager.value"


def test_resolve_text_returns_none_for_unknown_paths():
    for path in ("shoeSize", "name.middle", f"{CUSTOM}:badge", USER):
        assert resolve_text(user_type(), path) is None


def test_parse_attribute_list_ignores_unknown_names():
    refs = parse_attribute_list(user_type(), "userName, shoeSize,,name.givenName")

    assert [r.name for r in refs] == ["userName", "name.givenName"]


def test_parse_attribute_list_of_nothing_is_none():
    assert parse_attribute_list(user_type(), None) is None
    assert parse_attribute_list(user_type(), "") is None


# ---------------------------------------------------------------------------
# Projection (RFC 7644 §3.4.2.5)
# ---------------------------------------------------------------------------

RESOURCE = {
    "schemas": [USER, ENTERPRISE],
    "id": "2819c223",
    "userName": "bjensen",
    "displayName": "Babs",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "b@example.com", "type": "work", "primary": True}],
    ENTERPRISE: {"department": "Tour", "employeeNumber": "701984"},
    "meta": {"resourceType": "User", "version": 'W/"1"'},
}


def projected(attributes=None, excluded=None, resource=RESOURCE):
    rtype = user_type()
    return project(
        rtype,
        copy.deepcopy(resource),
        parse_attribute_list(rtype, attributes),
        parse_attribute_list(rtype, excluded),
    )


def test_no_projection_returns_the_resource():
    assert projected() == RESOURCE


def test_attributes_returns_only_those_plus_schemas_and_id():
    assert projected("userName") == {
        "schemas": RESOURCE["schemas"],
        "id": "2819c223",
        "userName": "bjensen",
    }


def test_attributes_match_case_insensitively():
    assert projected("USERNAME")["userName"] == "bjensen"


def test_attributes_with_sub_attribute_returns_only_that_sub_attribute():
    result = projected("name.givenName,emails.value")

    assert result["name"] == {"givenName": "Barbara"}
    assert result["emails"] == [{"value": "b@example.com"}]
    assert "displayName" not in result


def test_attributes_parent_and_sub_attribute_returns_the_whole_parent():
    assert projected("name.givenName,name")["name"] == RESOURCE["name"]
    assert projected("name,name.givenName")["name"] == RESOURCE["name"]


def test_attributes_with_extension_path_keeps_only_that_extension_attribute():
    result = projected(f"{ENTERPRISE}:department")

    assert result[ENTERPRISE] == {"department": "Tour"}
    assert "userName" not in result


def test_attributes_naming_an_absent_attribute_leaves_it_out():
    assert "title" not in projected("title")


def test_excluded_attributes_drops_those():
    result = projected(excluded="emails,displayName")

    assert "emails" not in result and "displayName" not in result
    assert result["userName"] == "bjensen"


def test_excluded_attributes_never_drops_returned_always_id():
    assert projected(excluded="id")["id"] == "2819c223"


def test_excluded_sub_attribute_keeps_its_siblings():
    result = projected(excluded="name.familyName,emails.type")

    assert result["name"] == {"givenName": "Barbara"}
    assert result["emails"] == [{"value": "b@example.com", "primary": True}]


def test_excluded_extension_attribute_keeps_the_rest_of_the_extension():
    result = projected(excluded=f"{ENTERPRISE}:employeeNumber")

    assert result[ENTERPRISE] == {"department": "Tour"}


def test_projection_leaves_the_input_unchanged():
    resource = copy.deepcopy(RESOURCE)
    rtype = user_type()

    project(rtype, resource, None, parse_attribute_list(rtype, f"{ENTERPRISE}:department,name"))

    assert resource == RESOURCE


def test_group_excluded_members_drops_members():
    rtype = group_type()
    group = {"schemas": [GROUP], "id": "g", "displayName": "G", "members": [{"value": "u"}]}

    result = project(rtype, group, None, parse_attribute_list(rtype, "members"))

    assert result == {"schemas": [GROUP], "id": "g", "displayName": "G"}


def test_iso_renders_utc_with_microseconds_and_z():
    moment = datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    assert iso(moment) == "2024-05-01T12:30:00.123456Z"
    assert iso(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00.000000Z"
    assert iso(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00.000000Z"
