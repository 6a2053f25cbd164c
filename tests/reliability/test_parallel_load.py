"""An Entra-shaped parallel load on several workers and several app instances.

Creates (each after Entra's lookup), member-add PATCHes to a few shared groups,
replaces, disables and deletes run side by side from 16 threads. Afterwards
every acknowledged write is read back through /scim/v2 on every instance and
straight from the database: nothing lost, nothing doubled, no 5xx, and no
"database is locked" on SQLite, where writers queue instead of failing.
"""

import random

import pytest
from entra_load import Entra
from entra_load import Ledger
from entra_load import assert_clean_log
from entra_load import check_final
from entra_load import figures
from entra_load import make_plan
from entra_load import serve


@pytest.fixture
def size(long_run) -> tuple[int, int]:
    """Return how many user and group chains the load runs."""
    return (1500, 150) if long_run else (96, 12)


def run_load(plan, servers, db_url) -> tuple[Ledger, int]:
    ledger = Ledger()
    entra = Entra(servers, ledger)
    try:
        entra.run(plan, random.Random())
    finally:
        entra.close()
    assert ledger.problems == [], "\n".join(ledger.problems[:20])
    assert ledger.server_errors == 0
    assert ledger.unanswered == 0, ledger.transport_errors[:10]
    checked = check_final(plan, ledger, db_url, servers)
    for server in servers:
        assert_clean_log(server.log())
    return ledger, checked


def test_two_instances_split_an_entra_load_and_lose_nothing(db_url, size, report):
    """Two gunicorns with three workers each on one database, requests alternating."""
    plan = make_plan(*size)
    with serve(db_url, workers=3, threads=2) as first:
        with serve(db_url, workers=3, threads=2, token=first.token) as second:
            ledger, checked = run_load(plan, [first, second], db_url)
    report("two instances x 3 workers: " + figures(ledger, checked))


def test_one_instance_with_many_workers_loses_nothing(db_url, size, report):
    """One gunicorn, four workers of four threads: on SQLite they all write one file."""
    plan = make_plan(*size)
    with serve(db_url, workers=4, threads=4) as server:
        ledger, checked = run_load(plan, [server], db_url)
    report("one instance x 4 workers x 4 threads: " + figures(ledger, checked))
