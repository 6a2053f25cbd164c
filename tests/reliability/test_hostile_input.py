"""Hostile input: whatever a client sends, /scim/v2 answers without a 5xx.

Hypothesis generates SCIM bodies, PATCH operations, filters, attribute lists,
paging values, headers and ids, with deep nesting, huge strings, odd Unicode
and wrong types. For every request: no 5xx; every error is a SCIM error JSON
whose "status" is the HTTP status and whose scimType fits it; and a rejected
request stores nothing (users, emails, groups and memberships are hashed before
and after). A run tries a few hundred inputs; ``--long`` over 10,000.
"""

import hashlib
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from apps import make_app
from apps import throwaway_database
from entra_load import serve
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store import settings as app_settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"
# RFC 7644 §3.12, table 9: every scimType is a 400, but uniqueness, a 409.
SCIM_TYPES = {
    "invalidFilter": 400,
    "tooMany": 400,
    "uniqueness": 409,
    "mutability": 400,
    "invalidSyntax": 400,
    "invalidPath": 400,
    "noTarget": 400,
    "invalidValue": 400,
    "invalidVers": 400,
    "sensitive": 400,
}
# Examples per test: a CI run stays at a few hundred in all, --long passes 10,000.
CI_EXAMPLES = 30
LONG_EXAMPLES = 1000
TRIED: Counter[str] = Counter()


# ---------------------------------------------------------------------------
# The app under attack
# ---------------------------------------------------------------------------


class Target:
    """The module's app, its test client with a live token, and seed resources."""

    def __init__(self, app, token: str):
        self.app = app
        self.client = app.test_client()
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}", "Accept": SCIM_JSON}
        self.user_id = self.create_user()
        self.other_id = self.create_user()
        body = {"schemas": [GROUP], "displayName": f"g-{uuid.uuid4().hex}"}
        body["members"] = [{"value": self.user_id}, {"value": self.other_id}]
        response = self.send("POST", "/scim/v2/Groups", body=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        self.group_id = response.get_json()["id"]
        self.seeds = {self.user_id, self.other_id, self.group_id}

    def create_user(self) -> str:
        body = {
            "schemas": [USER],
            "userName": f"seed-{uuid.uuid4().hex}@example.com",
            "emails": [{"value": "seed@example.com", "type": "work", "primary": True}],
        }
        response = self.send("POST", "/scim/v2/Users", body=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["id"]

    def send(self, method, path, body=None, raw=None, headers=None, query=""):
        """Send a request; body is dumped as JSON, raw goes as it is."""
        all_headers = {**self.headers, **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            all_headers.setdefault("Content-Type", SCIM_JSON)
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        url = path + (f"?{query}" if query else "")
        return self.client.open(url, method=method, headers=all_headers, data=data)

    def snapshot(self) -> str:
        """Return a hash of every user, email, group and membership row."""
        digest = hashlib.sha256()
        with self.app.app_context():
            for model in (User, UserEmail, Group, Membership):
                table = model.__table__
                rows = db.session.execute(select(table).order_by(*table.primary_key)).all()
                digest.update(repr(rows).encode("utf-8", "backslashreplace"))
            db.session.remove()
        return digest.hexdigest()

    def forget(self, kind: str, resource_id: str) -> None:
        """Delete a resource some example created, rows and all, so state stays small."""
        with self.app.app_context():
            if kind == "Users":
                db.session.execute(delete(Membership).where(Membership.user_id == resource_id))
                db.session.execute(delete(UserEmail).where(UserEmail.user_id == resource_id))
                db.session.execute(delete(User).where(User.id == resource_id))
            else:
                db.session.execute(delete(Membership).where(Membership.group_id == resource_id))
                db.session.execute(delete(Group).where(Group.id == resource_id))
            db.session.commit()
            db.session.remove()

    def exchange(self, method, path, **kwargs):
        """Send a request and check it: no 5xx, clean errors, a refusal stores nothing."""
        before = self.snapshot()
        response = self.send(method, path, **kwargs)
        assert_clean(response)
        if response.status_code >= 400 or method == "GET" or path.endswith(".search"):
            assert self.snapshot() == before, f"{method} {path} answered {response.status_code}"
        return response


def assert_clean(response) -> None:
    """Check a response: no 5xx; an error is a SCIM error with a fitting status and scimType."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert status < 500, text[:2000]
    if status == 308:
        # Werkzeug merges repeated slashes (/Users//x) with a redirect; nothing more.
        assert response.headers["Location"].startswith(("/scim/v2/", "http://localhost/scim/v2/"))
        return
    if status < 400:
        if response.get_data():
            assert response.mimetype == SCIM_JSON
            json.loads(text)
        return
    assert response.mimetype == SCIM_JSON, (status, response.mimetype, text[:500])
    body = json.loads(text)
    assert body["schemas"] == [ERROR], body
    assert body["status"] == str(status), body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if "scimType" in body:
        assert SCIM_TYPES.get(body["scimType"]) == status, body


@pytest.fixture(scope="module")
def target(tmp_path_factory, database_url) -> Iterator[Target]:
    """Return an app on a database of this module's own, with SCIM on."""
    # The module's app lives across its tests; the live-server tests here set up
    # and drop the run's database, so the app has a database of its own.
    server = None if database_url.startswith("sqlite") else database_url
    with throwaway_database(server, tmp_path_factory.mktemp("hostile")) as url:
        app = make_app(url)
        with app.app_context():
            app_settings.put(db.session, app_settings.SCIM_ENABLED, True)
            secret = tokens.issue(db.session, "entra").secret
            db.session.commit()
        yield Target(app, secret)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def tried_figures(request):
    """Print how many inputs this module tried, once it is done."""
    yield
    total = sum(TRIED.values())
    line = f"hostile inputs tried={total} " + " ".join(f"{k}={v}" for k, v in sorted(TRIED.items()))
    print("\n" + line)


@pytest.fixture
def examples(long_run, record_property) -> Iterator[int]:
    """Return how many examples each property runs, and record how many it tried."""
    # Tests in one process run one at a time: what the counts grew by is this test's.
    before = sum(TRIED.values())
    yield LONG_EXAMPLES if long_run else CI_EXAMPLES
    tried = sum(TRIED.values()) - before
    record_property("reliability", f"hostile inputs tried={tried} failures=0")


def hostile(examples: int):
    """Return the Hypothesis settings of these properties."""
    return settings(
        max_examples=examples,
        # The CI-size run is the same on every run, so main stays green or red
        # for a reason; --long explores new inputs each time.
        derandomize=examples <= CI_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


def count(name: str) -> None:
    TRIED[name] += 1


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

# Any code point, lone surrogates and NUL included.
odd_text = st.text(st.characters(exclude_categories=()), max_size=40)
special = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff",
        "\u202e",
        "\u2028",
        "\ufeff",
        "e\u0301" * 50,
        "🙂" * 70,
        "'; DROP TABLE users; --",
        "../../../etc/passwd",
        "%00",
        "${jndi:ldap://x}",
        "null",
        "[]",
        '"',
        "\\",
        "False",
        "TRUE",
        "2024-02-30T25:61:00Z",
    ]
)
# Sizes around the columns (255), the filter limit (4096) and beyond.
huge_text = st.sampled_from([255, 256, 1000, 2800, 4097, 30_000]).flatmap(
    lambda n: st.sampled_from(["x", "é", "🙂", "\x00"]).map(lambda c: c * n)
)
strings = st.one_of(odd_text, special, huge_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    strings,
)
attribute_names = st.sampled_from(
    [
        "schemas",
        "id",
        "userName",
        "displayName",
        "active",
        "title",
        "emails",
        "name",
        "externalId",
        "members",
        "groups",
        "meta",
        "password",
        "phoneNumbers",
        "roles",
        ENTERPRISE,
        "value",
        "type",
        "primary",
        "givenName",
        "$ref",
    ]
)
keys = st.one_of(attribute_names, odd_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)


def user_names() -> st.SearchStrategy:
    fresh = st.uuids().map(lambda u: f"{u}@example.com")
    return st.one_of(fresh, fresh.flatmap(lambda n: strings.map(lambda s: n + s)), json_values)


email = st.fixed_dictionaries(
    {},
    optional={
        "value": st.one_of(user_names(), json_values),
        "type": json_values,
        "primary": json_values,
    },
)
user_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "schemas": st.one_of(st.just([USER]), st.just([USER, ENTERPRISE]), json_values),
            "userName": user_names(),
        },
        optional={
            "displayName": st.one_of(strings, json_values),
            "active": json_values,
            "title": strings,
            "externalId": st.one_of(strings, json_values),
            "emails": st.one_of(st.lists(email, max_size=3), json_values),
            "name": st.one_of(
                st.fixed_dictionaries({}, optional={"givenName": strings, "familyName": strings}),
                json_values,
            ),
            ENTERPRISE: st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"employeeNumber": json_values, "manager": json_values}
                ),
                json_values,
            ),
            "groups": json_values,
            "id": json_values,
            "meta": json_values,
        },
    ),
    st.dictionaries(keys, json_values, max_size=6),
    json_values,
)


def group_bodies(member_ids: list[str]) -> st.SearchStrategy:
    member = st.one_of(
        st.sampled_from(member_ids).map(lambda i: {"value": i}),
        st.fixed_dictionaries({}, optional={"value": json_values, "display": json_values}),
    )
    names = st.one_of(st.uuids().map(lambda u: f"group {u}"), strings, json_values)
    return st.one_of(
        st.fixed_dictionaries(
            {"schemas": st.one_of(st.just([GROUP]), json_values), "displayName": names},
            optional={
                "members": st.one_of(st.lists(member, max_size=4), json_values),
                "externalId": json_values,
                "id": json_values,
            },
        ),
        st.dictionaries(keys, json_values, max_size=5),
        json_values,
    )


def ops_named() -> st.SearchStrategy:
    known = st.sampled_from(["add", "remove", "replace"])
    cased = known.flatmap(
        lambda op: st.lists(st.booleans(), min_size=len(op), max_size=len(op)).map(
            lambda ups: "".join(c.upper() if u else c for c, u in zip(op, ups, strict=True))
        )
    )
    return st.one_of(cased, st.sampled_from(["move", "copy", "test", " add", "add "]), strings)


def patch_paths(ids: list[str]) -> st.SearchStrategy:
    member_filter = st.sampled_from(ids).map(lambda i: f'members[value eq "{i}"]')
    return st.one_of(
        st.sampled_from(
            [
                "userName",
                "displayName",
                "active",
                "title",
                "emails",
                'emails[type eq "work"].value',
                'emails[type eq "work"]',
                'emails[value co "@"].primary',
                "name.givenName",
                "name",
                "members",
                "members.value",
                "externalId",
                f"{ENTERPRISE}:employeeNumber",
                f"{ENTERPRISE}:manager",
                f"{ENTERPRISE}:manager.value",
                "id",
                "meta.created",
                "groups",
                "schemas",
                'phoneNumbers[type eq "mobile"].value',
                "emails[",
                "members[value eq ]",
                "a.b.c.d",
                f"{USER}:userName",
            ]
        ),
        member_filter,
        filters(),
        strings,
        json_values,
    )


def operations(ids: list[str]) -> st.SearchStrategy:
    member_values = st.lists(st.sampled_from(ids).map(lambda i: {"value": i}), max_size=3)
    operation = st.fixed_dictionaries(
        {"op": st.one_of(ops_named(), json_values)},
        optional={
            "path": patch_paths(ids),
            "value": st.one_of(json_values, member_values, st.just("False"), user_bodies),
        },
    )
    return st.one_of(
        st.fixed_dictionaries(
            {
                "schemas": st.one_of(st.just([PATCH_OP]), json_values),
                "Operations": st.one_of(st.lists(operation, max_size=4), json_values),
            }
        ),
        json_values,
    )


FILTER_ATTRIBUTES = [
    "userName",
    "displayName",
    "externalId",
    "id",
    "active",
    "title",
    "emails",
    "emails.value",
    "emails.type",
    "name.givenName",
    "meta.created",
    "meta.lastModified",
    "members",
    "members.value",
    "groups.value",
    f"{ENTERPRISE}:employeeNumber",
    f"{USER}:userName",
    "nickName",
    "x",
]


def filter_values() -> st.SearchStrategy:
    return st.one_of(
        strings.map(lambda s: json.dumps(s, ensure_ascii=False)),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["true", "false", "null", '"2024-01-01T00:00:00Z"', '"', "'x'", "x"]),
    )


def filters() -> st.SearchStrategy:
    operator = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Eq"])
    attribute = st.one_of(st.sampled_from(FILTER_ATTRIBUTES), strings)
    comparison = st.builds(lambda a, o, v: f"{a} {o} {v}", attribute, operator, filter_values())
    present = attribute.map(lambda a: f"{a} pr")
    grammar = st.recursive(
        st.one_of(comparison, present),
        lambda inner: st.one_of(
            st.builds(
                lambda a, j, b: f"{a} {j} {b}", inner, st.sampled_from(["and", "or", "AND"]), inner
            ),
            inner.map(lambda f: f"not ({f})"),
            inner.map(lambda f: f"({f})"),
            st.builds(lambda a, f: f"{a}[{f}]", st.sampled_from(["emails", "members"]), inner),
            st.builds(lambda a, f, s: f"{a}[{f}].{s}", st.just("emails"), inner, attribute),
        ),
        max_leaves=8,
    )
    return st.one_of(grammar, strings, st.integers(1, 20_000).map(lambda n: "(" * n))


def paging_values() -> st.SearchStrategy:
    return st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
        st.sampled_from(["", " 5", "1e3", "0x10", "NaN", "-0", "٣", "1.5", "true", "+7"]),
        strings,
    )


def attribute_lists() -> st.SearchStrategy:
    names = st.one_of(st.sampled_from(FILTER_ATTRIBUTES), strings)
    return st.lists(names, max_size=4).map(",".join)


def query_of(params: dict[str, str]) -> str:
    """Return a query string with every value percent-encoded, surrogates and all."""
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in params.items()
    )


header_text = st.one_of(
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60),
    st.sampled_from(["", "*", 'W/"1"', '"1"', 'W/"999999999999999999999"', "W/", "x" * 8000]),
)


# ---------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------


def created(target: Target, kind: str, response) -> None:
    """Check that what was accepted reads back, then forget it."""
    if response.status_code != 201:
        return
    resource_id = response.get_json()["id"]
    assert_clean(target.exchange("GET", f"/scim/v2/{kind}/{resource_id}"))
    assert target.send("GET", f"/scim/v2/{kind}/{resource_id}").status_code == 200
    assert_clean(target.exchange("GET", f"/scim/v2/{kind}"))
    target.forget(kind, resource_id)


def test_user_bodies_get_a_clean_answer(target, examples):
    @hostile(examples)
    @given(user_bodies)
    def run(body):
        count("user_bodies")
        response = target.exchange("POST", "/scim/v2/Users", body=body)
        assert response.status_code in (201, 400, 409, 413), response.get_data(as_text=True)
        created(target, "Users", response)

    run()


def test_group_bodies_get_a_clean_answer(target, examples):
    ids = [target.user_id, target.other_id, str(uuid.uuid4()), target.group_id]

    @hostile(examples)
    @given(group_bodies(ids))
    def run(body):
        count("group_bodies")
        response = target.exchange("POST", "/scim/v2/Groups", body=body)
        assert response.status_code in (201, 400, 409, 413), response.get_data(as_text=True)
        created(target, "Groups", response)

    run()


def test_user_replacements_get_a_clean_answer(target, examples):
    @hostile(examples)
    @given(user_bodies)
    def run(body):
        count("user_replacements")
        user_id = target.create_user()
        response = target.exchange("PUT", f"/scim/v2/Users/{user_id}", body=body)
        assert response.status_code in (200, 400, 409, 413), response.get_data(as_text=True)
        target.forget("Users", user_id)

    run()


def test_user_patches_get_a_clean_answer(target, examples):
    ids = [target.user_id, target.other_id, str(uuid.uuid4())]

    @hostile(examples)
    @given(operations(ids))
    def run(body):
        count("user_patches")
        user_id = target.create_user()
        response = target.exchange("PATCH", f"/scim/v2/Users/{user_id}", body=body)
        assert response.status_code in (200, 204, 400, 409, 413), response.get_data(as_text=True)
        if response.status_code < 300:
            assert target.send("GET", f"/scim/v2/Users/{user_id}").status_code == 200
        target.forget("Users", user_id)

    run()


def test_group_patches_get_a_clean_answer(target, examples):
    ids = [target.user_id, target.other_id, str(uuid.uuid4())]

    @hostile(examples)
    @given(operations(ids), st.sampled_from(["", "excludedAttributes=members", "attributes=id"]))
    def run(body, query):
        count("group_patches")
        body_ = {"schemas": [GROUP], "displayName": f"g-{uuid.uuid4().hex}"}
        body_["members"] = [{"value": target.user_id}]
        group_id = target.send("POST", "/scim/v2/Groups", body=body_).get_json()["id"]
        response = target.exchange("PATCH", f"/scim/v2/Groups/{group_id}", body=body, query=query)
        assert response.status_code in (200, 204, 400, 409, 413), response.get_data(as_text=True)
        if response.status_code < 300:
            assert target.send("GET", f"/scim/v2/Groups/{group_id}").status_code == 200
        target.forget("Groups", group_id)

    run()


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


def test_filters_get_results_or_invalid_filter(target, examples):
    @hostile(examples)
    @given(filters(), st.sampled_from(["Users", "Groups"]))
    def run(text, kind):
        count("filters")
        response = target.exchange("GET", f"/scim/v2/{kind}", query=query_of({"filter": text}))
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 400:
            assert response.get_json()["scimType"] in ("invalidFilter", "invalidValue")

    run()


def test_list_parameters_get_a_clean_answer(target, examples):
    params = st.fixed_dictionaries(
        {},
        optional={
            "attributes": attribute_lists(),
            "excludedAttributes": attribute_lists(),
            "startIndex": paging_values(),
            "count": paging_values(),
            "sortBy": st.one_of(st.sampled_from(FILTER_ATTRIBUTES), strings),
            "sortOrder": st.one_of(st.sampled_from(["ascending", "DESCENDING"]), strings),
            "filter": filters(),
            "aadOptscim062020": strings,
        },
    )

    @hostile(examples)
    @given(params, st.sampled_from(["Users", "Groups"]))
    def run(values, kind):
        count("list_parameters")
        response = target.exchange("GET", f"/scim/v2/{kind}", query=query_of(values))
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 200:
            page = response.get_json()
            assert page["itemsPerPage"] == len(page["Resources"]) <= page["totalResults"] or (
                page["itemsPerPage"] == 0
            )

    run()


def test_search_requests_get_a_clean_answer(target, examples):
    search = st.one_of(
        st.fixed_dictionaries(
            {"schemas": st.one_of(st.just([SEARCH]), json_values)},
            optional={
                "filter": st.one_of(filters(), json_values),
                "attributes": st.one_of(st.lists(attribute_names), json_values),
                "excludedAttributes": json_values,
                "startIndex": st.one_of(st.integers(), json_values),
                "count": st.one_of(st.integers(), json_values),
                "sortBy": json_values,
                "sortOrder": json_values,
            },
        ),
        json_values,
    )

    @hostile(examples)
    @given(
        search,
        st.sampled_from(["/scim/v2/.search", "/scim/v2/Users/.search", "/scim/v2/Groups/.search"]),
    )
    def run(body, path):
        count("search_requests")
        response = target.exchange("POST", path, body=body)
        # Only a body over the limit may get 413, and then it must.
        too_big = len(json.dumps(body)) > target.app.config["MAX_CONTENT_LENGTH"]
        expected = (413,) if too_big else (200, 400)
        assert response.status_code in expected, response.get_data(as_text=True)

    run()


# ---------------------------------------------------------------------------
# Headers and ids
# ---------------------------------------------------------------------------


def test_odd_headers_get_a_clean_answer(target, examples):
    content_types = st.one_of(
        st.sampled_from(
            [
                SCIM_JSON,
                "application/json",
                "application/scim+json; charset=utf-8",
                "application/scim+json; charset=latin-1",
                "APPLICATION/SCIM+JSON",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                "",
                ";",
                None,
            ]
        ),
        header_text,
    )
    authorizations = st.one_of(
        st.sampled_from(["good", "lower", "spaces", "basic", "none", "empty", "bearer-only"]),
        header_text,
    )

    def authorization(kind: str) -> str | None:
        return {
            "good": f"Bearer {target.token}",
            "lower": f"bearer {target.token}",
            "spaces": f"Bearer   {target.token}  ",
            "basic": f"Basic {target.token}",
            "none": None,
            "empty": "",
            "bearer-only": "Bearer ",
        }.get(kind, kind)

    @hostile(examples)
    @given(
        content_types,
        st.one_of(
            st.sampled_from([SCIM_JSON, "application/json", "*/*", "text/html"]), header_text
        ),
        st.one_of(st.none(), header_text),
        st.one_of(st.none(), header_text),
        authorizations,
        st.sampled_from(["POST", "PUT", "PATCH", "GET", "DELETE"]),
    )
    def run(content_type, accept, if_match, if_none_match, auth, method):
        count("headers")
        headers = {
            "Content-Type": content_type,
            "Accept": accept,
            "If-Match": if_match,
            "If-None-Match": if_none_match,
            "Authorization": authorization(auth),
        }
        user_id = target.create_user()
        body = {"schemas": [USER], "userName": f"{uuid.uuid4()}@example.com"}
        if method == "PATCH":
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "value": {"title": "T"}}],
            }
        path = "/scim/v2/Users" if method == "POST" else f"/scim/v2/Users/{user_id}"
        raw = json.dumps(body) if method in ("POST", "PUT", "PATCH") else None
        response = target.exchange(method, path, raw=raw, headers=headers)
        if authorization(auth) != f"Bearer {target.token}" and auth not in ("lower", "spaces"):
            assert response.status_code == 401, response.get_data(as_text=True)
        created(target, "Users", response)
        target.forget("Users", user_id)

    run()


def test_odd_ids_get_a_clean_answer(target, examples):
    ids = st.one_of(
        odd_text.filter(bool),
        special.filter(bool),
        huge_text,
        st.sampled_from(["..", ".", "%2e%2e", "..%2F..%2FGroups", ".search", "a/b", "a%2Fb"]),
        st.uuids().map(str),
    )

    @hostile(examples)
    @given(
        ids,
        st.sampled_from(["Users", "Groups"]),
        st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
        st.booleans(),
    )
    def run(resource_id, kind, method, escape):
        count("ids")
        segment = quote(resource_id.encode("utf-8", "surrogatepass"), safe="" if escape else "/%")
        body = None
        if method == "PUT":
            body = {"schemas": [USER], "userName": f"{uuid.uuid4()}@example.com"}
            if kind == "Groups":
                body = {"schemas": [GROUP], "displayName": f"g-{uuid.uuid4()}"}
        elif method == "PATCH":
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
            }
        path = f"/scim/v2/{kind}/{segment}"
        response = target.exchange(method, path, body=body)
        redirect = (308,) if "//" in path else ()
        assert response.status_code in (400, 404, 405, *redirect), response.get_data(as_text=True)

    run()


# ---------------------------------------------------------------------------
# Nesting and size
# ---------------------------------------------------------------------------


def nested(depth: int, shape: str, leaf) -> object:
    value = leaf
    for i in range(depth):
        if shape == "list" or (shape == "mixed" and i % 2):
            value = [value]
        else:
            value = {"value": value}
    return value


def test_deep_nesting_anywhere_gets_a_clean_answer(target, examples):
    where = st.sampled_from(
        ["body", "title", "emails", "patch value", "patch ops", "search filter", "group members"]
    )

    @hostile(examples)
    @given(
        st.one_of(st.integers(1, 1200), st.sampled_from([10_000, 100_000])),
        st.sampled_from(["list", "dict", "mixed"]),
        where,
    )
    def run(depth, shape, place):
        count("deep_nesting")
        deep = nested(depth, shape, "x")
        name = f"{uuid.uuid4()}@example.com"
        method, path = "POST", "/scim/v2/Users"
        if place == "body":
            body = deep
        elif place == "title":
            body = {"schemas": [USER], "userName": name, "title": deep}
        elif place == "emails":
            body = {"schemas": [USER], "userName": name, "emails": [{"value": deep}]}
        elif place == "patch value":
            method, path = "PATCH", f"/scim/v2/Users/{target.user_id}"
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "title", "value": deep}],
            }
        elif place == "patch ops":
            method, path = "PATCH", f"/scim/v2/Groups/{target.group_id}"
            body = {"schemas": [PATCH_OP], "Operations": deep}
        elif place == "search filter":
            method, path = "POST", "/scim/v2/.search"
            body = {"schemas": [SEARCH], "filter": deep}
        else:
            method, path = "POST", "/scim/v2/Groups"
            body = {"schemas": [GROUP], "displayName": name, "members": deep}
        # json.dumps itself gives up past the recursion limit: write the nesting by hand.
        raw = dumps_deep(body)
        response = target.exchange(method, path, raw=raw)
        if depth > 5 or place in ("body", "patch ops"):
            assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]

    run()


def dumps_deep(value) -> str:
    """Return value as JSON without recursion, so any depth can be sent."""
    out = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and item.startswith("\0raw:"):
            out.append(item[5:])
        elif isinstance(item, list):
            stack.append("\0raw:]")
            for i, child in enumerate(reversed(item)):
                stack.append(child)
                if i < len(item) - 1:
                    stack.append("\0raw:,")
            stack.append("\0raw:[")
        elif isinstance(item, dict):
            stack.append("\0raw:}")
            entries = list(item.items())
            for i, (key, child) in enumerate(reversed(entries)):
                stack.append(child)
                stack.append(f"\0raw:{json.dumps(key)}:")
                if i < len(entries) - 1:
                    stack.append("\0raw:,")
            stack.append("\0raw:{")
        else:
            out.append(json.dumps(item))
    return "".join(out)


def test_dumps_deep_writes_json():
    value = {"a": [1, {"b": "c", "d": [True, None]}], "e": {}}
    assert json.loads(dumps_deep(value)) == value


def test_ten_thousand_nested_lists_are_invalid_syntax_not_a_crash(target):
    for raw in ("[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000):
        for method, path in (
            ("POST", "/scim/v2/Users"),
            ("POST", "/scim/v2/Groups"),
            ("PATCH", f"/scim/v2/Users/{target.user_id}"),
            ("PATCH", f"/scim/v2/Groups/{target.group_id}"),
            ("PUT", f"/scim/v2/Users/{target.user_id}"),
            ("POST", "/scim/v2/.search"),
        ):
            response = target.exchange(method, path, raw=raw)
            assert response.status_code == 400, response.get_data(as_text=True)
            assert response.get_json()["scimType"] == "invalidSyntax"


def test_body_over_the_limit_is_refused_before_parsing(target):
    """An over-limit body answers 413 even when it is not JSON: it was never parsed."""
    limit = target.app.config["MAX_CONTENT_LENGTH"]
    not_json = b"{" * (limit + 1)
    for method, path in (
        ("POST", "/scim/v2/Users"),
        ("PUT", f"/scim/v2/Users/{target.user_id}"),
        ("PATCH", f"/scim/v2/Groups/{target.group_id}"),
        ("POST", "/scim/v2/.search"),
    ):
        assert target.exchange(method, path, raw=not_json).status_code == 413
        # The same bytes under the limit are read, parsed, and refused as bad JSON.
        under = target.exchange(method, path, raw=not_json[:1000])
        assert under.status_code == 400
        assert under.get_json()["scimType"] == "invalidSyntax"


def test_body_at_the_limit_is_read(target):
    limit = target.app.config["MAX_CONTENT_LENGTH"]
    name = f"{uuid.uuid4()}@example.com"
    raw = json.dumps({"schemas": [USER], "userName": name, "title": ""})
    raw = raw.replace('"title": ""', '"title": "' + "t" * (limit - len(raw)) + '"')
    assert len(raw) == limit
    response = target.exchange("POST", "/scim/v2/Users", raw=raw)
    assert response.status_code in (201, 400)
    assert_clean(response)
    created(target, "Users", response)
    over = target.exchange("POST", "/scim/v2/Users", raw=raw + " ")
    assert over.status_code == 413


def test_chunked_body_over_the_limit_is_413_not_truncated(target):
    """Without Content-Length the body is read up to the limit; one byte more is a 413.

    Werkzeug stops reading a chunked body at MAX_CONTENT_LENGTH and returns
    what it has: parsed, a truncated prefix could pass for a whole body.
    """
    limit = target.app.config["MAX_CONTENT_LENGTH"]
    name = f"{uuid.uuid4()}@example.com"
    whole = json.dumps({"schemas": [USER], "userName": name}).encode()
    for padding, status in ((limit - len(whole), 201), (limit - len(whole) + 1, 413)):
        raw = whole + b" " * padding  # the first `limit` bytes are valid JSON either way
        before = target.snapshot()
        response = target.client.post(
            "/scim/v2/Users",
            input_stream=io.BytesIO(raw),
            headers={**target.headers, "Content-Type": SCIM_JSON, "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.request.content_length is None
        assert response.status_code == status, response.get_data(as_text=True)
        assert_clean(response)
        if status == 413:
            assert target.snapshot() == before
        created(target, "Users", response)


@pytest.mark.parametrize("chunked", [True, False])
def test_body_over_the_limit_is_413_through_gunicorn(db_url, chunked):
    """Through the real server: chunked or with a Content-Length, an over-limit body is a 413."""
    limit = 1024 * 1024
    name = f"{uuid.uuid4()}@example.com"
    whole = json.dumps({"schemas": [USER], "userName": name}).encode()
    raw = whole + b" " * limit

    def chunks():
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    with serve(db_url, workers=1, threads=2) as server:
        with server.client(timeout=60.0) as client:
            try:
                response = client.post("/Users", content=chunks() if chunked else raw)
            except httpx.TransportError as error:
                pytest.fail(f"the server dropped the connection instead of answering: {error}")
            assert response.status_code == 413, response.text
            assert response.headers["Content-Type"].startswith(SCIM_JSON)
            assert response.json()["schemas"] == [ERROR]
            assert response.json()["status"] == "413"
        # A fresh connection: the server may close the one whose body it did not read.
        with server.client(timeout=60.0) as client:
            found = client.get("/Users", params={"filter": f'userName eq "{name}"'})
            assert found.json()["totalResults"] == 0


# ---------------------------------------------------------------------------
# Inputs that once gave a 500, found by the properties above
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", [[], {}, 1, None, True])
@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_patch_op_that_is_not_a_string_is_invalid_value(target, op, kind):
    resource_id = target.user_id if kind == "Users" else target.group_id
    body = {"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "title", "value": "x"}]}

    response = target.exchange("PATCH", f"/scim/v2/{kind}/{resource_id}", body=body)

    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidValue"


@pytest.mark.parametrize("schemas", [1, 1.5, True, "x", {"a": 1}])
@pytest.mark.parametrize("path", ["/scim/v2/.search", "/scim/v2/Users/.search"])
def test_search_request_with_schemas_not_a_list_is_invalid_value(target, schemas, path):
    response = target.exchange("POST", path, body={"schemas": schemas})

    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidValue"


SEARCH_BODY = '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], '


@pytest.mark.parametrize(
    ("raw", "scim_type"),
    [
        # Infinity and NaN are not JSON, though Python's parser takes them.
        (SEARCH_BODY + '"startIndex": Infinity}', "invalidSyntax"),
        (SEARCH_BODY + '"count": NaN}', "invalidSyntax"),
        # 1e400 is JSON, and a float infinity once parsed.
        (SEARCH_BODY + '"startIndex": 1e400}', "invalidValue"),
        (SEARCH_BODY + '"count": -1e400}', "invalidValue"),
        (SEARCH_BODY + '"count": 2.5}', "invalidValue"),
    ],
)
def test_infinite_or_fractional_paging_is_a_400(target, raw, scim_type):
    response = target.exchange("POST", "/scim/v2/.search", raw=raw)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["scimType"] == scim_type


def test_a_whole_float_is_still_a_count(target):
    response = target.exchange("POST", "/scim/v2/.search", raw=SEARCH_BODY + '"count": 2.0}')

    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a@example.com", "displayName": '
        b'"\\ud800"}',
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a\\udfff@example.com"}',
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a\xed\xa0\x80@example.com"}',
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a\\u0000@example.com"}',
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a@example.com", "title": '
        b'"x\\u0000y"}',
        b'{"schemas": ["' + USER.encode() + b'"], "userName": "a@example.com", "\\ud800": 1}',
    ],
)
def test_nul_and_lone_surrogates_are_invalid_value(target, raw):
    response = target.exchange("POST", "/scim/v2/Users", raw=raw)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["scimType"] == "invalidValue"


def test_nul_in_a_patch_value_is_invalid_value(target):
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "title", "value": "a\x00b"}],
    }

    response = target.exchange("PATCH", f"/scim/v2/Users/{target.user_id}", body=body)

    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidValue"


def test_korean_text_is_still_accepted(target):
    """Hangul's UTF-8 starts with the byte the surrogate check looks for (ED)."""
    body = {"schemas": [USER], "userName": f"{uuid.uuid4()}@example.com", "displayName": "한국어"}

    response = target.exchange("POST", "/scim/v2/Users", body=body)

    assert response.status_code == 201
    assert response.get_json()["displayName"] == "한국어"
    created(target, "Users", response)


@pytest.mark.parametrize(
    "kind, attributes",
    [
        ("Users", {"userName": "x" * 250 + "@example.com"}),
        ("Users", {"displayName": "é" * 256}),
        ("Users", {"externalId": "e" * 256}),
        ("Users", {"name": {"givenName": "g" * 256}}),
        ("Users", {"emails": [{"value": "v" * 256, "type": "work"}]}),
        ("Users", {"emails": [{"value": "a@example.com", "type": "t" * 65}]}),
        ("Users", {"userName": "İ" * 200}),  # lower() turns each into two code points
        ("Groups", {"displayName": "g" * 256}),
        ("Groups", {"externalId": "e" * 256}),
    ],
)
def test_values_longer_than_their_column_are_invalid_value(target, kind, attributes):
    """PostgreSQL refuses them with an error, SQLite would keep them: both answer 400."""
    schema = USER if kind == "Users" else GROUP
    body = {"schemas": [schema], "userName": f"{uuid.uuid4()}@example.com"}
    if kind == "Groups":
        body = {"schemas": [schema], "displayName": f"g-{uuid.uuid4()}"}

    response = target.exchange("POST", f"/scim/v2/{kind}", body={**body, **attributes})

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["scimType"] == "invalidValue"


def test_values_as_long_as_their_column_are_stored(target):
    body = {
        "schemas": [USER],
        "userName": "u" * 243 + f"{uuid.uuid4().hex[:12]}",
        "displayName": "é" * 255,
        "emails": [{"value": "v" * 255, "type": "t" * 64}],
    }

    response = target.exchange("POST", "/scim/v2/Users", body=body)

    assert response.status_code == 201, response.get_data(as_text=True)
    created(target, "Users", response)


@pytest.mark.parametrize(
    "path, query",
    [
        ("/scim/v2/Users/%00", ""),
        ("/scim/v2/Groups/a%00b", ""),
        ("/scim/v2/Users", "filter=" + quote('userName eq "a\x00"')),
        ("/scim/v2/Users", "attributes=userName%00"),
        ("/scim/v2/Groups", "sortBy=%00"),
    ],
)
def test_nul_in_the_url_is_invalid_value(target, path, query):
    response = target.exchange("GET", path, query=query)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["scimType"] == "invalidValue"
