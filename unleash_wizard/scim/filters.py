"""Filters (RFC 7644 §3.4.2.2): parsed by scim2-models, checked against our schemas.

scim2-models owns the grammar, including Entra's ``emails[type eq "work"].value
eq "x"`` form, which it reads as a value path. This module resolves every
attribute the tree names and refuses what cannot be evaluated, so the store can
translate the tree to SQL without further checks.
"""

import re
from dataclasses import dataclass
from typing import Any

from scim2_models import ScimFilter
from scim2_models.exceptions import SCIMException
from scim2_models.path import AttrPath
from scim2_models.path import CompareOperator
from scim2_models.path import Comparison
from scim2_models.path import FilterNode
from scim2_models.path import LogicalExpr
from scim2_models.path import Not
from scim2_models.path import Present
from scim2_models.path import ValuePath

from .errors import ScimError
from .resources import AttrRef
from .resources import ResourceType
from .resources import resolve

MAX_FILTER_LENGTH = 4096
MAX_FILTER_TERMS = 100

ORDERING = frozenset(
    {CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le}
)
SUBSTRING = frozenset({CompareOperator.co, CompareOperator.sw, CompareOperator.ew})


def invalid_filter(detail: str) -> ScimError:
    """Return a 400 invalidFilter error."""
    return ScimError(400, detail, "invalidFilter")


@dataclass(frozen=True)
class Term:
    """A comparison or presence test on a resolved attribute."""

    ref: AttrRef
    op: CompareOperator | None  # None means "pr"
    value: Any = None


@dataclass(frozen=True)
class Within:
    """A value filter applied to the items of a multi-valued attribute."""

    ref: AttrRef
    condition: "Node"


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    terms: tuple["Node", ...]


@dataclass(frozen=True)
class Negation:
    node: "Node"


Node = Term | Within | Logical | Negation


# `<attribute> eq "<string>"`, single spaces, a string with no escape or
# control character: Entra's lookups (userName, externalId, displayName).
_SIMPLE_EQ = re.compile(r'([A-Za-z][A-Za-z0-9_-]*) (?i:eq) "([^"\\\x00-\x1f]*)"')


def simple_comparison(text: str) -> Comparison | None:
    """Return the tree scim2-models parses `<attribute> eq "<string>"` into, or None.

    Every SCIM lookup Entra sends has this shape, and scim2-models' parser
    (a Lark LALR parser) cost about a quarter of such a request's CPU. For this
    one shape the tree is built directly, the same tree the library builds
    (tests/scim/test_filters.py compares the two); any other filter, or any
    doubt, goes to the library.
    """
    match = _SIMPLE_EQ.fullmatch(text)
    if match is None:
        return None
    return Comparison(
        attr_path=AttrPath(attr=match.group(1), sub_attr=None, uri=None),
        op=CompareOperator.eq,
        value=match.group(2),
    )


def parse_filter(rtype: ResourceType, text: str) -> Node:
    """Return the resolved tree of a filter on rtype.

    :raises ScimError: 400 invalidFilter for bad syntax, unknown attributes,
        or operators the attribute's type does not allow.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid_filter("The filter is too long")
    tree = simple_comparison(text)
    if tree is None:
        try:
            tree = ScimFilter(text).ast
        except (SCIMException, ValueError, RecursionError) as error:
            raise invalid_filter(f"Invalid filter: {error}") from None
    counter = [0]
    return _resolve_node(rtype, tree, None, counter)


def _resolve_node(
    rtype: ResourceType, node: FilterNode, parent: AttrRef | None, counter: list[int]
) -> Node:
    counter[0] += 1
    if counter[0] > MAX_FILTER_TERMS:
        raise invalid_filter("The filter has too many terms")
    if isinstance(node, LogicalExpr):
        return Logical(
            node.op.value,
            tuple(_resolve_node(rtype, t, parent, counter) for t in node.terms),
        )
    if isinstance(node, Not):
        return Negation(_resolve_node(rtype, node.expr, parent, counter))
    if isinstance(node, Present):
        ref = _resolve_attr(rtype, node.attr_path, parent, compared=False)
        if parent is None and ref.target.type == "complex" and ref.attribute.sub("value"):
            # "emails pr": some email has a value, as for "emails.value pr".
            ref = AttrRef(ref.urn, ref.attribute, ref.attribute.sub("value"))
        return Term(ref, None)
    if isinstance(node, Comparison):
        ref = _resolve_attr(rtype, node.attr_path, parent)
        return Term(ref, node.op, _check_value(ref, node.op, node.value))
    if isinstance(node, ValuePath):
        if parent is not None:
            raise invalid_filter("Value filters cannot be nested")
        ref = _resolve_attr(rtype, node.attr_path, None, compared=False)
        if ref.sub is not None or not ref.attribute.multi_valued:
            raise invalid_filter(f"'{ref.name}' is not a multi-valued attribute")
        return Within(ref, _resolve_node(rtype, node.val_filter, ref, counter))
    raise invalid_filter("Unsupported filter expression")


def _resolve_attr(
    rtype: ResourceType, path: AttrPath, parent: AttrRef | None, compared: bool = True
) -> AttrRef:
    if parent is not None:
        if path.uri is not None or path.sub_attr is not None:
            raise invalid_filter(f"'{path}' cannot appear inside a value filter")
        sub = parent.attribute.sub(path.attr)
        if sub is None:
            raise invalid_filter(f"'{parent.attribute.name}' has no sub-attribute '{path.attr}'")
        return AttrRef(parent.urn, parent.attribute, sub)
    ref = resolve(rtype, path.attr, path.sub_attr, path.uri)
    if ref is None:
        raise invalid_filter(f"Unknown attribute '{path}' for {rtype.name}")
    if compared and ref.target.type == "complex" and ref.sub is None:
        # RFC 7644 §3.4.2.2: a complex attribute is compared through its "value".
        value = ref.attribute.sub("value")
        if value is None:
            raise invalid_filter(f"'{ref.name}' is complex; name one of its sub-attributes")
        ref = AttrRef(ref.urn, ref.attribute, value)
    return ref


def _check_value(ref: AttrRef, op: CompareOperator, value: Any) -> Any:
    kind = ref.target.type
    if kind == "boolean":
        if op in ORDERING or op in SUBSTRING:
            # RFC 7644 §3.4.2.2: gt/ge/lt/le on a boolean is a 400 invalidFilter.
            raise invalid_filter(f"'{op.value}' cannot compare the boolean '{ref.name}'")
        if not isinstance(value, bool):
            raise invalid_filter(f"'{ref.name}' compares with true or false")
        return value
    if kind == "binary" and op in ORDERING:
        raise invalid_filter(f"'{op.value}' cannot compare the binary '{ref.name}'")
    if kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_filter(f"'{ref.name}' compares with a number")
        return value
    if value is None:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise invalid_filter(f"'{op.value}' cannot compare with null")
        return None
    if not isinstance(value, str):
        raise invalid_filter(f"'{ref.name}' compares with a string")
    return value
