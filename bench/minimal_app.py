"""The bare Flask baseline: SCIM's routes and JSON shapes, with no storage and no database.

The benchmark serves it under the same gunicorn settings as the app and sends it
the same requests, so the app's cost per request can be read as a multiple of
what Flask and gunicorn alone cost.
"""

import hmac
import json
import os
import uuid
from typing import Any

from flask import Flask
from flask import Response
from flask import request

SCIM_JSON = "application/scim+json"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
TOKEN = os.environ.get("BENCH_TOKEN", "bench")

app = Flask(__name__)


def answer(body: Any, status: int = 200) -> Response:
    """Return body as compact SCIM JSON."""
    if body is None:
        return Response(status=status)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, content_type=SCIM_JSON)


@app.before_request
def check_token() -> Response | None:
    """Refuse a request without the bearer token, as any SCIM server does."""
    if request.path == "/healthz":
        return None
    _, _, secret = request.headers.get("Authorization", "").partition(" ")
    if not hmac.compare_digest(secret.strip(), TOKEN):
        return answer({"status": "401"}, 401)
    return None


@app.get("/healthz")
def healthz() -> Response:
    """Answer the benchmark's readiness check."""
    return answer({"status": "ok"})


@app.get("/scim/v2/<kind>")
def search(kind: str) -> Response:
    """Answer a lookup with an empty ListResponse."""
    request.args.get("filter")
    return answer(
        {
            "schemas": [LIST_URN],
            "totalResults": 0,
            "startIndex": 1,
            "itemsPerPage": 0,
            "Resources": [],
        }
    )


@app.get("/scim/v2/<kind>/<resource_id>")
def read(kind: str, resource_id: str) -> Response:
    """Answer a read with a stub resource."""
    return answer({"id": resource_id, "meta": {"resourceType": kind[:-1]}})


@app.post("/scim/v2/<kind>")
def create(kind: str) -> Response:
    """Answer a create with the body, an id and meta added."""
    resource = request.get_json(force=True)
    resource["id"] = str(uuid.uuid4())
    resource["meta"] = {"resourceType": kind[:-1], "version": 'W/"1"'}
    return answer(resource, 201)


@app.patch("/scim/v2/<kind>/<resource_id>")
def patch(kind: str, resource_id: str) -> Response:
    """Answer a PATCH: 204 for groups, a stub resource for users."""
    request.get_json(force=True)
    if kind == "Groups":
        return answer(None, 204)
    return answer({"id": resource_id, "meta": {"resourceType": "User"}})
