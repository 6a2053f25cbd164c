"""The log rows of successful reads are written in batches, a moment after their answers.

Everywhere else the tests write each row before its answer
(SCIM_LOG_READ_DELAY_SECONDS = 0 in tests/apps.py); here the batches run as
in production, with delays long enough that "not yet" is not a race.
"""

import logging
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from apps import ScimClient
from apps import sql_statements
from live import drop_database
from live import prepare_database
from live import run_live_server
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text

from unleash_wizard.admin import diagnostics
from unleash_wizard.extensions import db
from unleash_wizard.store import log
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import ProvisioningLog
from unleash_wizard.store.models import utcnow
from unleash_wizard.wizard import checks

ROOT = Path(__file__).resolve().parent.parent.parent
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LOOKUP = '/scim/v2/Users?filter=userName eq "nobody@example.com"'
# Long enough that a row still waits when the test looks right after the answer.
DELAY = 3.0


@pytest.fixture
def batched(app_with):
    """Return an app whose reads' rows wait DELAY seconds, with SCIM on and a token."""
    app = app_with(SCIM_LOG_READ_DELAY_SECONDS=DELAY)
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        app.config["TEST_TOKEN"] = tokens.issue(db.session, "entra").secret
        db.session.commit()
    yield app
    batch_of(app).close()  # before the fixture drops the tables


def batch_of(app) -> log.Pending:
    with app.app_context():
        batch = log.pending(db.engine, DELAY)
    assert batch is not None
    return batch


@pytest.fixture
def scim(batched) -> ScimClient:
    return ScimClient(batched.test_client(), batched.config["TEST_TOKEN"])


def logged(app) -> list[tuple[str, str, int]]:
    with app.app_context():
        query = select(ProvisioningLog.method, ProvisioningLog.path, ProvisioningLog.status)
        return [tuple(row) for row in db.session.execute(query.order_by(ProvisioningLog.id))]


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_a_reads_row_lands_a_moment_after_its_answer_stamped_with_the_requests_time(batched, scim):
    before = utcnow()
    response = scim.get(LOOKUP)
    after = utcnow()

    assert response.status_code == 200
    assert logged(batched) == []
    assert batch_of(batched).waiting() == 1

    wait_for(lambda: logged(batched) != [])  # the timer, not the test, writes it
    with batched.app_context():
        row = db.session.scalars(select(ProvisioningLog)).one()
        assert (row.method, row.path, row.status) == ("GET", "/scim/v2/Users", 200)
        assert row.token_name == "entra"
        assert row.resource_type == "User"
        assert before <= tokens.aware(row.at) <= after
    assert batch_of(batched).waiting() == 0


def test_a_read_sends_no_insert_while_writes_and_failures_are_logged_before_their_answers(
    batched, scim
):
    statements: list[str] = []
    with batched.app_context():
        engine = db.engine

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        scim.get(LOOKUP)
        read = list(statements)
        created = scim.post("/scim/v2/Users", {"schemas": [USER], "userName": "ann@example.com"})
        missing = scim.get("/scim/v2/Users/no-such-id")
        refused = ScimClient(batched.test_client(), "wrong").get(LOOKUP)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert not [sql for sql in read if "INSERT INTO provisioning_log" in sql]
    assert [sql for sql in statements if "INSERT INTO provisioning_log" in sql]
    assert (created.status_code, missing.status_code, refused.status_code) == (201, 404, 401)
    assert logged(batched) == [
        ("POST", "/scim/v2/Users", 201),
        ("GET", "/scim/v2/Users/no-such-id", 404),
        ("GET", "/scim/v2/Users", 401),
    ]
    assert batch_of(batched).flush() == 1
    assert logged(batched)[-1] == ("GET", "/scim/v2/Users", 200)


def test_a_batch_writes_its_rows_in_one_statement(batched, scim):
    for _ in range(5):
        assert scim.get(LOOKUP).status_code == 200
    with sql_statements(batched) as statements:
        assert batch_of(batched).flush() == 5
    assert len([sql for sql in statements if "INSERT INTO provisioning_log" in sql]) == 1
    assert logged(batched) == [("GET", "/scim/v2/Users", 200)] * 5


def test_a_batch_records_the_tokens_last_use(batched, scim):
    with batched.app_context():
        assert tokens.find(db.session, batched.config["TEST_TOKEN"]).last_used_at is None

    scim.get(LOOKUP)
    scim.get(LOOKUP)
    assert batch_of(batched).flush() == 2

    with batched.app_context():
        used = tokens.aware(tokens.find(db.session, batched.config["TEST_TOKEN"]).last_used_at)
    assert used is not None and utcnow() - used < timedelta(minutes=1)


def refuse_reads_rows(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(
                text(
                    "CREATE TRIGGER refuse_reads BEFORE INSERT ON provisioning_log "
                    "WHEN NEW.method = 'GET' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        else:
            db.session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_reads() RETURNS trigger AS $$ "
                    "BEGIN IF NEW.method = 'GET' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                text(
                    "CREATE TRIGGER refuse_reads BEFORE INSERT ON provisioning_log "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_reads()"
                )
            )
        db.session.commit()


def allow_reads_rows(app) -> None:
    with app.app_context():
        db.session.execute(
            text(
                "DROP TRIGGER refuse_reads"
                if db.engine.dialect.name == "sqlite"
                else "DROP TRIGGER refuse_reads ON provisioning_log"
            )
        )
        db.session.commit()


def test_a_batch_the_database_refuses_waits_for_the_next_try(batched, scim, caplog):
    refuse_reads_rows(batched)
    scim.get(LOOKUP)
    batch = batch_of(batched)

    with caplog.at_level(logging.WARNING, logger="unleash_wizard.store.log"):
        assert batch.flush() == 0
    assert batch.waiting() == 1
    assert "Could not write 1 provisioning log rows of reads" in caplog.text

    allow_reads_rows(batched)
    assert batch.flush() == 1
    assert logged(batched) == [("GET", "/scim/v2/Users", 200)]


def test_a_batch_refused_again_and_again_is_given_up_and_said_so(batched, scim, caplog):
    refuse_reads_rows(batched)
    scim.get(LOOKUP)
    batch = batch_of(batched)

    with caplog.at_level(logging.WARNING, logger="unleash_wizard.store.log"):
        for _ in range(log.BATCH_ATTEMPTS):
            assert batch.flush() == 0
    assert batch.waiting() == 0
    assert "1 provisioning log rows of reads could not be written and were given up" in (
        caplog.text
    )
    # Later rows start afresh.
    allow_reads_rows(batched)
    scim.get(LOOKUP)
    assert batch.flush() == 1


def test_a_forked_child_leaves_the_parents_rows_to_the_parent(batched, scim):
    scim.get(LOOKUP)
    batch = batch_of(batched)
    assert batch.waiting() == 1

    child = os.fork()
    if child == 0:  # gunicorn forks its workers from a master like this
        os._exit(batch.waiting() + batch.flush())
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert logged(batched) == []
    assert batch.flush() == 1


CHILD = """
import sys
from unleash_wizard import create_app
from unleash_wizard.admin import diagnostics
from unleash_wizard.extensions import db
from unleash_wizard.store import log

app = create_app({
    "TESTING": True,
    "SECRET_KEY": "x",
    "SQLALCHEMY_DATABASE_URI": sys.argv[1],
    "RATELIMIT_ENABLED": False,
    "SCIM_LOG_READ_DELAY_SECONDS": 1.0,
})
headers = {"Authorization": "Bearer " + sys.argv[2]}
answer = app.test_client().get('/scim/v2/Users?filter=userName eq "x"', headers=headers)
with app.app_context():
    print(answer.status_code, log.pending(db.engine, 1.0).waiting())
"""


def test_a_process_that_exits_writes_its_waiting_rows_first(batched, db_url):
    """A process ending normally (a gunicorn worker told to stop) waits for its timer."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), db_url, batched.config["TEST_TOKEN"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "1"]  # still waiting when the script ended
    assert logged(batched) == [("GET", "/scim/v2/Users", 200)]


def test_gunicorn_workers_told_to_stop_write_their_waiting_rows_first(db_url):
    """Under gunicorn as in production: every lookup answered is in the log once it stops."""
    token = prepare_database(db_url)
    try:
        with run_live_server(db_url, workers=2, threads=4, token=token) as server:
            with server.client() as client:
                for number in range(60):
                    answer = client.get("/Users", params={"filter": f'userName eq "u{number}"'})
                    assert answer.status_code == 200
        # The block's end stopped gunicorn right after the last answer.
        engine = create_engine(db_url)
        with engine.connect() as connection:
            rows = connection.execute(select(ProvisioningLog.method, ProvisioningLog.status)).all()
        engine.dispose()
        assert sorted(rows) == [("GET", 200)] * 60
    finally:
        drop_database(db_url)


def test_a_failure_after_a_read_still_reads_as_the_latest_request(batched, scim):
    """The read's row lands after the failure's, with a higher id; time keeps the order."""
    scim.get(LOOKUP)
    ScimClient(batched.test_client(), "uwz_not-a-real-token-at-all").get(LOOKUP)
    assert batch_of(batched).flush() == 1
    assert [status for _, _, status in logged(batched)] == [401, 200]  # in id order

    with batched.app_context():
        assert diagnostics.last_request(db.session)["status"] == 401
        connection = checks.check_connection(db.session)
    assert connection.state == checks.PROBLEM
    assert connection.details["bad_count"] == 1


def test_a_batch_that_cannot_even_connect_waits_for_the_next_try(tmp_path, caplog):
    """A new connection that fails raises the driver's own error, on the timer's thread."""
    engine = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'wizard.db'}")
    batch = log.Pending(engine, 60.0)
    batch.add(log.row(method="GET", path="/scim/v2/Users", status=200))
    with caplog.at_level(logging.WARNING, logger="unleash_wizard.store.log"):
        assert batch.flush() == 0
        assert batch.waiting() == 1
        assert "Could not write 1 provisioning log rows of reads (OperationalError)" in caplog.text

        batch.close()  # one last try, no timer left behind
    assert batch.waiting() == 0
    assert "1 provisioning log rows of reads could not be written and were given up" in (
        caplog.text
    )
    engine.dispose()
