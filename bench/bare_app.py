"""The minimal app's lookup with no framework: one WSGI function, for the instruction count.

It answers `GET /scim/v2/Users?filter=...` as bench/minimal_app.py does (the
bearer token compared, the filter read, an empty ListResponse as compact SCIM
JSON) and nothing else. Counted beside the minimal app (`python -m
bench.instructions bare`), it tells what Flask and Werkzeug themselves cost a
request: the most a bare WSGI handler for /scim/v2, in place of the Flask
blueprint, could save the app.
"""

import hmac
import json
import os
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from .minimal_app import LIST_URN
from .minimal_app import SCIM_JSON

TOKEN = os.environ.get("BENCH_TOKEN", "bench")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer a lookup with an empty ListResponse, or 401 without the token."""
    _, _, secret = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not hmac.compare_digest(secret.strip(), TOKEN):
        start_response("401 UNAUTHORIZED", [("Content-Length", "0")])
        return [b""]
    parse_qs(environ.get("QUERY_STRING", "")).get("filter")
    body = {"schemas": [LIST_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0}
    text = json.dumps({**body, "Resources": []}, ensure_ascii=False, separators=(",", ":"))
    data = text.encode()
    start_response("200 OK", [("Content-Type", SCIM_JSON), ("Content-Length", str(len(data)))])
    return [data]
