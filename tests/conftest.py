"""Fixtures shared by the whole suite.

The database is SQLite by default. With TEST_DATABASE_URL naming a PostgreSQL
server (``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), the suite
creates a throwaway database on it for this run (one per xdist worker) and
drops it at the end.
"""

import os
import shutil
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from apps import PUBLIC_URL  # noqa: F401
from apps import SCIM_JSON  # noqa: F401
from apps import ScimClient
from apps import add_local
from apps import make_app
from apps import sign_in
from apps import throwaway_database
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import sync_playwright

from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import CHROMIUM
from unleash_wizard.help.screenshots import CHROMIUM_ARGS
from unleash_wizard.store import settings
from unleash_wizard.store import tokens


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


def _server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return url if url and url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """Return the URL of an empty database for this test session."""
    with throwaway_database(_server_url(), tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def db_url(database_url, tmp_path) -> str:
    """Return the database URL for one test: a fresh SQLite file, or the run's PostgreSQL."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'test.db'}"
    return database_url


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def app_with(db_url) -> Iterator[Callable[..., Flask]]:
    """Return a factory of apps on this test's database with config overrides."""
    made = []

    def factory(**overrides) -> Flask:
        app = make_app(db_url, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def csrf_app(app_with) -> Flask:
    """Return an app with CSRF checks on, as in production."""
    return app_with(WTF_CSRF_ENABLED=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(app) -> str:
    """Return the id of a local admin called 'admin' with PASSWORD."""
    return add_local(app, "admin")


@pytest.fixture
def viewer(app, admin) -> str:
    """Return the id of a local viewer called 'viewer' with PASSWORD (an admin exists too)."""
    return add_local(app, "viewer", role="viewer")


@pytest.fixture
def signed_in(client, admin):
    """Return a client signed in as the local admin."""
    response = sign_in(client, "admin")
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


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


@pytest.fixture(scope="session")
def iam_server(iam_configuration, iam_server_port):
    """Run pytest-iam's provider in a thread, as its own fixture does.

    Its own fixture also keeps the provider's app context pushed for the
    rest of the session; flask commands run by later tests in the same
    worker then found that app instead of ours. Helpers push the provider's
    context only while they use it (tests/oidc_provider.py).
    """
    import threading

    from canaille import create_app as create_provider
    from canaille.backends import Backend
    from pytest_iam import Server

    provider = create_provider(
        config=iam_configuration, env_file=".pytest-iam.env", env_prefix="PYTEST_IAM_"
    )
    server = Server(provider, iam_server_port, Backend.instance)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        thread.join()
