"""kill -9 during an Entra-shaped load, restart, and Entra's retries converge.

gunicorn runs in a session of its own; after a random number of acknowledged
requests, master and workers get SIGKILL at once while other requests are in
flight. With no server running, the database must hold every write that got a
2xx, nothing half-applied, with its schema and integrity intact. The server
restarts on the same database, Entra retries what got no answer (lookup
before a create, the same PATCH or PUT again, DELETE accepting 404) and goes
on; after several kills the final state is exactly the planned one.
"""

import os
import random

import pytest
from entra_load import Entra
from entra_load import KillableServer
from entra_load import Ledger
from entra_load import assert_clean_log
from entra_load import assert_gone
from entra_load import check_after_crash
from entra_load import check_final
from entra_load import check_schema
from entra_load import figures
from entra_load import make_plan
from entra_load import serve
from live import drop_database
from live import prepare_database
from sqlalchemy import create_engine
from sqlalchemy import delete
from sqlalchemy import update

from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User


@pytest.fixture
def crash_size(long_run) -> dict[str, int]:
    """Return the load's size, the number of kills and the range of acks between kills."""
    if long_run:
        return {"users": 600, "groups": 60, "kills": 10, "low": 25, "high": 200}
    return {"users": 90, "groups": 9, "kills": 3, "low": 25, "high": 80}


def test_kill_9_loses_no_acknowledged_write_and_retries_converge(db_url, crash_size, report):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    plan = make_plan(crash_size["users"], crash_size["groups"])
    kills = crash_size["kills"]
    token = prepare_database(db_url)
    ledger = Ledger()
    checked = 0
    try:
        for round_ in range(kills + 1):
            with KillableServer(db_url, token) as server:
                entra = Entra([server.live], ledger)
                if round_ < kills:
                    ledger.arm(rng.randint(crash_size["low"], crash_size["high"]), server.kill)
                else:
                    ledger.disarm()
                try:
                    entra.run(plan, rng)
                finally:
                    entra.close()
                log = server.log()
            assert ledger.problems == [], "\n".join(ledger.problems[:20])
            assert ledger.server_errors == 0
            assert_clean_log(log)
            if round_ < kills:
                assert server.killed, f"the load ended before kill {round_ + 1} (seed {seed})"
                assert_gone(server.live.url)
                checked += check_schema(db_url)
                checked += check_after_crash(plan, ledger, db_url)
        with KillableServer(db_url, token) as server:
            checked += check_final(plan, ledger, db_url, [server.live])
            checked += check_schema(db_url)
    finally:
        drop_database(db_url)
    assert ledger.kills == kills
    report(
        f"{kills} x kill -9 (seed {seed}): "
        + figures(ledger, checked, kills=ledger.kills, retried=ledger.retried)
    )


def test_the_checks_see_a_lost_or_half_applied_write(db_url):
    """The checks above have teeth: a lost membership, an acknowledged replace that left
    no trace, a column out of step with its document, each fails them."""
    plan = make_plan(users=14, groups=3)
    ledger = Ledger()
    with serve(db_url, workers=1, threads=4) as server:
        entra = Entra([server], ledger)
        try:
            entra.run(plan, random.Random(0))
        finally:
            entra.close()
        check_final(plan, ledger, db_url, [server])
        check_after_crash(plan, ledger, db_url)
        joined = next(u for u in plan.users if u.steps == ("create", "join"))
        renamed = next(u for u in plan.users if u.steps == ("create", "join", "rename"))
        engine = create_engine(db_url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    delete(Membership).where(Membership.user_id == ledger.ids[joined.key])
                )
            with pytest.raises(AssertionError, match=joined.key):
                check_after_crash(plan, ledger, db_url)

            # The whole replace undone, column and document alike: consistent, but lost.
            user = User.__table__
            with engine.begin() as connection:
                connection.execute(
                    update(user)
                    .where(user.c.id == ledger.ids[renamed.key])
                    .values(display_name=renamed.display_name, data=renamed.body())
                )
            with pytest.raises(AssertionError, match=renamed.key):
                check_after_crash(plan, ledger, db_url)

            # Only the column changed: half a write.
            with engine.begin() as connection:
                connection.execute(
                    update(user)
                    .where(user.c.id == ledger.ids[renamed.key])
                    .values(display_name=renamed.display_name + " (renamed)")
                )
            with pytest.raises(AssertionError, match="half-applied"):
                check_after_crash(plan, ledger, db_url)
        finally:
            engine.dispose()
