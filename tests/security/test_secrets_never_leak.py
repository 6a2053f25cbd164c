"""No token, password or secret key ever leaves where it belongs.

A whole setup runs against gunicorn, as in production, over HTTP with CSRF on:
first run, the wizard's steps, SCIM switched on with its token shown once,
Entra's test connection and provisioning (with a wrong, a revoked and a
rotated token), the admin group, a second token and a rotation, single
sign-on set up by the deployment, the directory, failed sign-ins, error pages and the
support download; a Viewer is added from the command line. Then the secrets
(every SCIM token, both passwords, the SECRET_KEY, the OIDC client secret) are
searched for in every row of every table (and, on SQLite, the raw database and
WAL bytes), in gunicorn's and the app's output, in every page, fragment,
picture and error of the app, in the session cookie's content and in the
diagnostics file. The only place a token may appear is the page that shows it
once.
"""

import base64
import json
import re
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import httpx
from apps import csrf_token
from live import ROOT
from live import run_live_server
from security_helpers import get_urls
from sqlalchemy import MetaData
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.engine import make_url

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import entra_client

ADMIN_PASSWORD = "Break glass in case 42"
VIEWER_PASSWORD = "Viewer reads only 77"
OIDC_SECRET = "oidc-client-secret-" + uuid.uuid4().hex
SECRET_KEY = "live-server-secret-key"  # what tests/live.py gives gunicorn
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SHOWN_ONCE = re.compile(r'id="new-token-secret">\s*(uwz_[A-Za-z0-9_-]+)\s*<')


class Admin:
    """A person in a browser: cookies kept, CSRF tokens taken from the pages."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, follow_redirects=True, timeout=30)
        self.seen: list[tuple[str, str]] = []  # (what, text) for the search

    def keep(self, what: str, response: httpx.Response) -> httpx.Response:
        self.seen.append((what, response.text))
        self.seen.append((what + " headers", str(list(response.headers.items()))))
        for step in response.history:
            self.seen.append((what + " redirect", str(list(step.headers.items()))))
        return response

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.keep(f"GET {path}", self.http.get(path, **kwargs))

    def post(self, path: str, data: dict, page: str | None = None) -> httpx.Response:
        """Post data as the form on page (default: path) would, with its CSRF token."""
        form_page = self.http.get(page or path)
        token = csrf_token(form_page.text)
        response = self.http.post(path, data={**data, "csrf_token": token})
        return self.keep(f"POST {path}", response)

    def shown_token(self, response: httpx.Response) -> str:
        """Return the token a page shows once, keeping that page out of the search."""
        assert response.status_code == 200, response.text
        found = SHOWN_ONCE.search(response.text)
        assert found, "the new token is shown once"
        self.seen.pop(-2)  # this page may hold its own token; its headers are still searched
        return found.group(1)


def provision(client: httpx.Client, user_name: str, **extra) -> str:
    assert client.get("/Users", params={"filter": f'userName eq "{user_name}"'}).status_code == 200
    body = {
        "schemas": [USER],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].title(),
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "externalId": user_name.split("@")[0],
        **extra,
    }
    created = client.post("/Users", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def session_content(cookie: str | None) -> str:
    """Return what a Flask session cookie carries: signed, not encrypted, so readable."""
    if not cookie:
        return ""
    payload = cookie.split(".")[1 if cookie.startswith(".") else 0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return zlib.decompress(data).decode() if cookie.startswith(".") else data.decode()


def database_text(db_url: str) -> str:
    """Return every value of every row of every table, as text."""
    engine = create_engine(db_url)
    metadata = MetaData()
    metadata.reflect(engine)
    parts = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.append(f"{table.name}: {json.dumps(list(row), default=str)}")
    engine.dispose()
    assert any(part.startswith("users:") for part in parts)
    return "\n".join(parts)


def sqlite_bytes(db_url: str) -> bytes:
    """Return the raw bytes of a SQLite database and its WAL; empty on PostgreSQL."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        return b""
    path = Path(url.database)
    files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
    return b"".join(file.read_bytes() for file in files if file.exists())


def run_the_whole_setup(url: str, db_url: str) -> tuple[Admin, dict[str, str], list[str]]:
    """Run a first-time admin's whole setup and Entra's traffic; return what to search."""
    admin = Admin(url)
    secrets: dict[str, str] = {
        "the admin password": ADMIN_PASSWORD,
        "the viewer password": VIEWER_PASSWORD,
        "the SECRET_KEY": SECRET_KEY,
        "the OIDC client secret": OIDC_SECRET,
    }
    extra: list[str] = []

    # First run, then the wizard from step 0.
    assert admin.get("/").url.path == "/setup/first-run"
    created = admin.post(
        "/setup/first-run",
        {"username": "breakglass", "password": ADMIN_PASSWORD, "confirm": ADMIN_PASSWORD},
    )
    assert created.url.path.startswith("/setup"), created.url
    admin.get("/setup/lockout")
    admin.post("/setup/lockout/admin-group", {"group": "Unleash Admins"}, page="/setup/lockout")

    # Steps 1 and 2: the SCIM tab, SCIM on, the token shown once.
    admin.get("/sso/scim")
    token = admin.shown_token(admin.post("/sso/scim/toggle", {"state": "on"}, page="/sso/scim"))
    secrets["the first SCIM token"] = token
    admin.post("/setup/entra-app/confirm", {}, page="/setup/entra-app")

    with entra_client(url, token) as client:
        # Step 4, with a wrong token first and a token sent under the wrong scheme.
        with entra_client(url, token + "x") as wrong:
            assert wrong.get("/Users").status_code == 401
        basic = httpx.get(url + "/scim/v2/Users", headers={"Authorization": f"Basic {token}"})
        assert basic.status_code == 401
        extra.append(basic.text)
        for endpoint, attribute in (("/Users", "userName"), ("/Groups", "displayName")):
            found = client.get(endpoint, params={"filter": f'{attribute} eq "{uuid.uuid4()}"'})
            assert found.status_code == 200
        # Step 5: extra mappings, the legacy PATCH, then a check from now.
        alice = provision(
            client,
            "alice@contoso.example",
            title="Engineer",
            schemas=[USER, ENTERPRISE],
            **{ENTERPRISE: {"department": "R&D"}},
        )
        legacy = client.patch(
            f"/Users/{alice}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        assert legacy.status_code == 200
        admin.post("/setup/mappings/recheck", {}, page="/setup/mappings")
        bob = provision(client, "bob@contoso.example")
        # Step 6: the admin group with a member; errors of several kinds.
        group = client.post(
            "/Groups", json={"displayName": "Unleash Admins", "members": [{"value": bob}]}
        )
        assert group.status_code == 201
        for response in (
            client.post("/Users", json={"userName": "bob@contoso.example"}),  # 409
            client.post("/Users", json={"userName": "breakglass"}),  # a local account
            client.get("/Users", params={"filter": "userName zz 1"}),  # 400
            client.get(f"/Users/{uuid.uuid4()}"),  # 404
            client.delete("/Nope"),  # 404
            client.post("/Users", content=b"{not json"),  # 400
        ):
            assert 400 <= response.status_code < 500, response.text
            extra.append(response.text)

    # A second token, then a rotation of the first; the old one is refused.
    second = admin.shown_token(
        admin.post("/sso/scim/tokens/new", {"name": "spare", "expires_days": "30"})
    )
    secrets["the second SCIM token"] = second
    rotated = admin.shown_token(
        admin.post("/sso/scim/tokens/1/replace", {"name": "entra rotated", "expires_days": ""})
    )
    secrets["the rotated SCIM token"] = rotated
    with entra_client(url, token) as old, entra_client(url, rotated) as new:
        revoked = old.get("/Users")
        assert revoked.status_code == 401 and "revoked" in revoked.text
        extra.append(revoked.text)
        assert new.get("/Users").status_code == 200
    # Pause and resume: a 403 with a live token.
    admin.post("/sso/scim/toggle", {"state": "off"}, page="/sso/scim")
    with entra_client(url, second) as paused:
        assert paused.get("/Users").status_code == 403
    admin.post("/sso/scim/toggle", {"state": "on"}, page="/sso/scim")

    # Single sign-on's settings come from the deployment, client secret included.
    assert "contoso" in admin.get("/sso/oidc").text

    # A Viewer from the command line; its output is searched too.
    cli = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "admin", "create", "viewer", "--viewer"],
        input=VIEWER_PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY},
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    extra += [cli.stdout, cli.stderr]

    # Failed sign-ins from another browser, a CSRF failure, error pages.
    stranger = Admin(url)
    stranger.post("/login", {"username": "breakglass", "password": ADMIN_PASSWORD + "x"})
    stranger.post("/login", {"username": "viewer", "password": ADMIN_PASSWORD})
    stranger.keep("no CSRF", stranger.http.post("/login", data={"username": "breakglass"}))
    stranger.get("/no/such/page")
    stranger.get("/logout")
    viewer = Admin(url)
    viewer.post("/login", {"username": "viewer", "password": VIEWER_PASSWORD})
    viewer.get("/sso/scim")  # 403
    viewer.get("/setup/")  # 403
    admin.seen += stranger.seen + viewer.seen
    return admin, secrets, extra


def walk_every_page(admin: Admin, url: str, db_url: str, scim_token: str) -> int:
    """GET every page, fragment and picture of the app, and the SCIM API; return how many."""
    app = create_app({"TESTING": True, "SECRET_KEY": "walk", "SQLALCHEMY_DATABASE_URI": db_url})
    with app.app_context():
        from sqlalchemy import text

        known = {
            "user_id": [row[0] for row in db.session.execute(text("SELECT id FROM users"))],
            "group_id": [row[0] for row in db.session.execute(text("SELECT id FROM groups"))],
            "token_id": [row[0] for row in db.session.execute(text("SELECT id FROM scim_tokens"))],
        }
        db.session.remove()
        db.engine.dispose()
    visited = 0
    for endpoint, path in get_urls(app, known):
        if endpoint in ("auth.sso_login", "auth.sso_callback", "static"):
            continue  # sign-in redirects to the provider; static files are ours
        response = admin.get(path)
        assert response.status_code < 500, (path, response.status_code)
        visited += 1
    with entra_client(url, scim_token) as client:
        for _endpoint, path in get_urls(app, known, scim=True):
            response = client.get(path.removeprefix("/scim/v2"))
            admin.keep(f"SCIM GET {path}", response)
            visited += 1
    download = admin.get("/support/diagnostics.json")
    assert download.status_code == 200 and download.json()["scim"]
    return visited


def test_no_secret_reaches_the_database_log_pages_or_errors(db_url, monkeypatch):
    # gunicorn inherits the environment: single sign-on as a deployment sets it.
    monkeypatch.setenv("OIDC_ISSUER", "https://login.microsoftonline.com/contoso/v2.0")
    monkeypatch.setenv("OIDC_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", OIDC_SECRET)
    with run_live_server(db_url, workers=2, blank=True) as server:
        admin, secrets, extra = run_the_whole_setup(server.url, db_url)
        visited = walk_every_page(admin, server.url, db_url, secrets["the rotated SCIM token"])
        cookies = [session_content(admin.http.cookies.get("session"))]
        server_log = server.log()
        database = database_text(db_url)
        raw = sqlite_bytes(db_url)

    # Tokens are searched whole and by the part after the prefix the UI shows.
    needles = dict(secrets)
    for label, value in secrets.items():
        if value.startswith("uwz_"):
            needles[label + " (past its prefix)"] = value[8:]
    places = {
        "the database": database,
        "gunicorn's and the app's output": server_log,
        "the session cookie": "\n".join(cookies),
        "SCIM errors and the command line": "\n".join(extra),
        **{what: body for what, body in admin.seen},
    }
    leaks = [
        f"{label} in {where}"
        for where, haystack in places.items()
        for label, value in needles.items()
        if value in haystack
    ]
    assert leaks == []
    if raw:
        assert [label for label, value in needles.items() if value.encode() in raw] == []
    # The search looked at a real run: pages, rows and the log are all there.
    assert visited >= 60
    assert len(admin.seen) >= 2 * visited
    assert "provisioning_log:" in database and "audit_events:" in database
    assert "POST /scim/v2/Users" in server_log or "Booting worker" in server_log
    assert secrets["the first SCIM token"][:8] in database, "the prefix is kept to name it"
