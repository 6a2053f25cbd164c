"""The app the tests run and a SCIM client for it, shared by fixtures and helpers."""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from json import dumps
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import make_url

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts

PUBLIC_URL = "https://wizard.example.com"
SCIM_JSON = "application/scim+json"
# A password the strength check accepts, for the local accounts tests create.
PASSWORD = "Correct horse battery 9"


@contextmanager
def throwaway_database(server: str | None, folder: Path) -> Iterator[str]:
    """Yield the URL of a new empty database, dropped afterwards.

    server is a PostgreSQL URL to create it on; None means a SQLite file in folder.
    """
    if server is None:
        yield f"sqlite:///{folder / 'session.db'}"
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
            # Each read's row before its answer, so a test reads it right after;
            # the batches have tests of their own and run under the live server.
            "SCIM_LOG_READ_DELAY_SECONDS": 0,
            **overrides,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


class ScimClient:
    """The test client, speaking application/scim+json with a bearer token."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Accept": SCIM_JSON}

    def open(self, method: str, path: str, json=None, headers=None, **kwargs):
        all_headers = {**self.headers, **(headers or {})}
        if json is not None:
            kwargs["data"] = dumps(json)
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


# A form's hidden CSRF field, whichever order Flask-WTF writes its attributes in.
CSRF_FIELD = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|type="hidden" name="csrf_token" value="([^"]+)"'
)


def csrf_token(page: str) -> str:
    """Return the CSRF token of the (first) form on page."""
    match = CSRF_FIELD.search(page)
    assert match, page
    return match.group(1) or match.group(2)


def add_local(app, user_name: str, role: str = "admin", password: str = PASSWORD) -> str:
    """Create a local account and return its id."""
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, password, role)
        db.session.commit()
        return user.id


def sign_in(client, user_name: str, password: str = PASSWORD, remember: bool = False, **kwargs):
    """Post the sign-in form and return the response."""
    data = {"username": user_name, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data, **kwargs)


@contextmanager
def sql_statements(app) -> Iterator[list[str]]:
    """Yield the list of SQL statements app's engine sends while the block runs.

    It counts what reaches the cursor (a ``before_cursor_execute`` listener),
    the ORM's statements and the prepared ones alike.
    """
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
