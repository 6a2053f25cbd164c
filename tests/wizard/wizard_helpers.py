"""Helpers for wizard tests: Entra's requests, settings, and reading a step's status."""

import uuid
from urllib.parse import quote

from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.wizard import steps

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
FLAG = "?aadOptscim062020"


def put_setting(app, key: str, value) -> None:
    with app.app_context():
        settings.put(db.session, key, value)
        db.session.commit()


def get_setting(app, key: str):
    with app.app_context():
        return settings.get(db.session, key)


def status(app, number: int):
    """Return step number's Status as the app sees it now."""
    with app.app_context():
        return steps.STEPS[number].check(db.session)


def send_test_connection(scim, flag: bool = True):
    """Send Entra's Test Connection: look up a random GUID as userName."""
    guid = str(uuid.uuid4())
    query = quote(f'userName eq "{guid}"')
    url = f"/scim/v2/Users{FLAG}&filter={query}" if flag else f"/scim/v2/Users?filter={query}"
    return scim.get(url)


def lookup(scim, user_name: str):
    """Look a user up by userName, as Entra does before it creates one."""
    return scim.get(f"/scim/v2/Users?filter={quote(f'userName eq {chr(34)}{user_name}{chr(34)}')}")


def entra_user(user_name: str, email: str | None = None, **extra) -> dict:
    """Return a user as Entra sends it with only the four mappings (plus active)."""
    body = {
        "schemas": [USER],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].title(),
        "emails": [{"primary": True, "type": "work", "value": email or user_name}],
        "externalId": user_name.split("@")[0],
    }
    body.update(extra)
    return body


def create_user(scim, user_name: str, email: str | None = None, **extra) -> str:
    response = scim.post("/scim/v2/Users", json=entra_user(user_name, email, **extra))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def create_group(scim, name: str, members: list[str] = ()) -> str:
    body = {
        "schemas": [GROUP],
        "displayName": name,
        "externalId": name.lower(),
        "members": [{"value": member} for member in members],
    }
    response = scim.post("/scim/v2/Groups", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def patch(scim, path: str, *operations: dict):
    return scim.patch(path, json={"schemas": [PATCH_OP], "Operations": list(operations)})


def text(response) -> str:
    return response.get_data(as_text=True)
