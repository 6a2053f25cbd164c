"""Filter parsing and resolution (RFC 7644 §3.4.2.2), without an app."""

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scim2_models import ScimFilter
from scim2_models.path import CompareOperator

from unleash_wizard.scim.errors import ScimError
from unleash_wizard.scim.filters import MAX_FILTER_LENGTH
from unleash_wizard.scim.filters import MAX_FILTER_TERMS
from unleash_wizard.scim.filters import Logical
from unleash_wizard.scim.filters import Negation
from unleash_wizard.scim.filters import Term
from unleash_wizard.scim.filters import Within
from unleash_wizard.scim.filters import parse_filter
from unleash_wizard.scim.filters import simple_comparison
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.scim.resources import group_type
from unleash_wizard.scim.resources import user_type


def users(text):
    return parse_filter(user_type(), text)


def groups(text):
    return parse_filter(group_type(), text)


def assert_invalid_filter(parse, text):
    with pytest.raises(ScimError) as caught:
        parse(text)
    assert caught.value.status == 400
    assert caught.value.scim_type == "invalidFilter"
    return caught.value


# ---------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------


def test_eq_on_username_resolves_to_core_attribute():
    node = users('userName eq "bjensen@example.com"')

    assert isinstance(node, Term)
    assert node.ref.urn == USER
    assert node.ref.name == "userName"
    assert node.op == CompareOperator.eq
    assert node.value == "bjensen@example.com"


def test_attribute_names_and_operators_are_case_insensitive():
    node = users('USERNAME EQ "a"')

    assert node.ref.name == "userName"
    assert node.op == CompareOperator.eq


def test_urn_qualified_core_attribute_resolves_like_the_short_name():
    node = users(f'{USER}:userName eq "a"')

    assert node.ref.name == "userName"
    assert node.ref.urn == USER


def test_enterprise_extension_attribute_resolves_under_its_urn():
    node = users(f'{ENTERPRISE}:employeeNumber eq "701984"')

    assert node.ref.urn == ENTERPRISE
    assert node.ref.name == "employeeNumber"
    assert node.value == "701984"


def test_enterprise_sub_attribute_resolves():
    node = users(f'{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"')

    assert node.ref.urn == ENTERPRISE
    assert node.ref.name == "manager.value"


def test_common_attributes_resolve_without_a_schema_urn():
    for name in ("id", "externalId"):
        node = users(f'{name} eq "x"')
        assert node.ref.urn is None
        assert node.ref.name == name


def test_external_id_is_case_exact():
    node = users('externalId eq "Abc"')

    assert node.ref.target.case_exact is True
    assert node.value == "Abc"


def test_username_is_not_case_exact():
    assert users('userName eq "A"').ref.target.case_exact is False


def test_meta_last_modified_gt_resolves_to_a_datetime():
    node = users('meta.lastModified gt "2011-05-13T04:42:34Z"')

    assert node.ref.name == "meta.lastModified"
    assert node.ref.target.type == "dateTime"
    assert node.op == CompareOperator.gt


def test_dotted_sub_attribute_resolves():
    node = users('name.familyName co "Jen"')

    assert node.ref.name == "name.familyName"
    assert node.op == CompareOperator.co


@pytest.mark.parametrize("op", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_every_comparison_operator_parses_on_a_string(op):
    node = users(f'displayName {op} "J"')

    assert node.op == CompareOperator(op)
    assert node.value == "J"


def test_pr_becomes_a_term_without_operator():
    node = users("title pr")

    assert isinstance(node, Term)
    assert node.ref.name == "title"
    assert node.op is None


def test_not_wraps_its_expression():
    node = users('not (userName eq "a")')

    assert isinstance(node, Negation)
    assert node.node.ref.name == "userName"


def test_and_binds_tighter_than_or():
    node = users('userName eq "a" or displayName eq "b" and title eq "c"')

    assert isinstance(node, Logical)
    assert node.op == "or"
    first, second = node.terms
    assert first.ref.name == "userName"
    assert isinstance(second, Logical) and second.op == "and"
    assert [t.ref.name for t in second.terms] == ["displayName", "title"]


def test_parentheses_override_precedence():
    node = users('(userName eq "a" or displayName eq "b") and title eq "c"')

    assert node.op == "and"
    assert node.terms[0].op == "or"


def test_entra_email_filter_becomes_a_value_filter_on_emails():
    node = users('emails[type eq "work"].value eq "bjensen@example.com"')

    assert isinstance(node, Within)
    assert node.ref.name == "emails"
    condition = node.condition
    assert isinstance(condition, Logical) and condition.op == "and"
    names = {t.ref.sub.name: t.value for t in condition.terms}
    assert names == {"type": "work", "value": "bjensen@example.com"}


def test_value_filter_resolves_sub_attributes_of_the_filtered_attribute():
    node = users('emails[type eq "work" and value co "@example.com"]')

    assert isinstance(node, Within)
    assert [t.ref.sub.name for t in node.condition.terms] == ["type", "value"]


def test_complex_multi_valued_attribute_is_compared_through_its_value():
    node = users('emails eq "a@example.com"')

    assert node.ref.name == "emails.value"


def test_eq_null_keeps_none_as_the_value():
    node = users("displayName eq null")

    assert node.value is None


def test_boolean_eq_keeps_the_boolean():
    assert users("active eq false").value is False
    assert users("active eq true").value is True


def test_group_filters_resolve_display_name_and_members():
    assert groups('displayName eq "Admins"').ref.urn == GROUP
    node = groups('members[value eq "2819c223"]')
    assert isinstance(node, Within)
    assert node.condition.ref.sub.name == "value"


# ---------------------------------------------------------------------------
# invalidFilter
# ---------------------------------------------------------------------------


def test_unknown_attribute_is_invalid_filter():
    error = assert_invalid_filter(users, 'nickname2 eq "a"')
    assert "nickname2" in error.detail


def test_unknown_sub_attribute_is_invalid_filter():
    assert_invalid_filter(users, 'name.middle eq "a"')


def test_unknown_schema_urn_is_invalid_filter():
    assert_invalid_filter(users, 'urn:example:unknown:2.0:User:foo eq "a"')


def test_user_attribute_on_groups_is_invalid_filter():
    assert_invalid_filter(groups, 'userName eq "a"')


def test_unknown_sub_attribute_inside_value_filter_is_invalid_filter():
    assert_invalid_filter(users, 'emails[kind eq "work"]')


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_ordering_on_a_boolean_is_invalid_filter(op):
    assert_invalid_filter(users, f"active {op} true")


def test_substring_on_a_boolean_is_invalid_filter():
    assert_invalid_filter(users, 'active co "t"')


def test_boolean_compared_with_a_string_is_invalid_filter():
    assert_invalid_filter(users, 'active eq "true"')


def test_string_compared_with_a_number_is_invalid_filter():
    assert_invalid_filter(users, "userName eq 1")


def test_ordering_on_binary_is_invalid_filter():
    assert_invalid_filter(users, 'x509Certificates.value gt "MIIC"')


def test_ordering_against_null_is_invalid_filter():
    assert_invalid_filter(users, "displayName gt null")


def test_complex_attribute_without_value_is_invalid_filter():
    assert_invalid_filter(users, 'name eq "Barbara"')


def test_value_filter_on_single_valued_attribute_is_invalid_filter():
    assert_invalid_filter(users, 'name[givenName eq "Barbara"]')


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a',  # unterminated string
        '(userName eq "a"',  # unbalanced parenthesis
        'userName xx "a"',  # unknown operator
        'userName eq "a" and',  # dangling logical operator
        "userName eq",  # missing value
        'emails[type eq "work"',  # unclosed value filter
        "",  # nothing at all
    ],
)
def test_bad_syntax_is_invalid_filter(text):
    assert_invalid_filter(users, text)


def test_nested_value_filter_is_invalid_filter():
    assert_invalid_filter(users, 'emails[type eq "work" and value[type eq "x"]]')


def test_filter_over_the_length_limit_is_invalid_filter():
    value = "a" * MAX_FILTER_LENGTH
    error = assert_invalid_filter(users, f'userName eq "{value}"')
    assert "too long" in error.detail


def test_filter_at_the_length_limit_parses():
    padding = MAX_FILTER_LENGTH - len('userName eq ""')
    node = users(f'userName eq "{"a" * padding}"')

    assert len(node.value) == padding


def test_filter_with_too_many_terms_is_invalid_filter():
    text = " or ".join(f'userName eq "u{i}"' for i in range(MAX_FILTER_TERMS + 1))
    error = assert_invalid_filter(users, text)
    assert "too many" in error.detail


# Entra's lookups take a shortcut past scim2-models' parser; it must build the
# library's own tree, and leave every other filter to the library.
@pytest.mark.parametrize(
    "text",
    [
        'userName eq "alice@contoso.example"',
        'userName EQ "Alice@Contoso.example"',
        'externalId Eq "0b7e8f3a-6a9e-4c1e-9d51-2f4c8c1d0e9a"',
        'displayName eq "Sales & Marketing (EMEA)"',
        'displayName eq ""',
        'userName eq "zoë 漢字 🙂"',
        'x-Custom_1 eq "value"',
    ],
)
def test_entra_lookups_get_the_tree_scim2_models_builds(text):
    assert simple_comparison(text) == ScimFilter(text).ast


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a\\"b"',  # an escape
        'userName eq "a\\u0041"',
        'userName eq "tab\there"',  # a control character
        'userName  eq "x"',  # two spaces
        ' userName eq "x"',
        'userName eq "x" ',
        'name.givenName eq "x"',
        f'{USER}:userName eq "x"',
        'emails[type eq "work"].value eq "x"',
        'userName eq "x" and active eq true',
        'userName ne "x"',
        "userName eq 1",
        "userName eq 'x'",
        '1userName eq "x"',
    ],
)
def test_any_other_filter_goes_to_scim2_models(text):
    assert simple_comparison(text) is None


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    attribute=st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True),
    operator=st.sampled_from(["eq", "EQ", "eQ", "ne", "co"]),
    value=st.text(max_size=30),
)
def test_the_shortcut_never_disagrees_with_scim2_models(attribute, operator, value):
    text = f'{attribute} {operator} "{value}"'
    tree = simple_comparison(text)
    if tree is None:
        return
    assert tree == ScimFilter(text).ast
