"""Pure helpers of the checks: mapping names from what Entra carried, error causes."""

import pytest

from unleash_wizard.wizard.checks import error_cause
from unleash_wizard.wizard.checks import mapping_name

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize(
    ("carried", "mapping"),
    [
        ("userName", "userName"),
        ("username", "userName"),
        ("active", "active"),
        ('emails[type eq "work"].value', "emails"),
        ('emails[type eq "work"].primary', "emails"),
        ("name.givenName", "name"),
        ("name", "name"),
        ('phoneNumbers[type eq "mobile"].value', "phoneNumbers"),
        ('addresses[type eq "work"].streetAddress', "addresses"),
        ("title", "title"),
        (f"{ENTERPRISE}:department", "enterprise: department"),
        (f"{ENTERPRISE}:manager", "enterprise: manager"),
        (f"{ENTERPRISE}:manager.value", "enterprise: manager"),
        (f"{ENTERPRISE}:manager:value", "enterprise: manager"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:displayName", "displayName"),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "name"),
        (
            "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCenter",
            "Contoso: costCenter",
        ),
        ("schemas", None),
        ("id", None),
        ("meta", None),
    ],
)
def test_mapping_name_reduces_paths_to_the_mapping_they_come_from(carried, mapping):
    assert mapping_name(carried) == mapping


@pytest.mark.parametrize(
    ("detail", "cause"),
    [
        (
            "userName 'alice@contoso.example' is already taken",
            "userName '…' is already taken",
        ),
        (
            "No user with id 2f1d53a8-0cf5-4e26-b1d5-7f1e3c1c55a1",
            "No user with id …",
        ),
        (
            "Too many requests with a bad token; retry in 42 seconds",
            "Too many requests with a bad token; retry in N seconds",
        ),
        (None, ""),
    ],
)
def test_error_cause_strips_ids_and_values(detail, cause):
    assert error_cause(detail) == cause
