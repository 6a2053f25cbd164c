"""The /scim/v2 blueprint: HTTP in, scim/ and store/ calls, SCIM JSON out.

This module owns authentication, the error format, the content type and the
provisioning log; the protocol lives in unleash_wizard.scim and the data in
unleash_wizard.store.
"""

import json
import re
import time
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Request
from flask import Response
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request
from flask.sessions import SecureCookieSessionInterface
from flask.sessions import SessionMixin
from limits import parse as parse_limit
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import db
from ..extensions import limiter
from ..scim import entra
from ..scim.errors import ScimError
from ..scim.errors import invalid_syntax
from ..scim.errors import invalid_value
from ..scim.errors import not_found
from ..scim.errors import uniqueness
from ..scim.filters import parse_filter
from ..scim.patch import apply_patch
from ..scim.patch import check_operations
from ..scim.patch import split_members
from ..scim.resources import ResourceType
from ..scim.resources import canonical
from ..scim.resources import group_type
from ..scim.resources import parse_attribute_list
from ..scim.resources import project
from ..scim.resources import resolve_text
from ..scim.resources import user_type
from ..store import log
from ..store import resources as store
from ..store import tokens
from ..store.prepared import Direct
from ..store.prepared import Target
from ..store.sqlfilter import group_condition
from ..store.sqlfilter import json_column
from ..store.sqlfilter import user_condition
from ..store.sqlfilter import user_key_equality
from ..store.transactions import begin_write
from ..store.transactions import writing
from . import discovery

PREFIX = "/scim/v2"
SCIM_JSON = "application/scim+json"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ACCEPTED_TYPES = ("application/scim+json", "application/json")
# Entra's test connection looks up a fresh GUID as userName.
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TEST_CONNECTION_FILTER = re.compile(r'^\s*(userName|displayName)\s+eq\s+"([^"]*)"\s*$', re.I)

bp = Blueprint("scim", __name__, url_prefix=PREFIX)


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return body as application/scim+json."""
    if body is None:
        response = Response(status=status)
        response.headers.pop("Content-Type", None)
    else:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        response = Response(text, status=status, content_type=SCIM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def base_url() -> str:
    """Return the externally visible base of the SCIM API (worked out once a request)."""
    if "scim_base_url" not in g:
        public = current_app.config.get("PUBLIC_URL")
        # request.url_root, without the IRI decoding it does on every call.
        root = public or f"{request.scheme}://{request.host}{request.root_path}"
        g.scim_base_url = root.rstrip("/") + PREFIX
    return g.scim_base_url


# ---------------------------------------------------------------------------
# Authentication, logging and errors, for every path under /scim/v2
# ---------------------------------------------------------------------------


def _is_scim_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


@bp.before_app_request
def authenticate() -> Response | None:
    """Refuse requests without a live token, or while provisioning is paused.

    Every request gets a Direct (g.scim_db): a pooled connection, checked out
    when first used and given back when the ORM session starts, for the token
    check, the log row of a read or a failure, and whatever runs as Prepared
    statements (lookups by key, user creates). A user create takes the write
    lock on Direct once its input is checked (create_user), so its work and
    its log row are one transaction; any other write runs on the ORM session,
    whose transaction write_log() commits with the log row.
    """
    # The request and g once each: every proxied attribute access costs a
    # context lookup, and this runs on every one of Entra's requests.
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    path = req.path
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        return None
    state = g._get_current_object()  # type: ignore[attr-defined]
    state.scim_started = time.perf_counter()
    state.scim_log = info = {"signals": set()}
    state.scim_db = direct = Direct(db.engine)
    state.scim_write = req.method in WRITE_METHODS and not path.endswith("/.search")
    state.scim_touch = None
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    try:
        token, enabled = _credentials(direct, secret.strip() if scheme.lower() == "bearer" else "")
        live = token is not None and tokens.is_live(token)
        if not live:
            direct.rollback()
            info["signals"].add("bad-token")
            _count_bad_token()
            if token is not None:
                reason = "has been revoked" if token.revoked_at is not None else "has expired"
                info["token_name"] = token.name
                raise ScimError(401, f"The bearer token '{token.name}' {reason}")
            raise ScimError(401, "A valid bearer token is required")
        info["token_name"] = token.name
        if not enabled:
            raise ScimError(403, "SCIM provisioning is paused in this app; an admin can resume it")
        # Recorded with the log row, in the transaction that writes it.
        state.scim_touch = token.id if tokens.touch_due(token) else None
    except SQLAlchemyError:
        direct.rollback()
        raise
    # PostgreSQL text cannot hold NUL, and no id, filter or attribute name has
    # one. A NUL in the decoded path or query came in as %00 (or raw).
    query = req.query_string
    if "\x00" in path or b"%00" in query or b"\x00" in query:
        raise invalid_value("The URL contains NUL (%00)")
    return None


def _credentials(direct: Direct, secret: str) -> tuple[Any, bool]:
    """Return the token with this secret (or None) and whether SCIM is on.

    A pooled connection the database dropped while it sat idle (a restart, a
    failover) fails the first statement of a request, this one. Nothing else
    has run and it is a read, so it runs once more, on a new connection:
    Entra sees no error for a restart it did not witness.
    """
    try:
        return tokens.credentials(direct, secret)
    except SQLAlchemyError:
        direct.rollback()
        if not direct.dropped:
            raise
    return tokens.credentials(direct, secret)


def _close_direct(_error: BaseException | None) -> None:
    """Give the request's pooled connection back, undoing anything not committed."""
    direct = g.pop("scim_db", None)
    if direct is not None:
        direct.close()


@event.listens_for(Session, "after_transaction_create")
def _release_direct(_session: Session, _transaction: Any) -> None:
    """When the ORM session starts a transaction in a SCIM request, give Direct's back.

    This runs before the session checks out its connection, so a request holds
    one pooled connection at a time. Holding two, the threads of one worker
    could take the whole pool between them, each waiting for its second.
    Direct checks a connection out again if it is used later.
    """
    if has_request_context() and "scim_db" in g and not g.scim_db.writing:
        g.scim_db.close()


def _reader() -> Target:
    """Return where this request reads: the session once it has begun, else Direct."""
    if db.session.registry.has() and db.session().in_transaction():
        return db.session
    return g.scim_db


def _count_bad_token() -> None:
    """Count a bad-token attempt per client; past the limit answer 429 instead of 401.

    Only failures count, so a client with a live token is never slowed down
    by someone else's mistakes from the same address.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    item = parse_limit(current_app.config["SCIM_BAD_TOKEN_LIMIT"])
    client = request.remote_addr or "unknown"
    if limiter.limiter.hit(item, "scim-bad-token", client):
        return
    reset, _ = limiter.limiter.get_window_stats(item, "scim-bad-token", client)
    wait = max(1, int(reset - time.time()))
    raise ScimError(429, f"Too many requests with a bad token; retry in {wait} seconds")


@bp.after_app_request
def write_log(response: Response) -> Response:
    """Commit a successful write together with its log row; log anything else on its own.

    A write's work and its log row land in one commit, so a crash never keeps
    one without the other. A successful read has nothing to keep: its row
    joins this process's batch (log.Pending), written a moment later with the
    other reads' rows (SCIM_LOG_READ_DELAY_SECONDS; 0 writes it now, as
    below). A request that failed gets its row in a short write of its own on
    the Direct connection before the answer goes out. When the commit of a
    write fails, nothing of it was applied and the client gets a 503 instead
    of the answer it was about to get.
    """
    state = g._get_current_object()  # type: ignore[attr-defined]
    if "scim_log" not in state:
        return response
    status = response.status_code
    if status == 429:
        response.headers.setdefault("Retry-After", "60")
    direct: Direct = state.scim_db
    if state.scim_write and status < 400:
        target: Target | None = (
            direct if direct.writing else db.session if writing(db.session) else None
        )
        if target is not None:
            try:
                _record(target, status)
                target.commit()
                return _pruned(response)
            except SQLAlchemyError as error:
                target.rollback()
                current_app.logger.warning(
                    "A SCIM write failed on commit and was not applied: %s", type(error).__name__
                )
                response = _error_response(
                    ScimError(503, "The database is busy or unavailable; retry the request")
                )
                status = response.status_code
    if status < 400 and not state.scim_write:
        batch = log.pending(db.engine, current_app.config["SCIM_LOG_READ_DELAY_SECONDS"])
        if batch is not None:
            if db.session.registry.has():
                db.session.rollback()  # a read through the ORM; Direct's hold nothing
            batch.add(_fields(status), state.get("scim_touch"))
            return _pruned(response)
    try:
        if db.session.registry.has():
            db.session.rollback()
        if direct.writing or direct.dialect.name == "sqlite":
            direct.rollback()  # what a failed write left; a read on Direct holds nothing
        # Nothing changed but the log: a power cut may lose this row, never a change's.
        direct.begin_write(durable=False)
        _record(direct, status)
        direct.commit()
    except SQLAlchemyError:
        direct.rollback()
        current_app.logger.exception("Could not write the provisioning log")
    return _pruned(response)


def _record(target: Target, status: int) -> None:
    """Add this request's log row, and the token's last use when due, to the transaction."""
    log.record(target, **_fields(status))
    touch = g.get("scim_touch")
    if touch is not None:
        tokens.touch_id(target, touch)


def _fields(status: int) -> dict[str, Any]:
    """Return this request's log row (see log.row())."""
    state = g._get_current_object()  # type: ignore[attr-defined]
    info = state.scim_log
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    path = req.path
    return log.row(
        method=req.method,
        path=path[:512].replace("\x00", "\ufffd"),
        status=status,
        duration_ms=round((time.perf_counter() - state.scim_started) * 1000, 2),
        token_name=info.get("token_name"),
        resource_type=info.get("resource_type") or log.resource_of(path),
        resource_id=info.get("resource_id"),
        attributes=sorted(info["attributes"]) if info.get("attributes") else None,
        signals=sorted(info["signals"]) or None,
        scim_type=info.get("scim_type"),
        detail=(info.get("detail") or "")[:1000] or None,
    )


def _pruned(response: Response) -> Response:
    """Prune old log rows now and then, in a transaction of their own."""
    try:
        bounds = log.Bounds.from_config(current_app.config)
        log.maybe_prune(db.session, bounds, engine=db.engine)
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Could not prune the provisioning log")
    return response


def _undo() -> None:
    """Roll back what this request began, on the session (if it opened one) and on Direct."""
    if db.session.registry.has():
        db.session.rollback()
    if "scim_db" in g:
        g.scim_db.rollback()


def _error_response(error: ScimError, headers: dict[str, str] | None = None) -> Response:
    _undo()
    if "scim_log" in g:
        g.scim_log["scim_type"] = error.scim_type
        g.scim_log["detail"] = error.detail
    headers = dict(headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="SCIM"'
    if error.status == 429:
        headers["Retry-After"] = re.sub(r"\D", "", error.detail.split("retry in")[-1]) or "60"
    return scim_response(error.to_dict(), error.status, headers)


def handle_scim_error(error: ScimError) -> Response:
    """Turn a ScimError into its JSON form."""
    return _error_response(error)


def handle_http_error(error: HTTPException) -> Response | HTTPException:
    """Answer HTTP errors under /scim/v2 (404, 405, 413...) as SCIM errors."""
    if not _is_scim_request():
        return error
    status = error.code or 500
    detail = {
        404: f"No SCIM endpoint at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "The request body is too large",
    }.get(status, error.description or "Request failed")
    scim_type = "invalidSyntax" if status == 400 else None
    headers = {}
    valid = getattr(error, "valid_methods", None)
    if status == 405 and valid:
        headers["Allow"] = ", ".join(sorted(valid))
    return _error_response(ScimError(status, detail, scim_type), headers)


def handle_database_error(error: SQLAlchemyError) -> Response:
    """Answer a database failure under /scim/v2 as a SCIM error, never an HTML page.

    On the admin pages an unreachable or busy database (a restart, a
    failover, no pooled connection free) gets a page that says so and to
    reload, with a 503; anything else stays a 500.
    """
    if not _is_scim_request():
        if not isinstance(error, (OperationalError, PoolTimeout)):
            raise error
        return _database_unavailable_page(error)
    _undo()
    current_app.logger.warning("SCIM request failed on the database: %s", type(error).__name__)
    if isinstance(error, IntegrityError):
        return _error_response(uniqueness("The resource conflicts with an existing one"))
    # Locked, unreachable, or no pooled connection free in time: worth a retry.
    status = 503 if isinstance(error, (OperationalError, PoolTimeout)) else 500
    return _error_response(
        ScimError(status, "The database is busy or unavailable; retry the request")
    )


def _database_unavailable_page(error: SQLAlchemyError) -> Response:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass  # the connection is gone; SQLAlchemy has invalidated it already
    current_app.logger.warning("Page request failed on the database: %s", type(error).__name__)
    # Rendered straight from the environment: the pages' context processors
    # and base.html read the signed-in account from the database.
    page = current_app.jinja_env.get_template("errors/503.html").render()
    return Response(page, 503, {"Retry-After": "5"}, content_type="text/html; charset=utf-8")


def handle_unexpected(error: Exception) -> Response:
    """Answer any other failure under /scim/v2 as a SCIM 500."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    if not _is_scim_request():
        raise error
    current_app.logger.exception("Unexpected error on %s %s", request.method, request.path)
    return _error_response(ScimError(500, "Internal error; the request was not applied"))


class CookieSessionOutsideScim(SecureCookieSessionInterface):
    """Flask's cookie session, but none under /scim/v2: a bearer-token API has no session.

    Opening one costs a signing serializer per request for nothing; the null
    session Flask gives instead is never saved, so no cookie goes out either.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Register the blueprint and its app-wide error handlers."""
    app.register_blueprint(bp)
    app.session_interface = CookieSessionOutsideScim()
    app.teardown_request(_close_direct)
    app.register_error_handler(ScimError, handle_scim_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)


# ---------------------------------------------------------------------------
# Request helpers
# ---------------------------------------------------------------------------


def body() -> Any:
    """Return the parsed JSON body.

    :raises ScimError: 400 invalidSyntax when it is missing or not JSON,
        400 invalidValue when a string is one no database can store.
    """
    mimetype = request.mimetype
    if mimetype and mimetype not in ACCEPTED_TYPES:
        raise ScimError(415, f"Send the body as {SCIM_JSON}, not {mimetype}")
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body has no Content-Length: Werkzeug stops reading at the
        # limit without a word, so what was read may be a truncated prefix.
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    if not raw:
        raise invalid_syntax("The request has no body")
    try:
        # NaN and Infinity are Python's extensions, not JSON (RFC 8259 §6).
        data = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise invalid_syntax("The request body is not valid JSON") from None
    # Only a \u escape or a raw surrogate byte sequence (ED A0-BF) can make them.
    if b"\\u" in raw or b"\xed" in raw:
        _check_strings(data)
    return data


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _check_strings(data: Any) -> None:
    """Refuse NUL and lone surrogates: valid JSON, but no database stores them.

    PostgreSQL text cannot hold NUL; no UTF-8 encodes a lone surrogate
    ("\\ud800"), so neither SQLite nor PostgreSQL can take one.

    :raises ScimError: 400 invalidValue.
    """
    stack = [data]  # no recursion: the nesting is as deep as the client made it
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise invalid_value("A string in the body contains NUL (\\u0000)")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid_value("A string in the body is not valid Unicode") from None
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def note(**fields: Any) -> None:
    """Add details to this request's log row."""
    g.scim_log.update(fields)


def note_attributes(names: Any) -> None:
    """Record which attribute names a request carried (never their values)."""
    found = g.scim_log.setdefault("attributes", set())
    for name in names:
        if isinstance(name, str) and name.lower() != "schemas":
            found.add(name[:200])


def _carried(data: dict[str, Any]) -> list[str]:
    names = []
    for key, value in data.items():
        if key.startswith("urn:") and isinstance(value, dict):
            names.extend(f"{key}:{sub}" for sub in value)
        else:
            names.append(key)
    return names


def _query() -> dict[str, str]:
    """Return the query parameters, the first value of each, as a plain dict.

    Werkzeug's MultiDict builds an exception for every name it does not
    hold, and a list asks for half a dozen names that are usually absent.
    """
    return request.args.to_dict()


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise invalid_value(f"'{name}' must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # 1e400 parses as infinity
        raise invalid_value(f"'{name}' must be an integer") from None


def _string_param(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if not isinstance(value, str):
        raise invalid_value(f"'{name}' must be a string")
    return value


def check_if_match(version: int) -> None:
    """Refuse the write when If-Match names another version (RFC 7644 §3.14)."""
    header = request.headers.get("If-Match")
    if not header:
        return
    wanted = {tag.strip() for tag in header.split(",")}
    if "*" in wanted:
        return
    current = store.etag(version)
    if current not in wanted and current.removeprefix("W/") not in wanted:
        raise ScimError(412, "The resource changed since that version was read")


def check_if_none_match(version: int) -> bool:
    """Return whether If-None-Match names the current version (answer 304)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    current = store.etag(version)
    return any(t.strip() in (current, current.removeprefix("W/"), "*") for t in header.split(","))


class Listing:
    """The query parameters of a list or search (RFC 7644 §3.4.2)."""

    def __init__(self, rtype: ResourceType, params: dict[str, Any]):
        self.rtype = rtype
        self.filter_text = _string_param(params, "filter")
        self.start = max(1, _int_param(params, "startIndex", 1))
        default = current_app.config["SCIM_DEFAULT_COUNT"]
        maximum = current_app.config["SCIM_MAX_RESULTS"]
        self.count = min(max(0, _int_param(params, "count", default)), maximum)
        self.attributes = parse_attribute_list(rtype, _string_param(params, "attributes"))
        self.excluded = parse_attribute_list(rtype, _string_param(params, "excludedAttributes"))
        self.sort_by = _string_param(params, "sortBy")
        order = (_string_param(params, "sortOrder") or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise invalid_value("'sortOrder' is ascending or descending")
        self.descending = order == "descending"

    def wants(self, name: str) -> bool:
        """Return whether the response includes the named top-level attribute."""
        if self.attributes:
            return any(ref.attribute.name == name for ref in self.attributes)
        if self.excluded:
            return not any(ref.attribute.name == name and ref.sub is None for ref in self.excluded)
        return True

    def order(self, columns: dict[str, Any], data: Any) -> Any:
        """Return the ORDER BY term for sortBy/sortOrder (RFC 7644 §3.4.2.3), or None."""
        if not self.sort_by:
            return None
        ref = resolve_text(self.rtype, self.sort_by)
        if ref is None:
            raise invalid_value(f"Unknown attribute '{self.sort_by}' in sortBy")
        if ref.name in columns:
            column = columns[ref.name]
        elif ref.attribute.multi_valued or ref.target.type == "complex":
            raise invalid_value(f"Sorting by the multi-valued '{ref.name}' is not supported")
        else:
            core = ref.urn is None or ref.urn == self.rtype.core.id
            column = json_column(data, ref, None if core else ref.urn)
        # Unassigned values sort last in ascending order, first in descending.
        return column.desc().nulls_first() if self.descending else column.asc().nulls_last()


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    """Return a ListResponse message."""
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


USER_SORT = {
    "id": store.User.id,
    "userName": store.User.user_name_key,
    "displayName": store.User.display_name_key,
    "externalId": store.User.external_id,
    "name.givenName": store.User.given_name,
    "name.familyName": store.User.family_name,
    "meta.created": store.User.created_at,
    "meta.lastModified": store.User.modified_at,
}
GROUP_SORT = {
    "id": store.Group.id,
    "displayName": store.Group.display_name_key,
    "externalId": store.Group.external_id,
    "meta.created": store.Group.created_at,
    "meta.lastModified": store.Group.modified_at,
}


def _note_lookup(listing: Listing, total: int) -> None:
    note(attributes={"filter"} if listing.filter_text else None)
    if not listing.filter_text:
        return
    match = TEST_CONNECTION_FILTER.match(listing.filter_text)
    if match and total == 0 and GUID.match(match.group(2)):
        g.scim_log["signals"].add("test-connection")
    g.scim_log["signals"].add("lookup-empty" if total == 0 else "lookup-found")


def _refuse_search_get(resource_id: str) -> None:
    """Answer GET .../.search with 405: a search is a POST (RFC 7644 §3.4.3)."""
    if resource_id == ".search":
        raise MethodNotAllowed(valid_methods=["POST"])


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------


def _user_resources(users: list[Any], listing: Listing | None) -> list[dict[str, Any]]:
    root = base_url()
    memberships: dict[str, list[tuple[str, str]]] = {}
    if listing is None or listing.wants("groups"):
        # A lookup's rows and a new user carry their groups (UserRow.groups);
        # the others' are read here.
        unread = []
        for user in users:
            read = user.groups if isinstance(user, store.UserRow) else None
            if read is None:
                unread.append(user.id)
            else:
                memberships[user.id] = read
        if len(unread) == 1:
            memberships[unread[0]] = store.groups_of_user(_reader(), unread[0])
        elif unread:
            memberships.update(store.groups_of(db.session, unread))
    resources = [store.user_to_scim(u, root, memberships.get(u.id)) for u in users]
    if listing is None:
        return resources
    return [project(user_type(), r, listing.attributes, listing.excluded) for r in resources]


def _user_response(user: Any, status: int = 200) -> Response:
    params = _query()
    listing = Listing(user_type(), params) if params else None
    resource = _user_resources([user], listing)[0]
    headers = {"ETag": store.etag(user.version)}
    if status == 201:
        headers["Location"] = f"{base_url()}/Users/{user.id}"
    return scim_response(resource, status, headers)


def search_users(params: dict[str, Any]) -> dict[str, Any]:
    """Return the ListResponse for a user query."""
    listing = Listing(user_type(), params)
    note(resource_type="User")
    condition = None
    if listing.filter_text:
        node = parse_filter(user_type(), listing.filter_text)
        key = user_key_equality(node, store.KEY_COLUMNS)
        if key is not None and listing.start == 1 and not listing.sort_by and listing.count:
            # Entra's lookup: an equality on an indexed key, as Prepared statements.
            # A page that comes back full may have more: the general query counts them.
            rows = store.users_by_key(g.scim_db, key[0], key[1], listing.count)
            if len(rows) < listing.count:
                _note_lookup(listing, len(rows))
                return list_response(_user_resources(rows, listing), len(rows), 1)
        condition = user_condition(node, db.engine.dialect.name)
    page = store.search_users(
        db.session,
        condition,
        listing.order(USER_SORT, store.User.data),
        listing.start,
        listing.count,
    )
    _note_lookup(listing, page.total)
    return list_response(_user_resources(page.rows, listing), page.total, listing.start)


@bp.get("/Users")
def list_users() -> Response:
    return scim_response(search_users(_query()))


@bp.post("/Users/.search")
def search_users_post() -> Response:
    return scim_response(search_users(_search_params(body())))


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    _refuse_search_get(user_id)
    note(resource_type="User", resource_id=user_id[:36])
    found = store.users_by_key(g.scim_db, "id", user_id, 1)
    if not found:
        raise not_found(f"No user with id {user_id}")
    user = found[0]
    if check_if_none_match(user.version):
        return scim_response(None, 304, {"ETag": store.etag(user.version)})
    return _user_response(user)


@bp.post("/Users")
def create_user() -> Response:
    data = body()
    note(resource_type="User")
    if isinstance(data, dict):
        note_attributes(_carried(data))
    resource = canonical(user_type(), data)
    # The write lock from here to the commit with the log row: the token
    # check, the parsing and the validation above hold nothing.
    direct: Direct = g.scim_db
    direct.begin_write()
    try:
        user = store.insert_user(direct, resource)
    except store.LocalAccountConflict:
        g.scim_log["signals"].add("local-account-conflict")
        raise
    except IntegrityError:
        # Two creates of one userName raced; the unique index decided.
        raise uniqueness(f"userName '{resource['userName']}' is already taken") from None
    note(resource_id=user.id)
    g.scim_log["signals"].add("user-created")
    return _user_response(user, 201)


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    data = body()
    note(resource_type="User", resource_id=user_id[:36])
    if isinstance(data, dict):
        note_attributes(_carried(data))
    resource = canonical(user_type(), data)
    begin_write(db.session)
    user = store.get_user(db.session, user_id, lock=True)
    if user is None:
        raise not_found(f"No user with id {user_id}")
    check_if_match(user.version)
    was_active = user.active
    store.replace_user(db.session, user, resource)
    _flush_unique(resource.get("userName"))
    _note_change(was_active, user.active)
    return _user_response(user)


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    note(resource_type="User", resource_id=user_id[:36])
    patch_body, signals = entra.normalize_patch(user_type(), body())
    g.scim_log["signals"].update(signals or {entra.COMPLIANT_PATCH})
    operations = check_operations(patch_body)
    note_attributes(_patched_names(operations))
    begin_write(db.session)
    user = store.get_user(db.session, user_id, lock=True)
    if user is None:
        raise not_found(f"No user with id {user_id}")
    check_if_match(user.version)
    was_active = user.active
    current = dict(user.data or {})
    current["active"] = user.active
    patched = apply_patch(user_type(), current, operations)
    store.replace_user(db.session, user, patched)
    _flush_unique(patched.get("userName"))
    _note_change(was_active, user.active)
    return _user_response(user)


def _note_change(was_active: bool, active: bool) -> None:
    if was_active and not active:
        g.scim_log["signals"].add("user-disabled")
    elif active and not was_active:
        g.scim_log["signals"].add("user-enabled")
    g.scim_log["signals"].add("user-updated")


def _flush_unique(user_name: Any) -> None:
    """Send the write (write_log() commits it with the log row); a taken userName is a 409."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise uniqueness(f"userName '{user_name}' is already taken") from None


def _patched_names(operations: list[dict[str, Any]]) -> list[str]:
    names = []
    for operation in operations:
        if operation.get("path"):
            names.append(operation["path"])
        elif isinstance(operation.get("value"), dict):
            names.extend(_carried(operation["value"]))
    return names


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str) -> Response:
    note(resource_type="User", resource_id=user_id[:36])
    begin_write(db.session)
    user = store.get_user(db.session, user_id, lock=True)
    if user is None:
        raise not_found(f"No user with id {user_id}")
    check_if_match(user.version)
    store.delete_user(db.session, user)
    g.scim_log["signals"].add("user-deleted")
    return scim_response(None, 204)


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


def _group_resources(groups: list[Any], listing: Listing | None) -> list[dict[str, Any]]:
    root = base_url()
    want_members = listing.wants("members") if listing else True
    members = store.members_of(db.session, [x.id for x in groups]) if want_members else {}
    resources = [store.group_to_scim(x, root, members.get(x.id)) for x in groups]
    if listing is None:
        return resources
    return [project(group_type(), r, listing.attributes, listing.excluded) for r in resources]


def _group_response(group: Any, status: int = 200) -> Response:
    params = _query()
    listing = Listing(group_type(), params) if params else None
    resource = _group_resources([group], listing)[0]
    headers = {"ETag": store.etag(group.version)}
    if status == 201:
        headers["Location"] = f"{base_url()}/Groups/{group.id}"
    return scim_response(resource, status, headers)


def search_groups(params: dict[str, Any]) -> dict[str, Any]:
    """Return the ListResponse for a group query."""
    listing = Listing(group_type(), params)
    note(resource_type="Group")
    condition = None
    if listing.filter_text:
        condition = group_condition(parse_filter(group_type(), listing.filter_text))
    page = store.search_groups(
        db.session,
        condition,
        listing.order(GROUP_SORT, store.Group.data),
        listing.start,
        listing.count,
    )
    _note_lookup(listing, page.total)
    return list_response(_group_resources(page.rows, listing), page.total, listing.start)


@bp.get("/Groups")
def list_groups() -> Response:
    return scim_response(search_groups(_query()))


@bp.post("/Groups/.search")
def search_groups_post() -> Response:
    return scim_response(search_groups(_search_params(body())))


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    _refuse_search_get(group_id)
    note(resource_type="Group", resource_id=group_id[:36])
    group = store.get_group(db.session, group_id)
    if group is None:
        raise not_found(f"No group with id {group_id}")
    if check_if_none_match(group.version):
        return scim_response(None, 304, {"ETag": store.etag(group.version)})
    return _group_response(group)


def _split_group(resource: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    members = resource.pop("members", None) or []
    return resource, [m["value"] for m in members if isinstance(m.get("value"), str)]


@bp.post("/Groups")
def create_group() -> Response:
    data = body()
    note(resource_type="Group")
    if isinstance(data, dict):
        note_attributes(_carried(data))
    resource, member_ids = _split_group(canonical(group_type(), data))
    begin_write(db.session)
    try:
        group = store.create_group(db.session, resource, member_ids)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise uniqueness(f"A group called '{resource['displayName']}' already exists") from None
    note(resource_id=group.id)
    g.scim_log["signals"].add("group-created")
    return _group_response(group, 201)


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    data = body()
    note(resource_type="Group", resource_id=group_id[:36])
    if isinstance(data, dict):
        note_attributes(_carried(data))
    resource, member_ids = _split_group(canonical(group_type(), data))
    begin_write(db.session)
    _lock_group(group_id)
    group = store.get_group(db.session, group_id)
    assert group is not None
    store.replace_group(db.session, group, resource)
    store.set_members(db.session, group.id, member_ids)
    _flush_group(resource.get("displayName"))
    db.session.refresh(group)
    g.scim_log["signals"].add("group-updated")
    return _group_response(group)


def _lock_group(group_id: str) -> int:
    """Bump the group's version first, locking its row; honour If-Match."""
    header = request.headers.get("If-Match")
    if header and header.strip() != "*":
        current = store.get_group(db.session, group_id)
        if current is None:
            raise not_found(f"No group with id {group_id}")
        check_if_match(current.version)
        version = store.bump_group(db.session, group_id, current.version)
        if version is None:
            raise ScimError(412, "The resource changed since that version was read")
        return version
    version = store.bump_group(db.session, group_id)
    if version is None:
        raise not_found(f"No group with id {group_id}")
    return version


def _flush_group(display_name: Any) -> None:
    """Send the write (write_log() commits it with the log row); a taken name is a 409."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise uniqueness(f"A group called '{display_name}' already exists") from None


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    note(resource_type="Group", resource_id=group_id[:36])
    patch_body, signals = entra.normalize_patch(group_type(), body())
    g.scim_log["signals"].update(signals or {entra.COMPLIANT_PATCH})
    operations = check_operations(patch_body)
    note_attributes(_patched_names(operations))
    others, changes = split_members(group_type(), operations)
    begin_write(db.session)
    _lock_group(group_id)
    group = store.get_group(db.session, group_id)
    assert group is not None
    if others:
        current = dict(group.data or {})
        patched = apply_patch(group_type(), current, others)
        patched.pop("members", None)
        store.replace_group(db.session, group, patched)
    for verb, ids in changes.steps:
        if verb == "add":
            store.add_members(db.session, group.id, ids)
        elif verb == "remove":
            store.remove_members(db.session, group.id, ids)
        else:
            store.set_members(db.session, group.id, ids)
    _flush_group(group.display_name)
    if changes:
        g.scim_log["signals"].add("members-changed")
    g.scim_log["signals"].add("group-updated")
    # RFC 7644 §3.5.2: 204 unless the client asked for attributes back.
    if "attributes" in request.args or "excludedAttributes" in request.args:
        db.session.refresh(group)
        return _group_response(group)
    return scim_response(None, 204, {"ETag": store.etag(group.version)})


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    note(resource_type="Group", resource_id=group_id[:36])
    begin_write(db.session)
    _lock_group(group_id)
    group = store.get_group(db.session, group_id)
    assert group is not None
    store.delete_group(db.session, group)
    g.scim_log["signals"].add("group-deleted")
    return scim_response(None, 204)


# ---------------------------------------------------------------------------
# Root search and discovery
# ---------------------------------------------------------------------------


def _search_params(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid_syntax("A SearchRequest must be a JSON object")
    schemas = data.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_URN not in schemas):
        raise invalid_value(f"A SearchRequest lists {SEARCH_URN} in 'schemas'")
    return {k: v for k, v in data.items() if k != "schemas"}


@bp.post("/.search")
def search_all() -> Response:
    """Search users and groups together (RFC 7644 §3.4.3)."""
    params = _search_params(body())
    start = max(1, _int_param(params, "startIndex", 1))
    maximum = current_app.config["SCIM_MAX_RESULTS"]
    count = min(
        max(0, _int_param(params, "count", current_app.config["SCIM_DEFAULT_COUNT"])), maximum
    )
    text = _string_param(params, "filter")
    parts = []
    errors = []
    for rtype, search in ((user_type(), search_users), (group_type(), search_groups)):
        try:
            if text:
                parse_filter(rtype, text)
        except ScimError as error:
            # RFC 7644 §3.4.2.1: an attribute one type lacks makes that type match nothing.
            errors.append(error)
            continue
        everything = search({**params, "startIndex": 1, "count": maximum})
        parts.extend(everything["Resources"])
    if len(errors) == 2:
        raise errors[0]
    page = parts[start - 1 : start - 1 + count]
    return scim_response(list_response(page, len(parts), start))


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return scim_response(discovery.service_provider_config(base_url(), current_app.config))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    items = discovery.resource_types(base_url())
    return scim_response(list_response(items, len(items), 1))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    for item in discovery.resource_types(base_url()):
        if item["id"] == name:
            return scim_response(item)
    raise not_found(f"No resource type {name}")


@bp.get("/Schemas")
def schemas() -> Response:
    items = discovery.schemas(base_url())
    return scim_response(list_response(items, len(items), 1))


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    for item in discovery.schemas(base_url()):
        if item["id"].lower() == schema_id.lower():
            return scim_response(item)
    raise not_found(f"No schema {schema_id}")


@bp.route("/Bulk", methods=["POST"])
def bulk() -> Response:
    raise ScimError(501, "Bulk operations are not supported; see /ServiceProviderConfig")


@bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def me() -> Response:
    raise ScimError(501, "/Me is not supported: SCIM clients here act for the directory")
