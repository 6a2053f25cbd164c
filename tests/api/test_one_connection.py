"""A SCIM request holds one pooled connection at a time, whatever path it takes."""

import pytest
from apps import ScimClient

from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.store import tokens

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim_one(app_with):
    """A SCIM client on an app whose pool has one connection and waits 2 s for it.

    A request that needed a second connection while holding the first would
    wait out the timeout and answer 503.
    """
    app = app_with(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 2})
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        secret = tokens.issue(db.session, "entra").secret
        db.session.commit()
        db.session.remove()
    return ScimClient(app.test_client(), secret)


def test_every_kind_of_request_gets_by_with_one_connection(scim_one):
    scim = scim_one
    user = scim.post("/scim/v2/Users", {"schemas": [USER], "userName": "alice@example.com"})
    assert user.status_code == 201
    user_id = user.get_json()["id"]
    group = scim.post("/scim/v2/Groups", {"schemas": [GROUP], "displayName": "Sales"})
    assert group.status_code == 201
    group_id = group.get_json()["id"]
    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": user_id}]}],
    }
    rename = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Alice"}],
    }
    answers = {
        "group PATCH": scim.patch(f"/scim/v2/Groups/{group_id}", add).status_code,
        "user PATCH": scim.patch(f"/scim/v2/Users/{user_id}", rename).status_code,
        "key lookup": scim.get('/scim/v2/Users?filter=userName eq "alice@example.com"').status_code,
        "other filter": scim.get('/scim/v2/Users?filter=displayName sw "Al"').status_code,
        "user by id": scim.get(f"/scim/v2/Users/{user_id}").status_code,
        "group by id": scim.get(f"/scim/v2/Groups/{group_id}").status_code,
        "list": scim.get("/scim/v2/Groups").status_code,
        "conflict": scim.post(
            "/scim/v2/Users", {"schemas": [USER], "userName": "alice@example.com"}
        ).status_code,
        "unknown user": scim.patch("/scim/v2/Users/nobody", rename).status_code,
        "delete": scim.delete(f"/scim/v2/Users/{user_id}").status_code,
    }
    assert answers == {
        "group PATCH": 204,
        "user PATCH": 200,
        "key lookup": 200,
        "other filter": 200,
        "user by id": 200,
        "group by id": 200,
        "list": 200,
        "conflict": 409,
        "unknown user": 404,
        "delete": 204,
    }


def test_no_free_connection_is_a_503_to_retry(scim_one):
    app = scim_one.client.application
    with app.app_context():
        held = db.engine.raw_connection()  # the pool's only connection
    try:
        response = scim_one.get('/scim/v2/Users?filter=userName eq "alice@example.com"')
    finally:
        held.close()

    assert response.status_code == 503
    assert response.get_json()["status"] == "503"
    assert "retry" in response.get_json()["detail"]
