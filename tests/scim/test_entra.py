"""Entra's legacy PATCH shapes turned into RFC 7644 form, without an app."""

import copy

import pytest

from unleash_wizard.scim.entra import LEGACY_BOOLEAN_STRING
from unleash_wizard.scim.entra import LEGACY_MEMBER_REMOVE
from unleash_wizard.scim.entra import LEGACY_OP_CASE
from unleash_wizard.scim.entra import normalize_patch
from unleash_wizard.scim.patch import apply_patch
from unleash_wizard.scim.patch import check_operations
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import USER
from unleash_wizard.scim.resources import group_type
from unleash_wizard.scim.resources import user_type

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def body(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def normalize_user(*operations):
    return normalize_patch(user_type(), body(*operations))


def normalize_group(*operations):
    return normalize_patch(group_type(), body(*operations))


@pytest.mark.parametrize("op", ["Replace", "REPLACE", "Add", "Remove"])
def test_capitalised_op_is_lowered_and_signalled(op):
    normalized, signals = normalize_user({"op": op, "path": "title", "value": "x"})

    assert normalized["Operations"][0]["op"] == op.lower()
    assert LEGACY_OP_CASE in signals


def test_lowercase_op_gives_no_signal():
    normalized, signals = normalize_user({"op": "replace", "path": "title", "value": "x"})

    assert normalized["Operations"][0]["op"] == "replace"
    assert signals == set()


@pytest.mark.parametrize("text, expected", [("False", False), ("True", True), ("false", False)])
def test_boolean_string_on_active_becomes_a_boolean(text, expected):
    normalized, signals = normalize_user({"op": "Replace", "path": "active", "value": text})

    assert normalized["Operations"][0]["value"] is expected
    assert LEGACY_BOOLEAN_STRING in signals


def test_json_boolean_on_active_gives_no_signal():
    normalized, signals = normalize_user({"op": "replace", "path": "active", "value": False})

    assert normalized["Operations"][0]["value"] is False
    assert signals == set()


def test_boolean_string_on_a_string_attribute_stays_a_string():
    normalized, signals = normalize_user({"op": "replace", "path": "title", "value": "False"})

    assert normalized["Operations"][0]["value"] == "False"
    assert signals == set()


def test_boolean_string_on_an_urn_qualified_boolean_path_becomes_a_boolean():
    normalized, _ = normalize_user({"op": "replace", "path": f"{USER}:active", "value": "False"})

    assert normalized["Operations"][0]["value"] is False


def test_boolean_string_on_a_boolean_sub_attribute_behind_a_filter_becomes_a_boolean():
    normalized, signals = normalize_user(
        {"op": "Replace", "path": 'emails[type eq "work"].primary', "value": "True"}
    )

    assert normalized["Operations"][0]["value"] is True
    assert LEGACY_BOOLEAN_STRING in signals


def test_pathless_value_converts_only_boolean_attributes():
    normalized, signals = normalize_user(
        {
            "op": "Replace",
            "value": {"active": "False", "displayName": "True", "name.givenName": "False"},
        }
    )

    assert normalized["Operations"][0]["value"] == {
        "active": False,
        "displayName": "True",
        "name.givenName": "False",
    }
    assert LEGACY_BOOLEAN_STRING in signals


def test_pathless_value_under_core_urn_key_converts_booleans():
    normalized, _ = normalize_user(
        {"op": "replace", "value": {USER: {"active": "False", "title": "True"}}}
    )

    assert normalized["Operations"][0]["value"] == {USER: {"active": False, "title": "True"}}


def test_pathless_full_urn_string_keys_stay_strings():
    normalized, signals = normalize_user(
        {"op": "replace", "value": {f"{ENTERPRISE}:department": "True"}}
    )

    assert normalized["Operations"][0]["value"] == {f"{ENTERPRISE}:department": "True"}
    assert signals == set()


def test_string_that_is_not_a_boolean_on_active_is_left_for_validation():
    normalized, signals = normalize_user({"op": "replace", "path": "active", "value": "nope"})

    assert normalized["Operations"][0]["value"] == "nope"
    assert LEGACY_BOOLEAN_STRING not in signals


def test_member_removal_by_value_is_signalled_as_legacy():
    _, signals = normalize_group({"op": "Remove", "path": "members", "value": [{"value": "u1"}]})

    assert LEGACY_MEMBER_REMOVE in signals


def test_member_removal_by_filter_gives_no_signal():
    _, signals = normalize_group({"op": "remove", "path": 'members[value eq "u1"]'})

    assert signals == set()


def test_flag_shaped_requests_give_no_signals():
    _, user_signals = normalize_user(
        {"op": "replace", "path": "active", "value": False},
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "a@example.com"},
        {"op": "replace", "value": {"name.givenName": "Babs", "active": True}},
    )
    _, group_signals = normalize_group(
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "remove", "path": 'members[value eq "u2"]'},
        {"op": "replace", "path": "displayName", "value": "G"},
    )

    assert user_signals == set()
    assert group_signals == set()


def test_full_legacy_request_reports_every_signal():
    _, signals = normalize_group(
        {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
    )
    _, user_signals = normalize_user({"op": "Replace", "path": "active", "value": "False"})

    assert signals == {LEGACY_OP_CASE, LEGACY_MEMBER_REMOVE}
    assert user_signals == {LEGACY_OP_CASE, LEGACY_BOOLEAN_STRING}


def test_normalize_leaves_the_input_unchanged():
    original = body({"op": "Replace", "path": "active", "value": "False"})
    sent = copy.deepcopy(original)

    normalize_patch(user_type(), sent)

    assert sent == original


def test_normalize_keeps_other_body_keys():
    normalized, _ = normalize_user({"op": "Add", "path": "title", "value": "x"})

    assert normalized["schemas"] == [PATCH_OP]


@pytest.mark.parametrize("sent", [None, "x", [], {"Operations": "x"}, {"Operations": [1, None]}])
def test_malformed_bodies_pass_through_for_check_operations_to_refuse(sent):
    normalized, signals = normalize_patch(user_type(), sent)

    assert normalized == sent or normalized["Operations"] == sent["Operations"]
    assert signals == set()


def test_unknown_path_passes_through_unchanged():
    normalized, _ = normalize_user({"op": "Replace", "path": "nickName2", "value": "False"})

    assert normalized["Operations"][0] == {"op": "replace", "path": "nickName2", "value": "False"}


def test_normalized_legacy_request_applies_cleanly():
    normalized, _ = normalize_user(
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "b@example.com"},
    )
    operations = check_operations(normalized)

    result = apply_patch(user_type(), {"userName": "b@example.com", "active": True}, operations)

    assert result["active"] is False
    assert result["emails"] == [{"type": "work", "value": "b@example.com"}]
