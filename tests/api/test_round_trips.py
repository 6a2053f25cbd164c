"""Round trips to PostgreSQL per SCIM request, read off libpq's trace of the wire.

A round trip is the client sending and then waiting for the server's answers;
it is what a statement costs in latency on top of its work, and Entra waits
for each answer before it sends the next request of a cycle. A user create
makes four (the token check; BEGIN with the userName check; the inserts; the
log row with the COMMIT: store/prepared.py, Direct), a lookup two (the token
check; the lookup, its log row going with a later batch). SQLite has no wire:
its statements run in the process, and test_statement_counts counts them.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import pytest
from psycopg import pq
from scim_checks import own_app
from scim_checks import user_body
from sqlalchemy import event

from unleash_wizard.extensions import db
from unleash_wizard.store import log


@pytest.fixture(scope="module")
def setup(tmp_path_factory, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's; this run is on SQLite")
    with own_app(
        tmp_path_factory.mktemp("round-trips"),
        SCIM_LOG_PRUNE_EVERY_REQUESTS=10**9,
        SCIM_LOG_PRUNE_INTERVAL_SECONDS=10**9,
        SCIM_LOG_READ_DELAY_SECONDS=3600,  # a lookup's row waits for its batch
    ) as (app, client):
        client.get("/scim/v2/Users?count=0")  # the first request of a process prunes once
        yield app, client
        with app.app_context():
            log.close_pending(db.engine)  # the batch's rows, and its timer thread


@contextmanager
def round_trips(app, folder) -> Iterator[list[int]]:
    """Yield a list that gets, when the block ends, the round trips the block made.

    Every connection checked out of the pool in the block is traced by libpq
    (PQtrace): F lines are what the client sent, B lines what it received;
    each run of F lines followed by B lines is one round trip.
    """
    with app.app_context():
        engine = db.engine
    path = folder / "wire.trace"
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def trace(dbapi_connection, _record, _proxy):
        dbapi_connection.pgconn.trace(os.dup(out))
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def untrace(dbapi_connection, _record):
        dbapi_connection.pgconn.untrace()

    counted: list[int] = []
    event.listen(engine, "checkout", trace)
    event.listen(engine, "checkin", untrace)
    try:
        yield counted
    finally:
        event.remove(engine, "checkout", trace)
        event.remove(engine, "checkin", untrace)
        os.close(out)
    directions = [line[0] for line in path.read_text().splitlines() if line[:2] in ("F\t", "B\t")]
    counted.append(sum(1 for pair in pairwise(directions) if pair == ("F", "B")))


def test_a_user_create_makes_four_round_trips(setup, tmp_path):
    app, scim = setup
    emails = [{"value": "alice@example.com", "type": "work", "primary": True}]
    with round_trips(app, tmp_path) as counted:
        response = scim.post("/scim/v2/Users", json=user_body("alice@example.com", emails=emails))
    assert response.status_code == 201
    assert counted == [4]


def test_a_lookup_that_finds_its_user_makes_two_round_trips(setup, tmp_path):
    app, scim = setup
    assert scim.post("/scim/v2/Users", json=user_body("bob@example.com")).status_code == 201
    with round_trips(app, tmp_path) as counted:
        response = scim.get('/scim/v2/Users?filter=userName eq "bob@example.com"')
    assert response.get_json()["totalResults"] == 1
    assert counted == [2]
