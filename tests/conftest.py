"""Fixtures shared by the whole suite.

The database is SQLite by default. With TEST_DATABASE_URL naming a PostgreSQL
server (``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), the suite
creates a throwaway database on it for this run (one per xdist worker) and
drops it at the end.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.store import tokens

SCIM_JSON = "application/scim+json"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Return a headless Debian chromium (installed by .ci/run and scripts/test)."""
    executable = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(executable).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}; install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def pytest_addoption(parser):
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="reliability tests at full size: 10,000+ hostile inputs, bigger loads, more kills",
    )


PUBLIC_URL = "https://wizard.example.com"


def _server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return url if url and url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """Return the URL of an empty database for this test session."""
    server = _server_url()
    if server is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'session.db'}"
        return
    name = f"uwz_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(database_url, tmp_path) -> str:
    """Return the database URL for one test: a fresh SQLite file, or the run's PostgreSQL."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'test.db'}"
    return database_url


def make_app(db_url: str, **overrides):
    """Return an app on db_url with an empty schema."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "WTF_CSRF_ENABLED": False,
            "PUBLIC_URL": PUBLIC_URL,
            "RATELIMIT_ENABLED": False,
            **overrides,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def scim_token(app) -> str:
    """Switch SCIM on and return the secret of a fresh token."""
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        issued = tokens.issue(db.session, "entra")
        db.session.commit()
        return issued.secret


class ScimClient:
    """The test client, speaking application/scim+json with a bearer token."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Accept": SCIM_JSON}

    def open(self, method: str, path: str, json=None, headers=None, **kwargs):
        all_headers = {**self.headers, **(headers or {})}
        if json is not None:
            kwargs["data"] = __import__("json").dumps(json)
            all_headers.setdefault("Content-Type", SCIM_JSON)
        return self.client.open(path, method=method, headers=all_headers, **kwargs)

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.open("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.open("PUT", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.open("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.open("DELETE", path, **kwargs)


@pytest.fixture
def scim(client, scim_token) -> ScimClient:
    return ScimClient(client, scim_token)


@pytest.fixture(scope="session")
def iam_configuration(iam_configuration):
    """Configure pytest-iam's OpenID Connect provider (a real Canaille server).

    Its "sub" is the user's id, a stable opaque id like the object id Entra sends
    as "oid": the sign-in tests use "sub" as the identity claim.
    """
    iam_configuration["CANAILLE_OIDC"]["USERINFO_MAPPING"] = {"SUB": "{{ user.id }}"}
    return iam_configuration
