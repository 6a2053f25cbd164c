"""PostgreSQL closing the app's connections: a restart, a failover, a killed backend.

A restart between requests leaves the pool full of dead connections; the next
request's first statement (the token check, a read) finds one and runs again
on a new connection, and the pool replaces the others, so Entra sees nothing.
A connection lost in the middle of a write answers 503 (Entra retries it),
keeps nothing of the write, writes the failure's log row on a new
connection, and the next request works. SQLite has no server to lose.
"""

import time

import pytest
from scim_checks import GROUP
from scim_checks import PATCH_OP
from scim_checks import assert_scim_error
from scim_checks import own_app
from scim_checks import user_body
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

from unleash_wizard.extensions import db
from unleash_wizard.store.models import ProvisioningLog
from unleash_wizard.store.models import User


@pytest.fixture
def setup(tmp_path, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a lost connection is PostgreSQL's; this run is on SQLite")
    with own_app(tmp_path) as (app, client):
        with app.app_context():
            url = db.engine.url
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        yield app, client, admin, make_url(url).database
        admin.dispose()


def terminate(admin, database: str, pid: int | None = None) -> None:
    """Close the app's connections from the server's side (one backend, or all), and wait."""
    which = "pid = :pid" if pid is not None else "pid <> pg_backend_pid()"
    with admin.connect() as connection:
        ended = f"SELECT pid FROM pg_stat_activity WHERE datname = :db AND {which}"
        connection.execute(
            text(f"SELECT pg_terminate_backend(pid) FROM ({ended}) AS ended"),
            {"db": database, "pid": pid},
        )
        for _ in range(100):  # pg_terminate_backend only signals; wait until they are gone
            if not connection.execute(text(ended), {"db": database, "pid": pid}).all():
                return
            time.sleep(0.05)
    raise AssertionError("the backends did not end")


def users(app) -> list[str]:
    with app.app_context():
        names = db.session.scalars(select(User.user_name).order_by(User.user_name)).all()
        db.session.remove()
    return names


def test_a_restart_between_requests_goes_unnoticed(setup):
    app, scim, admin, database = setup
    created = scim.post("/scim/v2/Users", json=user_body("alice@example.com"))
    assert created.status_code == 201
    group = scim.post("/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "Sales"})
    assert group.status_code == 201

    terminate(admin, database)  # every connection the pool holds is now dead

    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Add", "path": "members", "value": [{"value": created.json["id"]}]}],
    }
    answers = [
        scim.get('/scim/v2/Users?filter=userName eq "alice@example.com"').status_code,
        scim.post("/scim/v2/Users", json=user_body("bob@example.com")).status_code,
        scim.patch(f"/scim/v2/Groups/{group.json['id']}", json=add).status_code,
    ]

    assert answers == [200, 201, 204]
    assert users(app) == ["alice@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    ("statement", "request_of"),
    [
        ("INSERT INTO users", "create"),  # Direct, in its pipeline
        ("UPDATE users", "patch"),  # the ORM session
    ],
)
def test_a_connection_lost_inside_a_write_is_503_and_keeps_nothing(setup, statement, request_of):
    app, scim, admin, database = setup
    alice = scim.post("/scim/v2/Users", json=user_body("alice@example.com")).json["id"]
    with app.app_context():
        engine = db.engine
    armed = [True]

    def kill_at(_conn, cursor, sql, *_args):
        if armed[0] and sql.startswith(statement):
            armed[0] = False
            terminate(admin, database, cursor.connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", kill_at)
    try:
        if request_of == "create":
            response = scim.post("/scim/v2/Users", json=user_body("bob@example.com"))
        else:
            rename = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "displayName", "value": "Alice B."}],
            }
            response = scim.patch(f"/scim/v2/Users/{alice}", json=rename)
    finally:
        event.remove(engine, "before_cursor_execute", kill_at)

    assert not armed[0], "the statement never ran"
    assert_scim_error(response, 503)
    assert users(app) == ["alice@example.com"]
    with app.app_context():
        assert db.session.get(User, alice).display_name is None
        failed = db.session.scalars(
            select(ProvisioningLog.status).where(ProvisioningLog.status == 503)
        ).all()
        db.session.remove()
    assert failed == [503]  # the failure's row, written on a new connection
    retried = scim.post("/scim/v2/Users", json=user_body("carol@example.com"))
    assert retried.status_code == 201


def test_a_restart_costs_a_page_one_reload_that_says_why(setup):
    app, _scim, admin, database = setup
    client = app.test_client()
    # No admin yet: every page asks the database and sends the visitor to the first run.
    assert client.get("/auth/login").status_code == 302

    terminate(admin, database)

    first = client.get("/auth/login")
    assert first.status_code == 503
    assert "The database is not answering" in first.get_data(as_text=True)
    assert client.get("/auth/login").status_code == 302  # the pool made new connections
