"""SCIM resources as plain dicts: schemas, input validation and output projection.

The schema definitions come from scim2-models (``User.to_schema()``), adjusted
where this service differs, and are turned once into plain dicts. Requests are
then checked against those dicts rather than by building pydantic models per
request: Entra sends many requests a second, and the pydantic round trip costs
several times the rest of a lookup. One set of definitions feeds validation,
filters, PATCH paths, projection and the /Schemas endpoint, so what the
service says about itself and what it does cannot drift apart.
"""

import copy
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from functools import cache
from typing import Any

from scim2_models import EnterpriseUser
from scim2_models import Group
from scim2_models import User

from .errors import invalid_syntax
from .errors import invalid_value

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Entra adds this to every group it creates; it carries no attributes.
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
IGNORED_SCHEMAS = frozenset({ADSCIM_GROUP.lower()})

URN_PREFIX = "urn:"


@dataclass(frozen=True)
class Attribute:
    """One attribute of a schema (RFC 7643 §7), with its sub-attributes."""

    name: str
    type: str
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    sub_attributes: dict[str, "Attribute"] = field(default_factory=dict, repr=False)
    definition: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def sub(self, name: str) -> "Attribute | None":
        """Return the sub-attribute called name, matched case-insensitively."""
        return self.sub_attributes.get(name.lower())


@dataclass(frozen=True)
class Schema:
    """A schema: its URN and its attributes keyed by lower-case name."""

    id: str
    name: str
    description: str
    attributes: dict[str, Attribute]
    definition: dict[str, Any]

    def get(self, name: str) -> Attribute | None:
        """Return the attribute called name, matched case-insensitively."""
        return self.attributes.get(name.lower())


@dataclass(frozen=True)
class ResourceType:
    """A resource type: its core schema and extensions (RFC 7643 §6)."""

    name: str
    endpoint: str
    core: Schema
    extensions: tuple[Schema, ...]
    # Attributes common to all resources (RFC 7643 §3.1), readable and filterable.
    common: dict[str, Attribute]

    def schema_for(self, urn: str) -> Schema | None:
        """Return the core or extension schema whose URN is urn, case-insensitively."""
        urn = urn.lower()
        for schema in (self.core, *self.extensions):
            if schema.id.lower() == urn:
                return schema
        return None


def _attribute(definition: dict[str, Any]) -> Attribute:
    subs = {sub["name"].lower(): _attribute(sub) for sub in definition.get("subAttributes") or []}
    return Attribute(
        name=definition["name"],
        type=definition["type"],
        multi_valued=definition.get("multiValued", False),
        required=definition.get("required", False),
        case_exact=definition.get("caseExact", False),
        mutability=definition.get("mutability", "readWrite"),
        returned=definition.get("returned", "default"),
        uniqueness=definition.get("uniqueness", "none"),
        sub_attributes=subs,
        definition=definition,
    )


def _schema(definition: dict[str, Any]) -> Schema:
    attributes = {a["name"].lower(): _attribute(a) for a in definition["attributes"]}
    return Schema(
        id=definition["id"],
        name=definition["name"],
        description=definition.get("description", ""),
        attributes=attributes,
        definition=definition,
    )


def _tweak(attributes: list[dict[str, Any]], name: str, **changes: Any) -> None:
    for attribute in attributes:
        if attribute["name"] == name:
            attribute.update(changes)


def _definition(model: type) -> dict[str, Any]:
    definition = model.to_schema().model_dump(mode="json", exclude_none=True)
    definition.pop("meta", None)
    return definition


@cache
def user_type() -> ResourceType:
    """Return the User resource type with the enterprise extension."""
    core = _definition(User)
    # The app keeps no SCIM passwords: SCIM users sign in through SSO.
    core["attributes"] = [a for a in core["attributes"] if a["name"] != "password"]
    enterprise = _definition(EnterpriseUser)
    return ResourceType(
        name="User",
        endpoint="/Users",
        core=_schema(core),
        extensions=(_schema(enterprise),),
        common=_common(),
    )


@cache
def group_type() -> ResourceType:
    """Return the Group resource type."""
    core = _definition(Group)
    # Two groups with one name would be ambiguous to admins and to the
    # admin-group setting, so displayName is unique, like userName.
    _tweak(core["attributes"], "displayName", uniqueness="server")
    # members.display is the member's own displayName, filled in by the service;
    # what a client sends there is not kept. RFC 7643 §8.7.1 gives members no
    # display at all (scim2-models adds it as readWrite), so say it is readOnly.
    for attribute in core["attributes"]:
        if attribute["name"] == "members":
            _tweak(attribute.get("subAttributes") or [], "display", mutability="readOnly")
    return ResourceType(
        name="Group", endpoint="/Groups", core=_schema(core), extensions=(), common=_common()
    )


def _common() -> dict[str, Attribute]:
    meta_subs = {
        name.lower(): Attribute(name=name, type=kind, mutability="readOnly")
        for name, kind in (
            ("resourceType", "string"),
            ("created", "dateTime"),
            ("lastModified", "dateTime"),
            ("location", "reference"),
            ("version", "string"),
        )
    }
    return {
        "id": Attribute(
            name="id", type="string", case_exact=True, mutability="readOnly", returned="always"
        ),
        "externalid": Attribute(name="externalId", type="string", case_exact=True),
        "meta": Attribute(
            name="meta", type="complex", mutability="readOnly", sub_attributes=meta_subs
        ),
    }


def resource_types() -> tuple[ResourceType, ...]:
    """Return every resource type served."""
    return (user_type(), group_type())


def all_schemas() -> list[Schema]:
    """Return every schema served, core ones first."""
    return [user_type().core, group_type().core, *user_type().extensions]


# ---------------------------------------------------------------------------
# Attribute references
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AttrRef:
    """A resolved attribute path: schema URN, attribute, optional sub-attribute."""

    urn: str | None  # None for common attributes (id, externalId, meta)
    attribute: Attribute
    sub: Attribute | None = None

    @property
    def name(self) -> str:
        """Return the path in its canonical spelling, without the core URN."""
        text = self.attribute.name
        if self.sub is not None:
            text += "." + self.sub.name
        return text

    @property
    def target(self) -> Attribute:
        """Return the attribute the path ends at."""
        return self.sub or self.attribute


def resolve(
    rtype: ResourceType, attr: str, sub: str | None = None, uri: str | None = None
) -> AttrRef | None:
    """Return the attribute that attr[.sub], under URN uri if given, names, or None."""
    if uri is not None:
        schema = rtype.schema_for(uri)
        if schema is None:
            return None
        candidates = [(schema.id, schema.get(attr))]
        if schema is rtype.core:
            candidates.append((None, rtype.common.get(attr.lower())))
    else:
        candidates = [(None, rtype.common.get(attr.lower())), (rtype.core.id, rtype.core.get(attr))]
    for urn, attribute in candidates:
        if attribute is None:
            continue
        if sub is None:
            return AttrRef(urn, attribute)
        sub_attribute = attribute.sub(sub)
        if sub_attribute is None:
            return None
        return AttrRef(urn, attribute, sub_attribute)
    return None


def split_urn(rtype: ResourceType, path: str) -> tuple[str | None, str]:
    """Split "urn:...:User:name.givenName" into its schema URN and the rest."""
    if not path.lower().startswith(URN_PREFIX):
        return None, path
    lowered = path.lower()
    for schema in (rtype.core, *rtype.extensions):
        prefix = schema.id.lower()
        if lowered == prefix:
            return schema.id, ""
        if lowered.startswith(prefix + ":"):
            return schema.id, path[len(prefix) + 1 :]
    return None, path


def resolve_text(rtype: ResourceType, path: str) -> AttrRef | None:
    """Return the attribute a dotted, possibly URN-qualified path names, or None."""
    urn, rest = split_urn(rtype, path)
    if not rest or (urn is None and path.lower().startswith(URN_PREFIX)):
        return None
    attr, _, sub = rest.partition(".")
    return resolve(rtype, attr, sub or None, urn)


# ---------------------------------------------------------------------------
# Input: validation and canonical form
# ---------------------------------------------------------------------------

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def coerce(attribute: Attribute, value: Any, where: str) -> Any:
    """Return value checked against attribute's type, in canonical form.

    :raises ScimError: 400 invalidValue when the value has the wrong type.
    """
    if attribute.multi_valued:
        if not isinstance(value, list):
            raise invalid_value(f"'{where}' must be a list")
        items = [coerce_single(attribute, item, where) for item in value if item is not None]
        return [item for item in items if item not in (None, {})]
    return coerce_single(attribute, value, where)


def coerce_single(attribute: Attribute, value: Any, where: str) -> Any:
    """Return one value of attribute checked and canonicalised."""
    kind = attribute.type
    if value is None:
        return None
    if kind == "complex":
        if not isinstance(value, dict):
            raise invalid_value(f"'{where}' must be an object")
        result: dict[str, Any] = {}
        for key, item in value.items():
            sub = attribute.sub(key) if isinstance(key, str) else None
            if sub is None:
                raise invalid_syntax(f"'{where}' has no sub-attribute '{key}'")
            if sub.mutability == "readOnly":
                # RFC 7644 §3.3: read-only values a client sends are ignored,
                # as for top-level attributes (manager.displayName).
                continue
            checked = coerce(sub, item, f"{where}.{sub.name}")
            if checked not in (None, {}, []):
                result[sub.name] = checked
        return result
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid_value(f"'{where}' must be true or false")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_value(f"'{where}' must be an integer")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_value(f"'{where}' must be a number")
        return value
    if not isinstance(value, str):
        raise invalid_value(f"'{where}' must be a string")
    if kind == "dateTime" and not _DATETIME.match(value):
        raise invalid_value(f"'{where}' must be an xsd:dateTime")
    if "\x00" in value:
        raise invalid_value(f"'{where}' contains a NUL character")
    return value


def canonical(rtype: ResourceType, body: Any) -> dict[str, Any]:
    """Return the writable attributes of a POST or PUT body in canonical form.

    Attribute names are matched case-insensitively (RFC 7643 §2.1) and written
    in the schema's spelling; read-only attributes are ignored (RFC 7644 §3.3);
    extension attributes sit under their URN. Schemas this service does not
    know are kept under their URN when listed in "schemas", so nothing a client
    sends is silently dropped.

    :raises ScimError: 400 when the body is not a valid resource.
    """
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object")
    schemas = body.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas)
    ):
        raise invalid_value("'schemas' must be a list of URIs")
    listed = {s.lower(): s for s in schemas or []}
    if schemas is not None and rtype.core.id.lower() not in listed:
        raise invalid_value(f"'schemas' must contain {rtype.core.id}")

    result: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            raise invalid_syntax("Attribute names must be strings")
        lowered = key.lower()
        if lowered == "schemas":
            continue
        if lowered.startswith(URN_PREFIX) or lowered.startswith("http"):
            _canonical_extension(rtype, key, value, listed, result)
            continue
        attribute = rtype.common.get(lowered) or rtype.core.get(key)
        if attribute is None:
            raise invalid_syntax(f"Unknown attribute '{key}' for {rtype.name}")
        if attribute.mutability == "readOnly":
            continue
        checked = coerce(attribute, value, attribute.name)
        if checked not in (None, {}, []):
            result[attribute.name] = checked
    for attribute in rtype.core.attributes.values():
        if attribute.required and attribute.name not in result:
            raise invalid_value(f"'{attribute.name}' is required")
    return result


def _canonical_extension(
    rtype: ResourceType,
    key: str,
    value: Any,
    listed: dict[str, str],
    result: dict[str, Any],
) -> None:
    schema = rtype.schema_for(key)
    if schema is rtype.core:
        # A core attribute written with its URN, as in a PATCH value.
        if not isinstance(value, dict):
            raise invalid_value(f"'{key}' must be an object")
        result.update(canonical(rtype, {**value, "schemas": None}) if value else {})
        return
    if schema is None:
        if key.lower() in IGNORED_SCHEMAS:
            return
        if key.lower() not in listed:
            raise invalid_syntax(f"'{key}' is not listed in 'schemas'")
        if not isinstance(value, dict):
            raise invalid_value(f"'{key}' must be an object")
        result[listed[key.lower()]] = copy.deepcopy(value)
        return
    if not isinstance(value, dict):
        raise invalid_value(f"'{schema.id}' must be an object")
    extension: dict[str, Any] = {}
    for name, item in value.items():
        attribute = schema.get(name) if isinstance(name, str) else None
        if attribute is None:
            raise invalid_syntax(f"Unknown attribute '{name}' in {schema.id}")
        if attribute.mutability == "readOnly":
            continue
        checked = coerce(attribute, item, f"{schema.id}:{attribute.name}")
        if checked not in (None, {}, []):
            extension[attribute.name] = checked
    if extension:
        result[schema.id] = extension


def schemas_of(rtype: ResourceType, data: dict[str, Any]) -> list[str]:
    """Return the "schemas" list for a resource holding data."""
    schemas = [rtype.core.id]
    for key in data:
        if key.lower().startswith(URN_PREFIX) or key.lower().startswith("http"):
            schemas.append(key)
    return schemas


# ---------------------------------------------------------------------------
# Output: attributes and excludedAttributes (RFC 7644 §3.4.2.5)
# ---------------------------------------------------------------------------


def parse_attribute_list(rtype: ResourceType, text: str | None) -> list[AttrRef] | None:
    """Return the attributes a comma-separated list names, ignoring unknown ones.

    RFC 7644 §3.4.2.5 does not make an unknown name an error, and clients
    such as Entra ask for attributes a service may lack.
    """
    if not text:
        return None
    refs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        ref = resolve_text(rtype, item)
        if ref is not None:
            refs.append(ref)
    return refs


def project(
    rtype: ResourceType,
    resource: dict[str, Any],
    attributes: list[AttrRef] | None,
    excluded: list[AttrRef] | None,
) -> dict[str, Any]:
    """Return resource reduced to what attributes/excludedAttributes ask for."""
    if attributes:
        keep: dict[tuple[str | None, str], set[str] | None] = {}
        for ref in attributes:
            key = (_container(rtype, ref), ref.attribute.name)
            if ref.sub is None:
                keep[key] = None
            elif key not in keep or keep[key] is not None:
                keep.setdefault(key, set()).add(ref.sub.name)  # type: ignore[union-attr]
        result: dict[str, Any] = {"schemas": resource["schemas"], "id": resource["id"]}
        for (container, name), subs in keep.items():
            source = resource if container is None else resource.get(container)
            if not isinstance(source, dict) or name not in source:
                continue
            value = source[name]
            if subs is not None:
                value = _only_subs(value, subs)
            target = result if container is None else result.setdefault(container, {})
            target[name] = value
        return result
    if excluded:
        result = dict(resource)
        for ref in excluded:
            if ref.attribute.returned == "always":
                continue
            container = _container(rtype, ref)
            holder = result if container is None else result.get(container)
            if not isinstance(holder, dict) or ref.attribute.name not in holder:
                continue
            if container is not None:
                holder = result[container] = dict(holder)
            if ref.sub is None:
                del holder[ref.attribute.name]
            else:
                holder[ref.attribute.name] = _without_sub(holder[ref.attribute.name], ref.sub.name)
        return result
    return resource


def _container(rtype: ResourceType, ref: AttrRef) -> str | None:
    if ref.urn is None or ref.urn == rtype.core.id:
        return None
    return ref.urn


def _only_subs(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        return [{k: v for k, v in item.items() if k in subs} for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in subs}
    return value


def _without_sub(value: Any, sub: str) -> Any:
    if isinstance(value, list):
        return [{k: v for k, v in item.items() if k != sub} for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != sub}
    return value


def iso(moment: datetime) -> str:
    """Return moment as an RFC 3339 UTC timestamp, treating naive values as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    # Microseconds, as stored: a client that filters on "meta.lastModified gt"
    # the value it was shown must not get the same resource back.
    text = moment.replace(tzinfo=None).isoformat(timespec="microseconds")
    return text + "Z"
