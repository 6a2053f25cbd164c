"""The discovery documents (RFC 7644 §4): what this service really supports."""

import copy
from typing import Any

from ..scim.resources import all_schemas
from ..scim.resources import resource_types as all_resource_types

SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def service_provider_config(base_url: str, config: Any) -> dict[str, Any]:
    """Return the ServiceProviderConfig resource."""
    return {
        "schemas": [SPC_URN],
        "documentationUri": f"{base_url.rsplit('/scim/v2', 1)[0]}/",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": config["SCIM_MAX_RESULTS"]},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token created in the app's SCIM settings, sent as "
                "'Authorization: Bearer <token>'.",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    """Return the ResourceType resources."""
    items = []
    for rtype in all_resource_types():
        item: dict[str, Any] = {
            "schemas": [RESOURCE_TYPE_URN],
            "id": rtype.name,
            "name": rtype.name,
            "endpoint": rtype.endpoint,
            "description": rtype.core.description or rtype.name,
            "schema": rtype.core.id,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{rtype.name}",
            },
        }
        if rtype.extensions:
            item["schemaExtensions"] = [
                {"schema": ext.id, "required": False} for ext in rtype.extensions
            ]
        items.append(item)
    return items


def schemas(base_url: str) -> list[dict[str, Any]]:
    """Return the Schema resources, as scim.resources defines them."""
    items = []
    for schema in all_schemas():
        item = copy.deepcopy(schema.definition)
        item["schemas"] = [SCHEMA_URN]
        item["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"}
        items.append(item)
    return items
