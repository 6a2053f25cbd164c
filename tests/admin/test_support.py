"""The support view and its diagnostics download, after a real setup through the app.

The admin signs in, opens the SCIM tab and switches SCIM on; the token shown
once in that response is what "Entra" (a second test client) then sends:
a test connection, creates with extra attributes and a work email other than
the userName, a group, a legacy PATCH and two 409s.
"""

import hashlib
import html as html_module
import json
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from sqlalchemy import select

from unleash_wizard.admin import diagnostics
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store import tokens
from unleash_wizard.store.models import ScimToken
from unleash_wizard.store.models import User
from unleash_wizard.store.models import utcnow

PASSWORD = "Correct horse battery 9"
SCIM_URL = "https://wizard.example.com/scim/v2"
TENANT_URL = SCIM_URL + "?aadOptscim062020"
SCIM_JSON = "application/scim+json"
SECRET = re.compile(r"uwz_[A-Za-z0-9_-]{43}")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STEP_SLUGS = ["lockout", "scim-tab", "enable", "entra-app", "connect", "mappings", "provision"]
FILENAME = re.compile(r'^attachment; filename="unleash-wizard-diagnostics-\d{8}T\d{6}Z\.json"$')


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


def add_local(app, user_name: str, role: str = accounts.ADMIN) -> str:
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, PASSWORD, role)
        db.session.commit()
        return user.id


def sign_in(client, user_name: str):
    response = client.post("/login", data={"username": user_name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


class Entra:
    """Entra's provisioning service: its own client, the bearer token, SCIM JSON."""

    def __init__(self, app, token: str):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}", "Accept": SCIM_JSON}

    def send(self, method: str, path: str, body=None):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = SCIM_JSON
        return self.client.open(path, method=method, headers=headers, data=data)

    def test_connection(self):
        for resource, attribute in (("Users", "userName"), ("Groups", "displayName")):
            query = quote(f'{attribute} eq "{uuid.uuid4()}"')
            answer = self.send("GET", f"/scim/v2/{resource}?aadOptscim062020&filter={query}")
            assert answer.status_code == 200 and answer.get_json()["totalResults"] == 0

    def create_user(self, user_name: str, email: str | None = None, **extra) -> str:
        body = {
            "schemas": [USER, *([ENTERPRISE] if ENTERPRISE in extra else [])],
            "userName": user_name,
            "active": True,
            "displayName": user_name.split("@")[0].title(),
            "emails": [{"primary": True, "type": "work", "value": email or user_name}],
            "externalId": user_name.split("@")[0],
            **extra,
        }
        answer = self.send("POST", "/scim/v2/Users", body)
        assert answer.status_code == 201, text(answer)
        return answer.get_json()["id"]

    def create_group(self, name: str, members: list[str]) -> str:
        body = {
            "schemas": [GROUP],
            "displayName": name,
            "externalId": name.lower(),
            "members": [{"value": member} for member in members],
        }
        answer = self.send("POST", "/scim/v2/Groups", body)
        assert answer.status_code == 201, text(answer)
        return answer.get_json()["id"]

    def patch(self, path: str, *operations: dict):
        return self.send("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})


@dataclass
class Setup:
    app: object
    admin: object  # the signed-in admin's test client
    entra: Entra
    secret: str


def set_up_through_the_app(app) -> Setup:
    """Sign in as a local admin, open the SCIM tab, switch SCIM on; return the token shown."""
    add_local(app, "admin")
    admin = sign_in(app.test_client(), "admin")
    assert admin.get("/sso/scim").status_code == 200
    switched = admin.post("/sso/scim/toggle", data={"state": "on"})
    assert switched.status_code == 200
    found = set(SECRET.findall(text(switched)))
    assert len(found) == 1, found
    secret = found.pop()
    return Setup(app, admin, Entra(app, secret), secret)


@pytest.fixture
def provisioned(app) -> Setup:
    """A setup through the app, then Entra's first cycle with default mappings and failures."""
    setup = set_up_through_the_app(app)
    entra = setup.entra
    entra.test_connection()
    alice = entra.create_user(
        "alice@contoso.example",
        "alice.smith@mail.contoso.example",
        title="Engineer",
        **{ENTERPRISE: {"department": "R&D"}},
    )
    bob = entra.create_user("bob@contoso.example", title="Designer")
    entra.create_group("Engineering", [alice, bob])
    # Without ?aadOptscim062020 Entra capitalises ops and sends booleans as text.
    legacy_disable = {"op": "Replace", "path": "active", "value": "False"}
    legacy = entra.patch(f"/scim/v2/Users/{bob}", legacy_disable)
    assert legacy.status_code == 200, text(legacy)
    again = {"schemas": [USER], "userName": "bob@contoso.example"}
    duplicate = entra.send("POST", "/scim/v2/Users", again)
    assert duplicate.status_code == 409
    # The local admin's userName: SCIM never takes a local account over.
    local = entra.send("POST", "/scim/v2/Users", {"schemas": [USER], "userName": "admin"})
    assert local.status_code == 409
    return setup


@pytest.fixture
def clean(app) -> Setup:
    """A setup through the app, then a clean cycle: four mappings and the flag on."""
    setup = set_up_through_the_app(app)
    entra = setup.entra
    entra.test_connection()
    alice = entra.create_user("alice@contoso.example")
    bob = entra.create_user("bob@contoso.example")
    entra.create_group("Engineering", [alice, bob])
    disable = {"op": "replace", "path": "active", "value": False}
    compliant = entra.patch(f"/scim/v2/Users/{bob}", disable)
    assert compliant.status_code == 200, text(compliant)
    return setup


def page(setup: Setup) -> str:
    response = setup.admin.get("/support/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return text(response)


def download(setup: Setup):
    response = setup.admin.get("/support/diagnostics.json")
    assert response.status_code == 200, text(response)
    return response


def report_now(app) -> dict:
    """Return the report as diagnostics() builds it, without any request."""
    with app.app_context():
        return diagnostics.diagnostics(db.session, app.config, utcnow(), scim_url=SCIM_URL)


def password_hash(app, user_name: str) -> str:
    with app.app_context():
        return db.session.scalar(select(User.password_hash).where(User.user_name == user_name))


def token_hashes(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(ScimToken.name, ScimToken.token_hash)).all())


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def test_page_sums_up_the_setup_after_real_entra_traffic(provisioned):
    html = page(provisioned)

    # The verdict, with the steps to go to.
    assert "things need attention" in html
    assert 'href="/setup/mappings"' in html
    assert "Go to step 5" in html and "Go to step 6" in html
    # SCIM on, both URLs.
    assert re.search(r'<strong class="status status-on">On</strong>\s*<span>since <time', html)
    assert f'<code class="copyable" id="support-scim-url">{SCIM_URL}</code>' in html
    assert f'<code class="copyable" id="support-tenant-url">{TENANT_URL}</code>' in html
    assert "SQLite" in html or "PostgreSQL" in html
    # The token row, never its secret.
    token_prefix = provisioned.secret[:8]
    assert '<th scope="row">Entra</th>' in html
    assert f"<code>{token_prefix}…</code>" in html
    assert provisioned.secret not in html
    assert '<span class="status status-live">live</span>' in html
    # The last request: the 409 on the local admin's name, with its hint.
    assert "<code>POST /scim/v2/Users</code>" in html
    assert "409 error" in html
    assert "A local account has this userName" in html
    # Test connection seen, the flag off.
    assert '<span class="badge badge-active">Seen</span>' in html
    assert '<span class="badge badge-disabled">Off</span>' in html
    assert "legacy format" in html
    # Mapping findings, with the examples the admin needs to find the users.
    assert "<code>title</code>" in html
    assert "<code>enterprise: department</code>" in html
    assert "2 of 3" in html  # title arrived in two of three user writes
    example = "<code>alice@contoso.example</code> has <code>alice.smith@mail.contoso.example</code>"
    assert example in html
    assert "1 user has a work email other than their userName" in html
    # Counts.
    assert re.search(r"<dt>SCIM users</dt><dd>2</dd>", html)
    assert re.search(r"<dt>SCIM groups</dt><dd>1</dd>", html)
    assert re.search(r"<dt>Local accounts</dt><dd>1</dd>", html)
    assert re.search(r"<dt>Users created</dt><dd>2</dd>", html)
    # Errors by cause, each with what to do.
    assert "userName &#39;…&#39; is already taken" in html
    assert html.count("<strong>What to do:</strong>") >= 3  # the last request and two causes
    assert "Open the directory" in html
    # Every step, its number prominent, linked to the wizard.
    numbers = re.findall(r'<span class="support-step-number" aria-hidden="true">(\d)</span>', html)
    assert numbers == [str(number) for number in range(7)]
    for slug in STEP_SLUGS:
        assert f'href="/setup/{slug}"' in html
    # The download.
    assert 'href="/support/diagnostics.json" download>Download diagnostics</a>' in html


def test_menu_shows_support_once_signed_in_as_admin(app):
    setup = set_up_through_the_app(app)
    home = text(setup.admin.get("/sso/scim"))
    assert '<a href="/support/">Support</a>' in home


def test_fresh_setup_reads_as_in_progress(app):
    add_local(app, "admin")
    client = sign_in(app.test_client(), "admin")
    html = text(client.get("/support/"))

    assert "Setup in progress: step 1 (Find the SCIM settings) is next" in html
    assert '<strong class="status status-never">Off</strong>' in html
    assert "Entra hasn't sent any request yet." in html
    assert '<span class="badge">Not seen</span>' in html
    assert '<span class="badge">Unknown</span>' in html
    assert "No tokens yet" in html
    report = json.loads(text(client.get("/support/diagnostics.json")))
    assert report["summary"]["verdict"] == "in-progress"
    assert report["scim"] == {
        "state": "off",
        "since": None,
        "enabled_at": None,
        "paused_at": None,
        "live_tokens": 0,
        "step": 2,
    }
    assert report["last_request"] is None
    assert report["flag"]["mode"] == "unknown"


def test_clean_traffic_is_all_green(clean):
    html = page(clean)
    assert "All green" in html
    assert "support-summary-ok" in html
    assert '<span class="badge badge-active">On</span>' in html  # the flag
    report = json.loads(text(download(clean)))
    assert report["summary"]["verdict"] == "ok"
    assert report["summary"]["attention"] == []
    assert [step["state"] for step in report["steps"]] == ["done"] * 7
    assert report["flag"]["mode"] == "on"
    assert report["errors"]["groups"] == []


def test_paused_scim_shows_since_when(provisioned):
    paused = provisioned.admin.post("/sso/scim/toggle", data={"state": "off"})
    assert paused.status_code == 302
    html = page(provisioned)
    paused_since = r'<strong class="status status-paused">Paused</strong>\s*<span>since <time'
    assert re.search(paused_since, html)
    report = json.loads(text(download(provisioned)))
    assert report["scim"]["state"] == "paused"
    assert report["scim"]["since"] == report["scim"]["paused_at"] is not None
    assert report["scim"]["enabled_at"] is not None


def test_page_escapes_what_it_shows(provisioned):
    name = '<script>alert("x")</script>'
    added = provisioned.admin.post("/sso/scim/tokens/new", data={"name": name})
    assert added.status_code == 200
    html = page(provisioned)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # No inline script or style for the coming strict CSP.
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onclick=" not in html
    assert json.loads(text(download(provisioned)))["tokens"][0]["name"] == name


def test_log_link_shows_when_the_log_page_exists(app):
    if "log.requests" not in app.view_functions:
        app.add_url_rule("/test-log", "log.requests", lambda: "the log")
    setup = set_up_through_the_app(app)
    setup.entra.test_connection()
    html = page(setup)
    with app.test_request_context():
        from flask import url_for

        log_url = url_for("log.requests")
    assert f'<a href="{log_url}">Open the provisioning log</a>' in html


def test_no_log_link_without_the_log_page(app):
    app.view_functions.pop("log.requests", None)
    setup = set_up_through_the_app(app)
    setup.entra.test_connection()
    assert "Open the provisioning log" not in page(setup)


# ---------------------------------------------------------------------------
# The download
# ---------------------------------------------------------------------------


def test_download_is_an_attachment_of_pretty_json(provisioned):
    response = download(provisioned)
    assert response.mimetype == "application/json"
    assert FILENAME.match(response.headers["Content-Disposition"])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = text(response)
    assert body.startswith('{\n  "schema": "unleash-wizard-diagnostics/1",\n')
    report = json.loads(body)
    stamp = re.search(r"diagnostics-(\d{8}T\d{6})Z", response.headers["Content-Disposition"])
    assert report["generated_at"].replace("-", "").replace(":", "")[:15] == stamp.group(1)


def test_download_holds_the_same_facts_as_the_page(provisioned):
    report = json.loads(text(download(provisioned)))
    html = page(provisioned)

    # The very dict the page is built from, less the example names.
    expected = diagnostics.for_download(report_now(provisioned.app))
    for generated in (report, expected):
        generated.pop("generated_at")
    assert report == expected

    assert report["schema"] == "unleash-wizard-diagnostics/1"
    assert report["app"]["name"] == "unleash-wizard" and report["app"]["version"]
    assert report["setup"]["database"] in ("sqlite", "postgresql")
    assert report["setup"]["public_url_set"] is True
    assert report["setup"]["scim_url"] == SCIM_URL
    assert report["setup"]["tenant_url"] == TENANT_URL
    assert report["scim"]["state"] == "on" and report["scim"]["since"]
    [token] = report["tokens"]
    # What identifies a token, never its secret or hash.
    fields = ("name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "status")
    assert sorted(token) == sorted(fields)
    assert token["name"] == "Entra" and token["status"] == "live"
    assert token["prefix"] == provisioned.secret[:8] and token["last_used_at"]
    last = report["last_request"]
    request = (last["method"], last["path"], last["status"], last["token_name"])
    assert request == ("POST", "/scim/v2/Users", 409, "Entra")
    assert last["ok"] is False and last["hint"]["endpoint"] == "directory.users"
    assert report["test_connection"]["seen"] is True and report["test_connection"]["at"]
    assert report["flag"]["mode"] == "off"
    assert report["flag"]["legacy_kinds"] == ["legacy-op-case", "legacy-boolean-string"]
    assert report["mappings"]["extra_attributes"] == [
        {"name": "title", "count": 2},
        {"name": "enterprise: department", "count": 1},
    ]
    assert report["mappings"]["email_mismatch_count"] == 1
    assert "email_mismatch_examples" not in report["mappings"]
    counts = report["counts"]
    assert (counts["scim_users"], counts["scim_groups"], counts["local_accounts"]) == (2, 1, 1)
    assert counts["activity"]["users_created"] == 2
    assert counts["activity"]["users_disabled"] == 1
    assert counts["activity"]["conflicts"] == 1
    causes = {(group["status"], group["cause"]) for group in report["errors"]["groups"]}
    assert (409, "userName '…' is already taken") in causes
    assert all(group["hint"]["text"] for group in report["errors"]["groups"])
    assert [(step["number"], step["slug"]) for step in report["steps"]] == list(
        enumerate(STEP_SLUGS)
    )
    assert report["summary"]["verdict"] == "attention"
    assert {item["step"] for item in report["summary"]["attention"]} == {4, 5, 6}

    # What the file says, the page says.
    shown = html_module.unescape(html)
    assert report["summary"]["headline"] in shown
    for item in report["summary"]["attention"]:
        assert item["text"] in shown
    for step in report["steps"][1:]:  # step 0's summary names the admins on the page only
        assert step["title"] in shown
        assert step["summary"] in shown
    assert "You can always sign in with a password as admin." in shown
    assert report["steps"][0]["summary"] == "1 local admin can sign in with a password."
    for group in report["errors"]["groups"]:
        assert group["cause"] in shown
        assert group["hint"]["text"] in shown
    assert report["flag"]["explanation"] in shown
    assert report["mappings"]["summary"] in shown


def test_step_numbers_are_stable(provisioned):
    """Support says "go to step 5": the numbers and slugs must never move."""
    report = json.loads(text(download(provisioned)))
    assert [(step["number"], step["slug"], step["title"]) for step in report["steps"]] == [
        (0, "lockout", "Keep a way in"),
        (1, "scim-tab", "Find the SCIM settings"),
        (2, "enable", "Switch SCIM on"),
        (3, "entra-app", "Open provisioning in Entra"),
        (4, "connect", "Connect Entra"),
        (5, "mappings", "Keep only four mappings"),
        (6, "provision", "Turn provisioning on"),
    ]


def test_download_holds_no_secret(provisioned, db_url):
    app = provisioned.app
    body = text(download(provisioned))
    session_cookie = provisioned.admin.get_cookie("session")
    assert session_cookie is not None

    forbidden = {
        "the token's secret": provisioned.secret,
        "the token's hash": hashlib.sha256(provisioned.secret.encode()).hexdigest(),
        "the admin's password": PASSWORD,
        "the admin's password hash": password_hash(app, "admin"),
        "the SECRET_KEY": app.config["SECRET_KEY"],
        "the database URL": db_url,
        "the session cookie": session_cookie.value,
    }
    for hash_ in token_hashes(app).values():
        forbidden[f"a token hash {hash_[:6]}"] = hash_
    assert all(forbidden.values())
    found = [label for label, secret in forbidden.items() if secret in body]
    assert found == []
    # The page shows example userNames; the file keeps the counts only.
    for name in ("alice@contoso", "alice.smith@mail.contoso", "bob@contoso"):
        assert name not in body
    assert json.loads(body)["steps"][0]["summary"] == "1 local admin can sign in with a password."


def test_download_refuses_when_the_secret_key_would_leak(provisioned, monkeypatch, caplog):
    app = provisioned.app
    key = app.config["SECRET_KEY"]
    build = diagnostics.diagnostics

    def leaky(*args, **kwargs):
        return {**build(*args, **kwargs), "oops": {"config": key}}

    monkeypatch.setattr(diagnostics, "diagnostics", leaky)
    with caplog.at_level(logging.ERROR):
        response = provisioned.admin.get("/support/diagnostics.json")

    assert response.status_code == 500
    assert "Content-Disposition" not in response.headers
    assert key not in text(response)
    assert "Download stopped" in text(response)
    [record] = [r for r in caplog.records if "diagnostics download refused" in r.getMessage()]
    assert "the SECRET_KEY" in record.getMessage()
    assert key not in record.getMessage()


def test_download_refuses_when_a_token_hash_would_leak(provisioned, monkeypatch, caplog):
    [token_hash] = token_hashes(provisioned.app).values()
    build = diagnostics.diagnostics

    def leaky(*args, **kwargs):
        report = build(*args, **kwargs)
        report["tokens"][0]["hash"] = token_hash
        return report

    monkeypatch.setattr(diagnostics, "diagnostics", leaky)
    with caplog.at_level(logging.ERROR):
        response = provisioned.admin.get("/support/diagnostics.json")

    assert response.status_code == 500
    assert token_hash not in text(response)
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "the hash of the SCIM token 'Entra'" in messages
    assert token_hash not in messages


def test_guard_finds_secrets_escaped_by_json():
    hidden = {"the SECRET_KEY": 'a"quoted\\key-1234'}
    serialized = diagnostics.serialize({"leak": 'a"quoted\\key-1234'})
    assert 'a"quoted\\key-1234' not in serialized  # JSON escaped it
    assert diagnostics.leaked_secrets(serialized, hidden) == ["the SECRET_KEY"]
    assert diagnostics.leaked_secrets(diagnostics.serialize({"fine": 1}), hidden) == []


def test_guard_lists_every_secret_the_app_holds(provisioned):
    app = provisioned.app
    with app.app_context():
        hidden = diagnostics.secrets_to_hide(db.session, app.config)
    values = set(hidden.values())
    assert app.config["SECRET_KEY"] in values
    assert set(token_hashes(app).values()) <= values
    assert password_hash(app, "admin") in values
    assert app.config["SQLALCHEMY_DATABASE_URI"] in values
    # The labels go to the log: none of them holds a secret.
    assert not any(value in " ".join(hidden) for value in values)


def test_a_token_expiring_soon_needs_attention(clean):
    app = clean.app
    with app.app_context():
        issued = tokens.issue(db.session, "Short-lived", expires_days=3)
        db.session.commit()
    report = json.loads(text(download(clean)))
    assert report["summary"]["verdict"] == "attention"
    [item] = report["summary"]["attention"]
    assert "The token 'Short-lived' expires in 3 days" in item["text"]
    assert item["step"] == 2
    assert issued.secret not in text(download(clean))


# ---------------------------------------------------------------------------
# Who may see it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/support/", "/support/diagnostics.json"])
def test_viewers_are_refused(app, path):
    add_local(app, "admin")
    add_local(app, "viewer", role=accounts.VIEWER)
    client = sign_in(app.test_client(), "viewer")
    response = client.get(path)
    assert response.status_code == 403
    assert "Content-Disposition" not in response.headers


@pytest.mark.parametrize("path", ["/support/", "/support/diagnostics.json"])
def test_anonymous_visitors_sign_in_first(app, path):
    add_local(app, "admin")
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
