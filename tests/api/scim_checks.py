"""Assertions and small builders shared by the /scim/v2 HTTP tests."""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path

from apps import ScimClient
from apps import make_app
from apps import throwaway_database
from flask import Flask

from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.store import tokens

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SCIM_JSON = "application/scim+json"


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    """Check that response is a SCIM error (RFC 7644 §3.12) and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == SCIM_JSON
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is None:
        assert "scimType" not in body
    else:
        assert body["scimType"] == scim_type
    return body


def assert_scim_json(response, status: int = 200) -> dict:
    """Check status and content type and return the JSON body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == SCIM_JSON
    return response.get_json(force=True)


def user_body(user_name: str, **attributes) -> dict:
    """Return a User as Entra creates it."""
    return {"schemas": [USER], "userName": user_name, "active": True, **attributes}


def create_user(scim, user_name: str, **attributes) -> dict:
    """POST a user and return the created resource."""
    response = scim.post("/scim/v2/Users", json=user_body(user_name, **attributes))
    return assert_scim_json(response, 201)


def create_group(scim, display_name: str, members=(), **attributes) -> dict:
    """POST a group with these member ids and return the created resource."""
    body = {
        "schemas": [GROUP],
        "displayName": display_name,
        "members": [{"value": m} for m in members],
        **attributes,
    }
    return assert_scim_json(scim.post("/scim/v2/Groups", json=body), 201)


def patch_body(*operations) -> dict:
    """Return a PatchOp message."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def ids(list_response: dict) -> set[str]:
    """Return the ids of a ListResponse's resources."""
    return {r["id"] for r in list_response["Resources"]}


# ---------------------------------------------------------------------------
# An app of its own, for module-scoped fixtures
# ---------------------------------------------------------------------------


@contextmanager
def own_app(
    tmp_dir: Path, url: str | None = None, **overrides
) -> Iterator[tuple[Flask, ScimClient]]:
    """Yield an app with SCIM on and one token, and a client using that token.

    With url, the app runs on that database, emptied first. Without, it gets
    a database of its own (a throwaway one on TEST_DATABASE_URL's server), for
    module-scoped data that must outlive the tests emptying the shared one.
    """
    with ExitStack() as stack:
        if url is None:
            server = os.environ.get("TEST_DATABASE_URL", "")
            url = stack.enter_context(
                throwaway_database(server if server.startswith("postgresql") else None, tmp_dir)
            )
        app = make_app(url, **overrides)
        try:
            with app.app_context():
                settings.put(db.session, settings.SCIM_ENABLED, True)
                secret = tokens.issue(db.session, "entra").secret
                db.session.commit()
            yield app, ScimClient(app.test_client(), secret)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def empty_database(app: Flask) -> None:
    """Delete every row, so a module-scoped app starts each test as a fresh one would.

    Much faster than the drop and create the ``app`` fixture does, which on
    PostgreSQL costs a few hundred milliseconds a test.
    """
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
