"""PATCH semantics (RFC 7644 §3.5.2) on plain dicts, without an app."""

import copy

import pytest

from unleash_wizard.scim.errors import ScimError
from unleash_wizard.scim.patch import MAX_OPERATIONS
from unleash_wizard.scim.patch import apply_patch
from unleash_wizard.scim.patch import check_operations
from unleash_wizard.scim.patch import split_members
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.scim.resources import group_type
from unleash_wizard.scim.resources import user_type

BARBARA = {
    "userName": "bjensen@example.com",
    "displayName": "Babs Jensen",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "babs@home.example.com", "type": "home", "primary": True}],
    "active": True,
}


def patch_user(*operations, resource=None):
    return apply_patch(user_type(), copy.deepcopy(resource or BARBARA), list(operations))


def assert_patch_error(scim_type, *operations, resource=None):
    with pytest.raises(ScimError) as caught:
        patch_user(*operations, resource=resource)
    assert caught.value.status == 400
    assert caught.value.scim_type == scim_type
    return caught.value


# ---------------------------------------------------------------------------
# check_operations
# ---------------------------------------------------------------------------


def test_check_operations_returns_the_operations():
    operations = [{"op": "replace", "path": "active", "value": False}]

    assert check_operations({"Operations": operations}) == operations


def test_check_operations_reads_the_key_case_insensitively():
    operations = [{"op": "remove", "path": "title"}]

    assert check_operations({"operations": operations}) == operations


@pytest.mark.parametrize("body", [[], "x", None, {}, {"Operations": []}, {"Operations": {}}])
def test_check_operations_refuses_a_body_without_operations(body):
    with pytest.raises(ScimError) as caught:
        check_operations(body)
    assert caught.value.scim_type == "invalidSyntax"


def test_check_operations_refuses_an_operation_that_is_not_an_object():
    with pytest.raises(ScimError) as caught:
        check_operations({"Operations": ["replace"]})
    assert caught.value.scim_type == "invalidSyntax"


def test_check_operations_refuses_an_unknown_op():
    with pytest.raises(ScimError) as caught:
        check_operations({"Operations": [{"op": "move", "path": "title", "value": "x"}]})
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidValue"


@pytest.mark.parametrize("op", ["add", "replace"])
def test_check_operations_refuses_add_or_replace_without_value(op):
    with pytest.raises(ScimError) as caught:
        check_operations({"Operations": [{"op": op, "path": "title"}]})
    assert caught.value.scim_type == "invalidValue"


def test_check_operations_accepts_remove_without_value():
    assert check_operations({"Operations": [{"op": "remove", "path": "title"}]})


def test_check_operations_refuses_a_path_that_is_not_a_string():
    with pytest.raises(ScimError) as caught:
        check_operations({"Operations": [{"op": "remove", "path": ["title"]}]})
    assert caught.value.scim_type == "invalidPath"


def test_check_operations_refuses_too_many_operations():
    operations = [{"op": "remove", "path": "title"}] * (MAX_OPERATIONS + 1)
    with pytest.raises(ScimError) as caught:
        check_operations({"Operations": operations})
    assert caught.value.status == 400


# ---------------------------------------------------------------------------
# add / replace / remove with a path
# ---------------------------------------------------------------------------


def test_patch_active_false_disables_user():
    result = patch_user({"op": "replace", "path": "active", "value": False})

    assert result["active"] is False


def test_apply_patch_leaves_the_input_unchanged():
    resource = copy.deepcopy(BARBARA)

    apply_patch(user_type(), resource, [{"op": "replace", "path": "displayName", "value": "B"}])

    assert resource == BARBARA


def test_replace_single_valued_attribute_sets_it():
    result = patch_user({"op": "replace", "path": "displayName", "value": "Barbara J."})

    assert result["displayName"] == "Barbara J."


def test_replace_of_an_absent_attribute_adds_it():
    result = patch_user({"op": "replace", "path": "title", "value": "Tour Guide"})

    assert result["title"] == "Tour Guide"


def test_attribute_path_is_case_insensitive_and_stored_in_schema_spelling():
    result = patch_user({"op": "replace", "path": "DISPLAYNAME", "value": "B"})

    assert result["displayName"] == "B"
    assert "DISPLAYNAME" not in result


def test_urn_qualified_core_path_is_the_same_attribute():
    result = patch_user({"op": "replace", "path": f"{USER}:displayName", "value": "B"})

    assert result["displayName"] == "B"


def test_replace_sub_attribute_keeps_its_siblings():
    result = patch_user({"op": "replace", "path": "name.givenName", "value": "Babs"})

    assert result["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_add_sub_attribute_creates_the_complex_attribute():
    resource = {"userName": "x"}

    result = patch_user({"op": "add", "path": "name.familyName", "value": "Doe"}, resource=resource)

    assert result["name"] == {"familyName": "Doe"}


def test_add_complex_attribute_merges_sub_attributes():
    result = patch_user({"op": "add", "path": "name", "value": {"middleName": "Jane"}})

    assert result["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane"}


def test_replace_complex_attribute_leaves_unspecified_sub_attributes_unchanged():
    # RFC 7644 §3.5.2.3: "Sub-attributes that are not specified in the 'value'
    # parameter are left unchanged."
    result = patch_user({"op": "replace", "path": "name", "value": {"givenName": "Babs"}})

    assert result["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_pathless_replace_of_complex_attribute_leaves_unspecified_sub_attributes_unchanged():
    result = patch_user({"op": "replace", "value": {"name": {"givenName": "Babs"}}})

    assert result["name"] == {"givenName": "Babs", "familyName": "Jensen"}


def test_add_to_multi_valued_attribute_appends():
    work = {"value": "bjensen@example.com", "type": "work"}

    result = patch_user({"op": "add", "path": "emails", "value": [work]})

    assert result["emails"] == [BARBARA["emails"][0], work]


def test_add_of_an_existing_value_does_not_duplicate_it():
    result = patch_user({"op": "add", "path": "emails", "value": copy.deepcopy(BARBARA["emails"])})

    assert result["emails"] == BARBARA["emails"]


def test_replace_multi_valued_attribute_without_filter_replaces_all_values():
    work = {"value": "bjensen@example.com", "type": "work"}

    result = patch_user({"op": "replace", "path": "emails", "value": [work]})

    assert result["emails"] == [work]


def test_remove_single_valued_attribute():
    result = patch_user({"op": "remove", "path": "displayName"})

    assert "displayName" not in result


def test_remove_sub_attribute_keeps_its_siblings():
    result = patch_user({"op": "remove", "path": "name.givenName"})

    assert result["name"] == {"familyName": "Jensen"}


def test_remove_multi_valued_attribute_removes_all_values():
    result = patch_user({"op": "remove", "path": "emails"})

    assert "emails" not in result


def test_remove_multi_valued_by_value_removes_only_that_value():
    resource = {
        **BARBARA,
        "emails": [
            {"value": "a@example.com", "type": "home"},
            {"value": "b@example.com", "type": "work"},
        ],
    }

    result = patch_user(
        {"op": "remove", "path": "emails", "value": [{"value": "a@example.com"}]},
        resource=resource,
    )

    assert result["emails"] == [{"value": "b@example.com", "type": "work"}]


def test_remove_of_an_absent_attribute_succeeds():
    result = patch_user({"op": "remove", "path": "title"})

    assert "title" not in result


def test_replace_with_null_removes_the_attribute():
    result = patch_user({"op": "replace", "path": "displayName", "value": None})

    assert "displayName" not in result


def test_replace_external_id_is_allowed():
    result = patch_user({"op": "replace", "path": "externalId", "value": "ext-1"})

    assert result["externalId"] == "ext-1"


def test_operations_apply_in_order():
    result = patch_user(
        {"op": "replace", "path": "title", "value": "first"},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "title", "value": "third"},
    )

    assert result["title"] == "third"


def test_enterprise_attribute_path_lands_under_the_extension_urn():
    result = patch_user({"op": "add", "path": f"{ENTERPRISE}:department", "value": "Tour"})

    assert result[ENTERPRISE] == {"department": "Tour"}


def test_enterprise_manager_value_path_sets_the_sub_attribute():
    result = patch_user({"op": "replace", "path": f"{ENTERPRISE}:manager.value", "value": "m-1"})

    assert result[ENTERPRISE] == {"manager": {"value": "m-1"}}


def test_removing_the_last_extension_attribute_drops_the_extension():
    resource = {**BARBARA, ENTERPRISE: {"department": "Tour"}}

    result = patch_user({"op": "remove", "path": f"{ENTERPRISE}:department"}, resource=resource)

    assert ENTERPRISE not in result


# ---------------------------------------------------------------------------
# Value filters
# ---------------------------------------------------------------------------


def test_replace_filtered_sub_attribute_changes_only_matching_items():
    resource = {
        **BARBARA,
        "emails": [
            {"value": "a@home.example.com", "type": "home"},
            {"value": "a@work.example.com", "type": "work"},
        ],
    }

    result = patch_user(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
        resource=resource,
    )

    assert result["emails"] == [
        {"value": "a@home.example.com", "type": "home"},
        {"value": "new@example.com", "type": "work"},
    ]


def test_filter_in_path_matches_case_insensitively_on_case_insensitive_sub_attribute():
    result = patch_user(
        {"op": "replace", "path": 'emails[type eq "HOME"].value', "value": "h@example.com"}
    )

    assert result["emails"][0]["value"] == "h@example.com"


@pytest.mark.parametrize("op", ["add", "replace"])
def test_filtered_path_matching_nothing_creates_the_entry_it_describes(op):
    result = patch_user(
        {"op": op, "path": 'emails[type eq "work"].value', "value": "bjensen@example.com"}
    )

    assert result["emails"] == [
        BARBARA["emails"][0],
        {"type": "work", "value": "bjensen@example.com"},
    ]


def test_filtered_path_on_user_without_emails_creates_the_list():
    resource = {"userName": "x"}

    result = patch_user(
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "x@example.com"},
        resource=resource,
    )

    assert result["emails"] == [{"type": "work", "value": "x@example.com"}]


def test_filtered_path_with_and_creates_entry_with_every_term():
    result = patch_user(
        {
            "op": "add",
            "path": 'addresses[type eq "work" and country eq "DE"].locality',
            "value": "Berlin",
        }
    )

    assert result["addresses"] == [{"type": "work", "country": "DE", "locality": "Berlin"}]


def test_filtered_path_matching_nothing_with_or_filter_is_no_target():
    assert_patch_error(
        "noTarget",
        {"op": "replace", "path": 'emails[type eq "work" or type eq "other"].value', "value": "x"},
    )


def test_filtered_replace_with_object_value_updates_matching_item():
    result = patch_user(
        {"op": "replace", "path": 'emails[type eq "home"]', "value": {"display": "Home"}}
    )

    assert result["emails"] == [{**BARBARA["emails"][0], "display": "Home"}]


def test_filtered_replace_with_plain_value_and_no_sub_attribute_is_invalid_value():
    assert_patch_error(
        "invalidValue", {"op": "replace", "path": 'emails[type eq "home"]', "value": "x"}
    )


def test_remove_with_filter_removes_only_matching_items():
    resource = {
        **BARBARA,
        "emails": [
            {"value": "a@home.example.com", "type": "home"},
            {"value": "a@work.example.com", "type": "work"},
        ],
    }

    result = patch_user({"op": "remove", "path": 'emails[type eq "work"]'}, resource=resource)

    assert result["emails"] == [{"value": "a@home.example.com", "type": "home"}]


def test_remove_with_filter_removing_the_last_item_drops_the_attribute():
    result = patch_user({"op": "remove", "path": 'emails[type eq "home"]'})

    assert "emails" not in result


def test_remove_filtered_sub_attribute_keeps_the_item():
    result = patch_user({"op": "remove", "path": 'emails[type eq "home"].primary'})

    assert result["emails"] == [{"value": "babs@home.example.com", "type": "home"}]


def test_filter_on_single_valued_attribute_is_invalid_path():
    assert_patch_error(
        "invalidPath", {"op": "replace", "path": 'name[givenName eq "x"].familyName', "value": "y"}
    )


def test_sub_attribute_of_multi_valued_attribute_without_filter_is_invalid_path():
    assert_patch_error("invalidPath", {"op": "replace", "path": "emails.value", "value": "x"})


def test_bad_filter_in_path_is_invalid_path():
    assert_patch_error(
        "invalidPath", {"op": "replace", "path": 'emails[type xx "work"].value', "value": "x"}
    )


def test_unknown_sub_attribute_in_path_filter_is_invalid_filter():
    assert_patch_error(
        "invalidFilter", {"op": "replace", "path": 'emails[kind eq "work"].value', "value": "x"}
    )


# ---------------------------------------------------------------------------
# Path-less operations
# ---------------------------------------------------------------------------


def test_pathless_replace_sets_each_attribute():
    result = patch_user({"op": "replace", "value": {"displayName": "B", "active": False}})

    assert result["displayName"] == "B"
    assert result["active"] is False


def test_pathless_replace_with_dotted_keys_sets_sub_attributes():
    result = patch_user(
        {"op": "replace", "value": {"name.givenName": "Babs", "name.familyName": "J"}}
    )

    assert result["name"] == {"givenName": "Babs", "familyName": "J"}
    assert "name.givenName" not in result


def test_pathless_replace_with_full_urn_keys_lands_in_the_schema():
    result = patch_user(
        {
            "op": "replace",
            "value": {
                f"{USER}:name.givenName": "Babs",
                f"{ENTERPRISE}:employeeNumber": "701984",
                f"{ENTERPRISE}:manager.value": "m-1",
            },
        }
    )

    assert result["name"]["givenName"] == "Babs"
    assert result[ENTERPRISE] == {"employeeNumber": "701984", "manager": {"value": "m-1"}}
    assert not any(key.startswith(f"{USER}:") for key in result)


def test_pathless_add_with_extension_object_merges_into_extension():
    resource = {**BARBARA, ENTERPRISE: {"department": "Tour"}}

    result = patch_user(
        {"op": "add", "value": {ENTERPRISE: {"costCenter": "4130"}}}, resource=resource
    )

    assert result[ENTERPRISE] == {"department": "Tour", "costCenter": "4130"}


def test_pathless_filtered_key_creates_the_entry():
    result = patch_user(
        {"op": "add", "value": {'emails[type eq "work"].value': "bjensen@example.com"}}
    )

    assert {"type": "work", "value": "bjensen@example.com"} in result["emails"]


def test_pathless_add_to_multi_valued_attribute_appends():
    work = {"value": "w@example.com", "type": "work"}

    result = patch_user({"op": "add", "value": {"emails": [work]}})

    assert result["emails"] == [BARBARA["emails"][0], work]


def test_pathless_operation_ignores_schemas_key():
    result = patch_user({"op": "replace", "value": {"schemas": [USER], "title": "x"}})

    assert result["title"] == "x"


def test_pathless_remove_is_no_target():
    assert_patch_error("noTarget", {"op": "remove"})


def test_pathless_replace_with_non_object_value_is_invalid_value():
    assert_patch_error("invalidValue", {"op": "replace", "value": "x"})


def test_pathless_unknown_key_is_invalid_path():
    assert_patch_error("invalidPath", {"op": "replace", "value": {"nickName2": "x"}})


# ---------------------------------------------------------------------------
# Mutability, schema checks
# ---------------------------------------------------------------------------


def test_remove_of_required_username_is_mutability_error():
    assert_patch_error("mutability", {"op": "remove", "path": "userName"})


def test_remove_of_required_group_display_name_is_mutability_error():
    with pytest.raises(ScimError) as caught:
        apply_patch(group_type(), {"displayName": "G"}, [{"op": "remove", "path": "displayName"}])
    assert caught.value.scim_type == "mutability"


@pytest.mark.parametrize("path", ["id", "meta.created", "meta", "groups"])
def test_change_of_read_only_attribute_is_mutability_error(path):
    assert_patch_error("mutability", {"op": "replace", "path": path, "value": "x"})


def test_pathless_replace_of_read_only_id_is_mutability_error():
    assert_patch_error("mutability", {"op": "replace", "value": {"id": "other"}})


def test_remove_of_read_only_id_is_mutability_error():
    assert_patch_error("mutability", {"op": "remove", "path": "id"})


def test_unknown_attribute_path_is_invalid_path():
    assert_patch_error("invalidPath", {"op": "replace", "path": "nickName2", "value": "x"})


def test_unknown_sub_attribute_path_is_invalid_path():
    assert_patch_error("invalidPath", {"op": "replace", "path": "name.middle", "value": "x"})


def test_malformed_path_is_invalid_path():
    assert_patch_error("invalidPath", {"op": "replace", "path": "name..givenName", "value": "x"})


def test_wrong_value_type_is_invalid_value():
    assert_patch_error("invalidValue", {"op": "replace", "path": "active", "value": "False"})


def test_replace_of_username_with_a_number_is_invalid_value():
    assert_patch_error("invalidValue", {"op": "replace", "path": "userName", "value": 5})


def test_replace_of_username_with_null_is_refused():
    error = assert_patch_error("invalidValue", {"op": "replace", "path": "userName", "value": None})
    assert "userName" in error.detail


def test_unknown_sub_attribute_in_value_is_invalid_syntax():
    assert_patch_error("invalidSyntax", {"op": "add", "path": "name", "value": {"middle": "x"}})


# ---------------------------------------------------------------------------
# primary
# ---------------------------------------------------------------------------


def test_adding_a_primary_email_clears_the_old_primary():
    result = patch_user(
        {"op": "add", "path": "emails", "value": [{"value": "w@example.com", "primary": True}]}
    )

    primaries = [e["value"] for e in result["emails"] if e.get("primary")]
    assert primaries == ["w@example.com"]


def test_setting_primary_through_a_filter_clears_the_old_primary():
    resource = {
        **BARBARA,
        "emails": [
            {"value": "h@example.com", "type": "home", "primary": True},
            {"value": "w@example.com", "type": "work"},
        ],
    }

    result = patch_user(
        {"op": "replace", "path": 'emails[type eq "work"].primary', "value": True},
        resource=resource,
    )

    assert [e.get("primary") for e in result["emails"]] == [False, True]


def test_replace_with_two_primaries_keeps_only_the_last():
    emails = [
        {"value": "a@example.com", "primary": True},
        {"value": "b@example.com", "primary": True},
    ]

    result = patch_user({"op": "replace", "path": "emails", "value": emails})

    assert [e["primary"] for e in result["emails"]] == [False, True]


# ---------------------------------------------------------------------------
# Group members: split_members
# ---------------------------------------------------------------------------


def split(*operations):
    return split_members(group_type(), list(operations))


def test_add_members_becomes_one_add_step():
    others, changes = split(
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}
    )

    assert others == []
    assert changes.steps == [("add", ["u1", "u2"])]


def test_remove_members_by_value_list_removes_only_those_ids():
    others, changes = split(
        {"op": "remove", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}
    )

    assert others == []
    assert changes.steps == [("remove", ["u1", "u2"])]


def test_remove_members_by_filter_removes_only_that_id():
    _, changes = split({"op": "remove", "path": 'members[value eq "u1"]'})

    assert changes.steps == [("remove", ["u1"])]


def test_remove_members_by_or_filter_removes_each_id():
    _, changes = split({"op": "remove", "path": 'members[value eq "u1" or value eq "u2"]'})

    assert changes.steps == [("remove", ["u1", "u2"])]


def test_remove_members_without_value_or_filter_clears_the_group():
    _, changes = split({"op": "remove", "path": "members"})

    assert changes.steps == [("set", [])]


def test_replace_members_sets_the_whole_membership():
    _, changes = split({"op": "replace", "path": "members", "value": [{"value": "u3"}]})

    assert changes.steps == [("set", ["u3"])]


def test_replace_members_with_empty_list_clears_the_group():
    _, changes = split({"op": "replace", "path": "members", "value": []})

    assert changes.steps == [("set", [])]


def test_members_path_is_case_insensitive_and_may_carry_the_urn():
    _, changes = split(
        {"op": "add", "path": "Members", "value": [{"value": "u1"}]},
        {"op": "add", "path": f"{GROUP}:members", "value": [{"value": "u2"}]},
    )

    assert changes.steps == [("add", ["u1"]), ("add", ["u2"])]


def test_single_member_object_is_accepted_as_value():
    _, changes = split({"op": "add", "path": "members", "value": {"value": "u1"}})

    assert changes.steps == [("add", ["u1"])]


def test_pathless_add_with_members_becomes_an_add_step():
    others, changes = split({"op": "add", "value": {"members": [{"value": "u1"}]}})

    assert others == []
    assert changes.steps == [("add", ["u1"])]


def test_pathless_replace_splits_members_from_other_attributes():
    others, changes = split(
        {"op": "replace", "value": {"displayName": "New", "members": [{"value": "u1"}]}}
    )

    assert others == [{"op": "replace", "value": {"displayName": "New"}}]
    assert changes.steps == [("set", ["u1"])]


def test_non_member_operations_pass_through_in_order():
    rename = {"op": "replace", "path": "displayName", "value": "New"}
    external = {"op": "replace", "path": "externalId", "value": "e"}

    others, changes = split(
        rename, {"op": "add", "path": "members", "value": [{"value": "u1"}]}, external
    )

    assert others == [rename, external]
    assert changes.steps == [("add", ["u1"])]


def test_no_member_operations_gives_falsy_changes():
    _, changes = split({"op": "replace", "path": "displayName", "value": "New"})

    assert not changes


def test_member_without_string_value_is_invalid_value():
    with pytest.raises(ScimError) as caught:
        split({"op": "add", "path": "members", "value": [{"display": "x"}]})
    assert caught.value.scim_type == "invalidValue"


def test_member_sub_attribute_path_is_invalid_path():
    with pytest.raises(ScimError) as caught:
        split({"op": "replace", "path": "members.display", "value": "x"})
    assert caught.value.scim_type == "invalidPath"


def test_filtered_members_path_with_add_is_invalid_path():
    with pytest.raises(ScimError) as caught:
        split({"op": "add", "path": 'members[value eq "u1"]', "value": [{"value": "u1"}]})
    assert caught.value.scim_type == "invalidPath"


def test_members_filter_on_display_is_invalid_path():
    with pytest.raises(ScimError) as caught:
        split({"op": "remove", "path": 'members[display eq "Babs"]'})
    assert caught.value.scim_type == "invalidPath"


def test_group_display_name_patch_applies():
    result = apply_patch(
        group_type(),
        {"displayName": "Old"},
        [{"op": "replace", "path": "displayName", "value": "New"}],
    )

    assert result == {"displayName": "New"}
