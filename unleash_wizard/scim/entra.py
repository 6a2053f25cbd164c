"""Entra's departures from RFC 7644, handled at this one edge.

Microsoft's "Known issues and resolutions with SCIM 2.0 protocol compliance"
lists what Entra sends without the ``aadOptscim062020`` flag: capitalised PATCH
ops ("Replace"), booleans as strings ("False"), and member removal by value.
normalize_patch() turns those into RFC 7644 form and reports which it saw, so
the wizard can tell the admin the compliance flag is off. The flag changes no
URL the service answers; query parameters it does not know are ignored.
"""

from typing import Any

from .errors import ScimError
from .patch import parse_target
from .resources import ResourceType
from .resources import resolve_text
from .resources import split_urn

LEGACY_OP_CASE = "legacy-op-case"
LEGACY_BOOLEAN_STRING = "legacy-boolean-string"
LEGACY_MEMBER_REMOVE = "legacy-member-remove"
LEGACY_SIGNALS = (LEGACY_OP_CASE, LEGACY_BOOLEAN_STRING, LEGACY_MEMBER_REMOVE)
# A PATCH whose ops were all lowercase: what Entra sends with the flag on.
COMPLIANT_PATCH = "compliant-patch"

_BOOLEAN_STRINGS = {"true": True, "false": False}


def normalize_patch(rtype: ResourceType, body: Any) -> tuple[Any, set[str]]:
    """Return body in RFC 7644 form and the legacy shapes it carried."""
    signals: set[str] = set()
    if not isinstance(body, dict):
        return body, signals
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body, signals
    normalized = []
    for operation in operations:
        if not isinstance(operation, dict):
            normalized.append(operation)
            continue
        operation = dict(operation)
        op = operation.get("op")
        if isinstance(op, str) and op != op.lower():
            # Entra sends "Replace"; RFC 7644 §3.5.2 lists lowercase "replace".
            signals.add(LEGACY_OP_CASE)
        if isinstance(op, str):
            operation["op"] = op.lower()
        path = operation.get("path")
        if "value" in operation:
            operation["value"] = _booleans(rtype, path, operation["value"], signals)
        if (
            operation.get("op") == "remove"
            and isinstance(path, str)
            and path.lower() == "members"
            and operation.get("value") is not None
        ):
            signals.add(LEGACY_MEMBER_REMOVE)
        normalized.append(operation)
    return {**body, "Operations": normalized}, signals


def _booleans(rtype: ResourceType, path: Any, value: Any, signals: set[str]) -> Any:
    """Turn "True"/"False" strings into booleans where the schema wants a boolean.

    Without the flag Entra sends ``{"op": "Replace", "path": "active",
    "value": "False"}``; with it, a JSON boolean.
    """
    if isinstance(path, str):
        if _path_type(rtype, path) == "boolean":
            return _as_boolean(value, signals)
        return value
    if path is None and isinstance(value, dict):
        result = {}
        for key, item in value.items():
            urn, rest = split_urn(rtype, key) if isinstance(key, str) else (None, key)
            if urn is not None and not rest and isinstance(item, dict):
                result[key] = {
                    k: _booleans(rtype, f"{urn}:{k}", v, signals) for k, v in item.items()
                }
            elif isinstance(key, str):
                result[key] = _booleans(rtype, key, item, signals)
            else:
                result[key] = item
        return result
    return value


def _path_type(rtype: ResourceType, path: str) -> str | None:
    """Return the type of the attribute path ends at, or None when it names none."""
    ref = resolve_text(rtype, path)
    if ref is not None:
        return ref.target.type
    if "[" not in path:
        return None
    # A value-filtered path such as emails[type eq "work"].primary, which
    # Entra also sends with "True" as a string.
    try:
        target = parse_target(rtype, path)
    except ScimError:
        return None
    if target.sub is None:
        return None
    sub = target.ref.attribute.sub(target.sub)
    return sub.type if sub is not None else None


def _as_boolean(value: Any, signals: set[str]) -> Any:
    if isinstance(value, str) and value.lower() in _BOOLEAN_STRINGS:
        signals.add(LEGACY_BOOLEAN_STRING)
        return _BOOLEAN_STRINGS[value.lower()]
    return value
