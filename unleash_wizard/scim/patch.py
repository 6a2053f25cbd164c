"""PATCH (RFC 7644 §3.5.2) on resources held as plain dicts.

scim2-models can apply a PatchOp to a pydantic resource, but that means a
model round trip per request on Entra's hottest path, and group membership
must never be applied by rewriting the member list (a group of 100k members
would be loaded for every one-member PATCH). So PATCH is applied here on the
canonical dicts of scim.resources, with scim2-models still parsing every path,
and member changes are split off for the store to run as single statements.
Operations reach this module already normalised by scim.entra.
"""

import copy
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from scim2_models import Path
from scim2_models.exceptions import SCIMException
from scim2_models.path import AttrPath
from scim2_models.path import CompareOperator
from scim2_models.path import ValuePath

from .errors import ScimError
from .errors import invalid_path
from .errors import invalid_syntax
from .errors import invalid_value
from .errors import mutability
from .filters import Logical
from .filters import Negation
from .filters import Node
from .filters import Term
from .filters import Within
from .filters import _resolve_node
from .resources import AttrRef
from .resources import ResourceType
from .resources import canonical
from .resources import resolve
from .resources import split_urn

OPS = frozenset({"add", "remove", "replace"})
MAX_OPERATIONS = 1000


def no_target(detail: str) -> ScimError:
    """Return a 400 noTarget error."""
    return ScimError(400, detail, "noTarget")


@dataclass
class MemberChanges:
    """Group membership changes, in order: each is (verb, ids); verb is add, remove or set."""

    steps: list[tuple[str, list[str]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True)
class Target:
    """Where a PATCH path points: an attribute, maybe filtered items, maybe a sub-attribute."""

    ref: AttrRef
    condition: Node | None = None
    sub: str | None = None  # sub-attribute after a value filter


def check_operations(body: Any) -> list[dict[str, Any]]:
    """Return the Operations of a PatchOp body after checking their shape.

    :raises ScimError: 400 invalidSyntax or invalidValue.
    """
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object")
    operations = body.get("Operations")
    if operations is None:
        operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise invalid_syntax("A PatchOp needs a non-empty 'Operations' list")
    if len(operations) > MAX_OPERATIONS:
        raise invalid_value(f"A PatchOp carries at most {MAX_OPERATIONS} operations")
    for operation in operations:
        if not isinstance(operation, dict):
            raise invalid_syntax("Each operation must be a JSON object")
        op = operation.get("op")
        if not isinstance(op, str) or op not in OPS:
            raise invalid_value(f"Unknown PATCH op {op!r}"[:300])
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid_path("'path' must be a string")
        if operation["op"] != "remove" and "value" not in operation:
            raise invalid_value(f"'{operation['op']}' needs a 'value'")
    return operations


def parse_target(rtype: ResourceType, text: str) -> Target:
    """Return the target a PATCH path names.

    :raises ScimError: 400 invalidPath for unknown attributes, invalidFilter for bad filters.
    """
    try:
        tree = Path(text).ast
    except (SCIMException, ValueError, RecursionError) as error:
        raise invalid_path(f"Invalid path '{text}': {error}") from None
    if isinstance(tree, ValuePath):
        ref = _resolve_path(rtype, tree.attr_path, text)
        if ref.sub is not None or not ref.attribute.multi_valued:
            raise invalid_path(f"'{text}' filters an attribute that is not multi-valued")
        condition = _resolve_node(rtype, tree.val_filter, ref, [0])
        sub = None
        if tree.sub_attr is not None:
            sub_attribute = ref.attribute.sub(tree.sub_attr)
            if sub_attribute is None:
                raise invalid_path(f"'{ref.name}' has no sub-attribute '{tree.sub_attr}'")
            sub = sub_attribute.name
        return Target(ref, condition, sub)
    if isinstance(tree, AttrPath):
        return Target(_resolve_path(rtype, tree, text))
    raise invalid_path(f"Invalid path '{text}'")


def _resolve_path(rtype: ResourceType, path: AttrPath, text: str) -> AttrRef:
    ref = resolve(rtype, path.attr, path.sub_attr, path.uri)
    if ref is None:
        raise invalid_path(f"Unknown attribute path '{text}' for {rtype.name}")
    return ref


def split_members(
    rtype: ResourceType, operations: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], MemberChanges]:
    """Split group member operations from the others.

    Entra removes members both as ``path: "members", value: [{value}]`` and as
    ``path: 'members[value eq "x"]'``; both become a removal of those ids only.
    A removal with neither a value nor a filter clears the group, as RFC 7644
    §3.5.2.2 says.
    """
    others: list[dict[str, Any]] = []
    changes = MemberChanges()
    for operation in operations:
        op, path, value = operation["op"], operation.get("path"), operation.get("value")
        if path is None:
            if op != "remove" and isinstance(value, dict):
                rest = {}
                for key, item in value.items():
                    if isinstance(key, str) and key.lower() == "members":
                        changes.steps.append(("add" if op == "add" else "set", _member_ids(item)))
                    else:
                        rest[key] = item
                if rest:
                    others.append({**operation, "value": rest})
                continue
            others.append(operation)
            continue
        target = parse_target(rtype, path)
        if target.ref.attribute.name != "members":
            others.append(operation)
            continue
        if target.ref.sub is not None or target.sub is not None:
            raise invalid_path("Members are changed as a whole, not by sub-attribute")
        if target.condition is not None:
            if op != "remove":
                raise invalid_path("Only 'remove' takes a filtered members path")
            changes.steps.append(("remove", _ids_in_condition(target.condition)))
        elif op == "add":
            changes.steps.append(("add", _member_ids(value)))
        elif op == "replace":
            changes.steps.append(("set", _member_ids(value)))
        elif value is not None:
            changes.steps.append(("remove", _member_ids(value)))
        else:
            changes.steps.append(("set", []))
    return others, changes


def _member_ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        if item is None:
            continue
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise invalid_value("Each member must be an object with a string 'value'")
        ids.append(item["value"])
    return ids


def _ids_in_condition(node: Node) -> list[str]:
    """Return the ids of a filter made of ``value eq "x"`` joined by "or"."""
    if isinstance(node, Term) and node.op == CompareOperator.eq and node.ref.sub is not None:
        if node.ref.sub.name == "value" and isinstance(node.value, str):
            return [node.value]
    if isinstance(node, Logical) and node.op == "or":
        return [i for term in node.terms for i in _ids_in_condition(term)]
    raise invalid_path('A members filter must be value eq "id", possibly joined by "or"')


def apply_patch(
    rtype: ResourceType, resource: dict[str, Any], operations: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return a copy of resource with the operations applied (RFC 7644 §3.5.2).

    :raises ScimError: 400 with the scimType RFC 7644 §3.5.2 gives each failure.
    """
    result = copy.deepcopy(resource)
    for operation in operations:
        op, path, value = operation["op"], operation.get("path"), operation.get("value")
        if path is None:
            if op == "remove":
                raise no_target("'remove' needs a path")
            if not isinstance(value, dict):
                raise invalid_value(f"A path-less '{op}' needs an object value")
            for key, item in _flatten(rtype, value):
                _apply(rtype, result, op, parse_target(rtype, key), item)
        elif (urn := _schema_path(rtype, path)) is not None:
            # A path naming a whole schema, such as the enterprise extension:
            # RFC 7643 §3.3 holds its attributes in one object keyed by the URN,
            # which add and replace fill and remove clears.
            if op == "remove":
                if urn == rtype.core.id:
                    raise no_target("'remove' cannot clear the core schema")
                result.pop(urn, None)
                continue
            if not isinstance(value, dict):
                raise invalid_value(f"'{urn}' must be an object")
            # scim2-models sends the extension object with its own "schemas".
            value = {k: v for k, v in value.items() if str(k).lower() != "schemas"}
            for key, item in _flatten(rtype, {urn: value}):
                _apply(rtype, result, op, parse_target(rtype, key), item)
        else:
            _apply(rtype, result, op, parse_target(rtype, path), value)
    # Re-check the whole result: types, required attributes, canonical names.
    return canonical(rtype, result)


def _schema_path(rtype: ResourceType, path: str) -> str | None:
    """Return the schema URN a path names as a whole, or None for an attribute path."""
    urn, rest = split_urn(rtype, path)
    return urn if urn is not None and not rest else None


def _flatten(rtype: ResourceType, value: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (path, value) pairs for a path-less value.

    Entra sends dotted keys ("name.givenName") and full-URN keys in path-less
    operations; each key is read as a path, so both land where they belong.
    """
    pairs: list[tuple[str, Any]] = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise invalid_syntax("Attribute names must be strings")
        if key.lower() == "schemas":
            continue
        urn, rest = split_urn(rtype, key)
        if urn is not None and not rest:
            if not isinstance(item, dict):
                raise invalid_value(f"'{key}' must be an object")
            pairs.extend((f"{urn}:{k}", v) for k, v in item.items())
        else:
            pairs.append((key, item))
    return pairs


def _holder(rtype: ResourceType, resource: dict[str, Any], ref: AttrRef, create: bool) -> Any:
    if ref.urn is None or ref.urn == rtype.core.id:
        return resource
    if create:
        return resource.setdefault(ref.urn, {})
    return resource.get(ref.urn)


def _apply(
    rtype: ResourceType, resource: dict[str, Any], op: str, target: Target, value: Any
) -> None:
    ref = target.ref
    attribute = ref.attribute
    if attribute.mutability in ("readOnly", "immutable") and attribute.name != "externalId":
        raise mutability(f"'{ref.name}' cannot be changed")
    if op == "remove":
        _remove(rtype, resource, target, value)
        return
    holder = _holder(rtype, resource, ref, create=True)
    if target.condition is not None:
        _set_in_items(holder, target, value, op)
        return
    name = attribute.name
    if ref.sub is not None:
        if attribute.multi_valued:
            raise invalid_path(f"'{ref.name}' needs a value filter, as in {name}[type eq \"work\"]")
        current = holder.get(name)
        if not isinstance(current, dict):
            current = holder[name] = {}
        current[ref.sub.name] = value
        return
    if value is None:
        holder.pop(name, None)
        return
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        if op == "replace" or not isinstance(holder.get(name), list):
            holder[name] = list(items)
        else:
            existing = holder[name]
            existing.extend(item for item in items if item not in existing)
        _settle_primary(holder[name])
        return
    # RFC 7644 §3.5.2.1 and §3.5.2.3: add and replace on a complex attribute
    # set the sub-attributes given; "Sub-attributes that are not specified in
    # the 'value' parameter are left unchanged."
    if attribute.type == "complex" and isinstance(holder.get(name), dict):
        if not isinstance(value, dict):
            raise invalid_value(f"'{ref.name}' must be an object")
        holder[name] = {**holder[name], **value}
        return
    holder[name] = value


def _set_in_items(holder: dict[str, Any], target: Target, value: Any, op: str) -> None:
    name = target.ref.attribute.name
    items = holder.get(name)
    if not isinstance(items, list):
        items = holder[name] = []
    matched = [item for item in items if isinstance(item, dict) and matches(target.condition, item)]
    if not matched:
        # Entra sets emails[type eq "work"].value on users that have no work
        # email yet and expects the entry to appear, so an add or replace that
        # matches nothing creates the entry its filter describes.
        entry = _described_entry(target.condition)
        if entry is None:
            raise no_target(f"No value of '{name}' matches the filter")
        items.append(entry)
        matched = [entry]
    for item in matched:
        if target.sub is not None:
            item[target.sub] = value
        elif isinstance(value, dict):
            item.update(value)
        else:
            raise invalid_value(f"'{name}' items are objects")
    _settle_primary(items)


def _described_entry(node: Node | None) -> dict[str, Any] | None:
    if isinstance(node, Term) and node.op == CompareOperator.eq and node.ref.sub is not None:
        return {node.ref.sub.name: node.value}
    if isinstance(node, Logical) and node.op == "and":
        entry: dict[str, Any] = {}
        for term in node.terms:
            part = _described_entry(term)
            if part is None:
                return None
            entry.update(part)
        return entry
    return None


def _remove(rtype: ResourceType, resource: dict[str, Any], target: Target, value: Any) -> None:
    ref = target.ref
    if ref.attribute.required:
        raise mutability(f"'{ref.name}' is required and cannot be removed")
    holder = _holder(rtype, resource, ref, create=False)
    if not isinstance(holder, dict):
        return
    name = ref.attribute.name
    current = holder.get(name)
    if target.condition is not None:
        if not isinstance(current, list):
            return
        kept = []
        for item in current:
            if isinstance(item, dict) and matches(target.condition, item):
                if target.sub is None:
                    continue
                item = {k: v for k, v in item.items() if k != target.sub}
            kept.append(item)
        _store(holder, name, kept)
        return
    if ref.sub is not None:
        if isinstance(current, dict):
            current.pop(ref.sub.name, None)
            _store(holder, name, current)
        elif isinstance(current, list):
            _store(
                holder, name, [{k: v for k, v in i.items() if k != ref.sub.name} for i in current]
            )
        return
    if value is not None and isinstance(current, list):
        # Entra's legacy form removes items of a multi-valued attribute by value.
        doomed = value if isinstance(value, list) else [value]
        _store(holder, name, [item for item in current if not _listed(item, doomed)])
        return
    holder.pop(name, None)
    if ref.urn and ref.urn != rtype.core.id and not holder:
        resource.pop(ref.urn, None)


def _listed(item: Any, doomed: list[Any]) -> bool:
    for other in doomed:
        if item == other:
            return True
        if isinstance(item, dict) and isinstance(other, dict) and "value" in other:
            if item.get("value") == other["value"]:
                return True
    return False


def _store(holder: dict[str, Any], name: str, value: Any) -> None:
    if value in (None, [], {}):
        holder.pop(name, None)
    else:
        holder[name] = value


def _settle_primary(items: list[Any]) -> None:
    """Leave at most one item with primary true, the last one set (RFC 7643 §2.4)."""
    primaries = [i for i in items if isinstance(i, dict) and i.get("primary") is True]
    for item in primaries[:-1]:
        item["primary"] = False


def matches(node: Node | None, item: dict[str, Any]) -> bool:
    """Return whether one item of a multi-valued attribute satisfies a value filter."""
    if node is None:
        return True
    if isinstance(node, Logical):
        results = (matches(term, item) for term in node.terms)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Negation):
        return not matches(node.node, item)
    if isinstance(node, Within):
        raise invalid_path("Value filters cannot be nested")
    sub = node.ref.sub
    actual = item.get(sub.name) if sub is not None else None
    if node.op is None:
        return actual not in (None, "", [], {})
    return compare(actual, node.op, node.value, case_exact=bool(sub and sub.case_exact))


def compare(actual: Any, op: CompareOperator, expected: Any, case_exact: bool) -> bool:
    """Return whether actual op expected holds, with RFC 7644 §3.4.2.2 semantics."""
    if isinstance(actual, str) and isinstance(expected, str) and not case_exact:
        actual, expected = actual.lower(), expected.lower()
    if op == CompareOperator.eq:
        return actual == expected
    if op == CompareOperator.ne:
        return actual != expected
    if actual is None or expected is None:
        return False
    try:
        if op == CompareOperator.co:
            return expected in actual
        if op == CompareOperator.sw:
            return actual.startswith(expected)
        if op == CompareOperator.ew:
            return actual.endswith(expected)
        if op == CompareOperator.gt:
            return actual > expected
        if op == CompareOperator.ge:
            return actual >= expected
        if op == CompareOperator.lt:
            return actual < expected
        if op == CompareOperator.le:
            return actual <= expected
    except TypeError:
        return False
    return False
