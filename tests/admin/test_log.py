"""The provisioning log page, the admin actions beside it, and pruning them.

Traffic goes through the real /scim/v2 API (the ``scim`` fixture), so the rows
are what production would record; rows with an old time are inserted directly.
"""

import re
import uuid
from datetime import timedelta
from html import unescape
from urllib.parse import quote

import pytest
from apps import sql_statements
from sqlalchemy import func
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import ENTERPRISE
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import audit
from unleash_wizard.store import log
from unleash_wizard.store import tokens
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import ProvisioningLog
from unleash_wizard.store.models import Setting
from unleash_wizard.store.models import utcnow

PASSWORD = "Correct horse battery 9"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SECRET = re.compile(r"uwz_[A-Za-z0-9_-]{43}")
ENTRY = re.compile(r'<tbody class="log-entry[^"]*">(.*?)</tbody>', re.S)


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


def add_local(app, user_name: str, role: str = accounts.ADMIN) -> str:
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, PASSWORD, role)
        db.session.commit()
        return user.id


def sign_in(client, user_name: str) -> None:
    response = client.post("/login", data={"username": user_name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def admin(app) -> str:
    return add_local(app, "admin")


@pytest.fixture
def signed_in(client, admin):
    sign_in(client, "admin")
    return client


def entra_user(user_name: str, **extra) -> dict:
    return {
        "schemas": [USER],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].title(),
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "externalId": user_name.split("@")[0],
        **extra,
    }


def send_traffic(client, scim) -> dict[str, str]:
    """Send what Entra would, mistakes included; return the ids it made."""
    guid = str(uuid.uuid4())
    filter_ = quote(f'userName eq "{guid}"')
    assert scim.get(f"/scim/v2/Users?aadOptscim062020&filter={filter_}").status_code == 200
    user = scim.post("/scim/v2/Users", json=entra_user("ada@example.com"))
    assert user.status_code == 201, user.get_data(as_text=True)
    duplicate = scim.post("/scim/v2/Users", json=entra_user("ada@example.com"))
    assert duplicate.status_code == 409
    bad_filter = scim.get("/scim/v2/Users?filter=" + quote("userName xx 1"))
    assert bad_filter.status_code == 400
    assert bad_filter.get_json()["scimType"] == "invalidFilter"
    for _ in range(2):
        refused = client.get("/scim/v2/Users", headers={"Authorization": "Bearer uwz_not-a-token"})
        assert refused.status_code == 401
    group = scim.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "Staff", "members": []},
    )
    assert group.status_code == 201
    user_id = user.get_json()["id"]
    disable = scim.patch(
        f"/scim/v2/Users/{user_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert disable.status_code == 200, disable.get_data(as_text=True)
    assert scim.get("/scim/v2/ServiceProviderConfig").status_code == 200
    return {"user": user_id, "group": group.get_json()["id"]}


def entries(response) -> list[str]:
    """Return each request on the page (its row and error row), as text without tags."""
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return [
        unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", chunk)))
        for chunk in ENTRY.findall(html)
    ]


def statuses(response) -> list[int]:
    html = response.get_data(as_text=True)
    return [int(found) for found in re.findall(r'class="log-status log-status-\dxx">(\d+)<', html)]


def add_rows(app, count: int, age: timedelta = timedelta(0), **fields) -> None:
    """Insert log rows directly, as old as age."""
    with app.app_context():
        at = utcnow() - age
        values = {"method": "GET", "path": "/scim/v2/Users", "status": 200, **fields}
        for number in range(count):
            db.session.add(ProvisioningLog(at=at - timedelta(seconds=number), **values))
        db.session.commit()


def log_count(app) -> int:
    with app.app_context():
        return log.count(db.session)


# ---------------------------------------------------------------------------
# The requests
# ---------------------------------------------------------------------------


def test_lists_requests_newest_first_with_their_details(app, client, scim, signed_in):
    ids = send_traffic(client, scim)

    response = signed_in.get("/log/")

    assert statuses(response) == [200, 200, 201, 401, 401, 400, 409, 201, 200]
    rows = entries(response)
    assert "GET /ServiceProviderConfig 200" in rows[0]
    patch_row = rows[1]
    assert f"PATCH /Users/{ids['user'][:8]}… 200" in patch_row
    assert ids["user"] not in patch_row  # shortened; the full path is in its title
    assert "entra" in patch_row  # the token's name
    assert "user disabled" in patch_row
    assert "old PATCH format: capitalised op" in patch_row
    assert 'old PATCH format: "False" as text' in patch_row
    assert "test connection" in rows[-1]
    assert "ago" in rows[0] or "just now" in rows[0]
    html = response.get_data(as_text=True)
    assert "Provisioning log" in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", html)


def test_error_rows_show_the_scim_error_the_hint_and_the_step_that_fixes_it(
    app, client, scim, signed_in
):
    send_traffic(client, scim)

    rows = entries(signed_in.get("/log/"))
    html = signed_in.get("/log/").get_data(as_text=True)

    conflict = next(row for row in rows if " 409 " in row)
    assert "Error 409 uniqueness" in conflict
    assert "What to do: Entra tried to create something that already exists here" in conflict
    assert "Step 5: Keep only four mappings" in conflict
    invalid = next(row for row in rows if " 400 " in row)
    assert "invalidFilter" in invalid and "What to do:" in invalid
    refused = [row for row in rows if " 401 " in row]
    assert len(refused) == 2
    assert "Entra's token isn't one this app accepts" in refused[0]
    assert "Step 4: Connect Entra" in refused[0]
    assert "bad token" in refused[0]
    assert 'href="/setup/connect">Step 4: Connect Entra</a>' in html
    assert 'href="/setup/mappings">Step 5: Keep only four mappings</a>' in html
    # Successful rows have no error row.
    assert all("What to do" not in row for row in rows if " 201 " in row or " 200 " in row)


def test_a_local_account_conflict_links_to_the_directory(app, client, scim, signed_in):
    add_local(app, "grace@example.com", role=accounts.VIEWER)
    assert scim.post("/scim/v2/Users", json=entra_user("grace@example.com")).status_code == 409

    row = entries(signed_in.get("/log/"))[0]

    assert "local account has this userName" in row
    assert "A local account has this userName" in row
    html = signed_in.get("/log/").get_data(as_text=True)
    assert 'href="/directory/users">Open the directory</a>' in html


def test_attribute_names_are_listed_with_a_more_tail(app, scim, signed_in):
    body = entra_user(
        "lin@example.com",
        name={"givenName": "Lin", "familyName": "Ma"},
        title="Engineer",
        **{ENTERPRISE: {"department": "R&D", "employeeNumber": "7"}},
    )
    body["schemas"].append(ENTERPRISE)
    assert scim.post("/scim/v2/Users", json=body).status_code == 201

    row = entries(signed_in.get("/log/"))[0]

    # active, displayName, emails, externalId, name, title, enterprise: department,
    # enterprise: employeeNumber, userName: five shown, the rest counted.
    assert "active, displayName, emails, externalId, name +4 more" in row
    html = signed_in.get("/log/").get_data(as_text=True)
    assert f"{ENTERPRISE}:department" in html  # in full in the title
    assert "R&D" not in row and "Engineer" not in row  # names, never values


def test_each_filter_narrows_the_list(app, client, scim, signed_in):
    send_traffic(client, scim)
    add_rows(
        app,
        1,
        timedelta(hours=3),
        method="DELETE",
        path="/scim/v2/Groups/x",
        status=204,
        resource_type="Group",
    )
    add_rows(
        app,
        1,
        timedelta(days=3),
        method="PUT",
        path="/scim/v2/Users/y",
        status=500,
        resource_type="User",
    )
    add_rows(app, 1, age=timedelta(days=30), method="GET", path="/scim/v2/Schemas", status=200)

    def shown(query: str) -> list[int]:
        return statuses(signed_in.get("/log/?" + query))

    assert len(shown("")) == 12
    assert sorted(shown("status=errors")) == [400, 401, 401, 409, 500]
    assert sorted(shown("status=4xx")) == [400, 401, 401, 409]
    assert shown("status=5xx") == [500]
    assert sorted(shown("status=2xx")) == [200, 200, 200, 200, 201, 201, 204]
    assert shown("method=POST") == [201, 409, 201]
    assert shown("method=patch") == [200]
    assert shown("method=DELETE") == [204]
    # A request refused before it reached a resource still counts as one on /Users.
    assert sorted(shown("resource=User")) == [200, 200, 201, 400, 401, 401, 409, 500]
    assert shown("resource=Group") == [201, 204]
    assert shown("resource=other") == [200, 200]
    assert len(shown("time=1h")) == 9
    assert len(shown("time=24h")) == 10
    assert len(shown("time=7d")) == 11
    assert len(shown("time=all")) == 12
    assert shown("status=errors&resource=User&time=7d&method=PUT") == [500]
    day = (utcnow() - timedelta(days=3)).date().isoformat()
    assert shown(f"from={day}&to={day}") == [500]
    old = (utcnow() - timedelta(days=30)).date().isoformat()
    assert shown(f"to={old}") == [200]
    assert len(shown(f"from={day}")) == 11
    # Dates win over the time range; from and to the wrong way round still work.
    assert shown(f"time=1h&from={day}&to={old}") == [500, 200]
    # Values the page doesn't know mean "any", and a bad date says so.
    assert len(shown("status=teapot&method=BREW&resource=x&time=1y")) == 12
    response = signed_in.get("/log/?from=yesterday")
    assert "Write dates as YYYY-MM-DD" in response.get_data(as_text=True)
    assert len(statuses(response)) == 12


def test_filters_show_in_the_form_and_in_words(app, scim, signed_in):
    html = signed_in.get("/log/?status=errors&method=POST&resource=Group&time=24h").get_data(
        as_text=True
    )

    assert '<option value="errors" selected>' in html
    assert '<option value="POST" selected>' in html
    assert '<option value="Group" selected>' in html
    assert '<option value="24h" selected>' in html
    assert "Showing: Errors (400 and up) · POST · Groups · last 24 hours" in html
    assert "No request matches these filters." in html


def test_pages_hold_fifty_requests_and_keep_the_filters(app, signed_in):
    add_rows(app, 120, status=404)
    add_rows(app, 5, status=200)

    first = signed_in.get("/log/?status=4xx")
    third = signed_in.get("/log/?status=4xx&page=3")
    beyond = signed_in.get("/log/?status=4xx&page=99")

    assert len(statuses(first)) == 50
    assert len(statuses(third)) == 20
    assert statuses(beyond) == statuses(third)
    html = first.get_data(as_text=True)
    assert "1–50 of 120 requests" in html
    assert re.search(
        r'href="/log/\?(page=2&amp;status=4xx|status=4xx&amp;page=2)" rel="next"', html
    )
    assert "101–120 of 120 requests" in third.get_data(as_text=True)


def test_the_page_never_shows_the_token(app, client, scim, scim_token, signed_in):
    send_traffic(client, scim)
    assert scim.get("/scim/v2/Users/" + scim_token).status_code == 404  # a token in the path...

    for page in ("/log/", "/log/audit", "/log/?status=errors"):
        html = signed_in.get(page).get_data(as_text=True)
        assert scim_token not in html
        assert scim_token[:20] not in html
        assert "Bearer" not in html and "uwz_not-a-token" not in html


def test_markup_in_a_path_is_escaped(app, client, scim, signed_in):
    scim.get("/scim/v2/<script>alert(1)</script>")

    html = signed_in.get("/log/").get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_empty_log_says_so(app, signed_in):
    html = signed_in.get("/log/").get_data(as_text=True)

    assert "No SCIM requests yet." in html
    assert "0 requests" in html


def test_the_menu_links_to_the_log(app, signed_in):
    html = signed_in.get("/log/").get_data(as_text=True)

    assert '<a href="/log/" aria-current="page">Provisioning log</a>' in html


# ---------------------------------------------------------------------------
# Admin actions
# ---------------------------------------------------------------------------


def test_admin_actions_list_what_was_done_on_the_sso_pages(app, client, signed_in):
    switched = signed_in.post("/sso/scim/toggle", data={"state": "on"})
    secret = SECRET.findall(switched.get_data(as_text=True))[0]
    created = signed_in.post("/sso/scim/tokens/new", data={"name": "rotation"})
    second = SECRET.findall(created.get_data(as_text=True))[0]
    signed_in.post("/sso/scim/toggle", data={"state": "off"})
    with app.app_context():
        audit.record(db.session, "admin", "user.remove", "SCIM-managed user 'ada' removed")
        db.session.commit()

    response = signed_in.get("/log/audit")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert secret not in html and second not in html
    actions = re.findall(r'<td class="log-action">([^<]+?)\s*<', html)
    actors = re.findall(r'<td class="log-actor">([^<]+)<', html)
    assert actions == [
        "User removed",
        "SCIM switched off",
        "Token created",
        "SCIM switched on",
        "Token created",
    ]
    assert "token 'rotation' (prefix" in unescape(html)
    assert actors == ["admin"] * 5
    assert '<a href="/log/audit" aria-current="page">Admin actions</a>' in html


def test_admin_actions_page_fifty_at_a_time(app, signed_in):
    with app.app_context():
        for number in range(55):
            audit.record(db.session, "cli", "scim.enable", f"number {number}")
        db.session.commit()

    first = signed_in.get("/log/audit").get_data(as_text=True)
    second = signed_in.get("/log/audit?page=2").get_data(as_text=True)

    cell = '<td class="log-action">SCIM switched on'
    assert first.count(cell) == 50 and "number 54" in first
    assert second.count(cell) == 5 and "number 0" in second
    assert "1–50 of 55 actions" in first


# ---------------------------------------------------------------------------
# Who may look
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/log/", "/log/audit", "/log/?status=errors"])
def test_viewers_get_403(app, client, admin, path):
    add_local(app, "viewer", role=accounts.VIEWER)
    sign_in(client, "viewer")

    response = client.get(path)

    assert response.status_code == 403
    assert "This page is for Admins" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/log/", "/log/audit"])
def test_anonymous_visitors_sign_in_first(app, client, admin, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# ---------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------


def add_events(app, count: int, age: timedelta) -> None:
    with app.app_context():
        for _ in range(count):
            db.session.add(
                AuditEvent(at=utcnow() - age, actor="admin", action="scim.enable", detail="on")
            )
        db.session.commit()


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEvent.id)))


def test_flask_log_prune_removes_old_rows_and_keeps_recent_ones(app, runner):
    add_rows(app, 4, age=timedelta(days=91))
    add_rows(app, 3, age=timedelta(days=89))
    add_events(app, 2, age=timedelta(days=366))
    add_events(app, 1, age=timedelta(days=364))

    result = runner.invoke(args=["log", "prune"])

    assert result.exit_code == 0, result.output
    assert "Removed 4 provisioning log rows" in result.output
    assert "Removed 2 audit events (none older than 365 days)" in result.output
    assert log_count(app) == 3
    with app.app_context():
        oldest = db.session.scalar(select(func.min(ProvisioningLog.at)))
        assert utcnow() - tokens.aware(oldest) < timedelta(days=90)
        assert log.last_pruned(db.session) is not None
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    # The young event stays, and the prune itself is on the record.
    assert actions == ["scim.enable", "log.prune"]


def test_flask_log_prune_keeps_only_the_newest_rows_past_the_count_bound(app, runner):
    app.config["SCIM_LOG_MAX_ROWS"] = 10
    add_rows(app, 15, status=200)
    add_rows(app, 10, status=201)  # the newest ten

    result = runner.invoke(args=["log", "prune"])

    assert result.exit_code == 0, result.output
    assert "Removed 15 provisioning log rows (keeping the newest 10 at most" in result.output
    with app.app_context():
        kept = db.session.scalars(select(ProvisioningLog.status)).all()
    assert kept == [201] * 10


def test_flask_log_prune_applies_both_bounds_and_options_win(app, runner):
    add_rows(app, 5, age=timedelta(days=20))
    add_rows(app, 5, age=timedelta(days=5))
    add_rows(app, 5)

    result = runner.invoke(args=["log", "prune", "--max-age-days", "10", "--max-rows", "3"])

    assert result.exit_code == 0, result.output
    assert "Removed 12 provisioning log rows" in result.output
    assert "Removed 0 audit events" in result.output
    assert log_count(app) == 3


def test_flask_log_prune_with_nothing_to_remove_says_so(app, runner):
    add_rows(app, 2)

    result = runner.invoke(args=["log", "prune"])

    assert result.exit_code == 0, result.output
    assert "Removed 0 provisioning log rows" in result.output
    assert log_count(app) == 2
    assert audit_count(app) == 0


def test_scim_requests_prune_at_most_once_per_interval(app, scim):
    app.config["SCIM_LOG_PRUNE_EVERY_REQUESTS"] = 1  # look at the shared time every request
    add_rows(app, 3, age=timedelta(days=100))
    add_events(app, 2, age=timedelta(days=400))

    assert scim.get("/scim/v2/Users").status_code == 200

    assert log_count(app) == 1  # the old rows went; this request's row stays
    assert audit_count(app) == 0
    with app.app_context():
        first = log.last_pruned(db.session)
    assert first is not None

    add_rows(app, 3, age=timedelta(days=100))
    for _ in range(3):
        assert scim.get("/scim/v2/Users").status_code == 200
    assert log_count(app) == 7  # within the hour: nothing pruned
    with app.app_context():
        assert log.last_pruned(db.session) == first

    # An hour later (another instance's prune time moved back), the next request prunes.
    with app.app_context():
        db.session.get(Setting, log.PRUNED_AT).value = (first - timedelta(hours=2)).isoformat()
        db.session.commit()
    assert scim.get("/scim/v2/Users").status_code == 200
    assert log_count(app) == 5
    with app.app_context():
        assert log.last_pruned(db.session) > first


def test_a_process_looks_at_the_prune_time_only_every_n_requests(app, scim):
    app.config["SCIM_LOG_PRUNE_EVERY_REQUESTS"] = 3
    assert scim.get("/scim/v2/Users").status_code == 200  # a process's first request looks
    with app.app_context():
        first = log.last_pruned(db.session)
        db.session.get(Setting, log.PRUNED_AT).value = (first - timedelta(hours=2)).isoformat()
        db.session.commit()
    add_rows(app, 2, age=timedelta(days=100))

    for _ in range(2):
        assert scim.get("/scim/v2/Users").status_code == 200
    assert log_count(app) == 5  # the process has not looked again yet

    assert scim.get("/scim/v2/Users").status_code == 200  # the third since it looked
    assert log_count(app) == 4


def test_maybe_prune_costs_no_query_until_due(app):
    bounds = log.Bounds.from_config({**app.config, "SCIM_LOG_PRUNE_EVERY_REQUESTS": 1000})
    with app.app_context():
        assert log.maybe_prune(db.session, bounds) == log.Pruned(0, 0)
        with sql_statements(app) as statements:
            for _ in range(50):
                assert log.maybe_prune(db.session, bounds) is None
        assert statements == []
