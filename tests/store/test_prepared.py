"""Prepared statements and the Direct connection: SQLAlchemy's types, errors and transactions."""

import threading
import time
from datetime import UTC
from datetime import datetime

import pytest
from apps import make_app
from apps import sql_statements
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from unleash_wizard.extensions import db
from unleash_wizard.store import transactions
from unleash_wizard.store.models import User
from unleash_wizard.store.prepared import Direct
from unleash_wizard.store.prepared import Prepared
from unleash_wizard.store.resources import new_user_rows

INSERT_USER = Prepared.insert(User.__table__, skip=())
READ_USER = Prepared(
    select(User.data, User.active, User.created_at, User.deleted_at).where(
        User.id == bindparam("id")
    )
)


def user_row(user_id: str, name: str) -> dict:
    row, _ = new_user_rows(user_id, {"userName": name, "active": False}, datetime.now(UTC))
    return row


def test_values_go_in_and_come_out_as_sqlalchemy_types(app):
    with app.app_context():
        direct = Direct(db.engine)
        try:
            direct.begin_write()
            INSERT_USER.execute(direct, user_row("u-1", "Zoë@Example.com"))
            direct.commit()
            [(data, active, created, deleted)] = READ_USER.rows(direct, {"id": "u-1"})
        finally:
            direct.close()
    assert data == {"userName": "Zoë@Example.com", "active": False}  # JSON, not text
    assert active is False  # a bool, not SQLite's 0
    assert isinstance(created, datetime)
    assert deleted is None


def user_ids(app) -> list[str]:
    with app.app_context():
        ids = db.session.scalars(select(User.id).order_by(User.id)).all()
        db.session.remove()
    return ids


@pytest.mark.parametrize(
    "meet_it",
    [
        pytest.param(lambda direct: direct.sync(), id="sync"),
        pytest.param(lambda direct: READ_USER.rows(direct, {"id": "u-1"}), id="read"),
        pytest.param(lambda direct: direct.commit(), id="commit"),
    ],
)
def test_a_constraint_failure_is_an_integrity_error_by_the_next_sync_read_or_commit(app, meet_it):
    """SQLite raises at the statement; PostgreSQL's pipeline where the statement is sent."""
    with app.app_context():
        direct = Direct(db.engine)
        try:
            direct.begin_write()
            INSERT_USER.execute(direct, user_row("u-1", "alice@example.com"))
            with pytest.raises(IntegrityError):
                INSERT_USER.execute(direct, user_row("u-1", "bob@example.com"))
                meet_it(direct)
            direct.rollback()
            assert READ_USER.rows(direct, {"id": "u-1"}) == []  # the whole write undone
            # The connection serves the next write.
            direct.begin_write()
            INSERT_USER.execute(direct, user_row("u-2", "carol@example.com"))
            direct.commit()
        finally:
            direct.close()
    assert user_ids(app) == ["u-2"]


def test_many_rows_go_in_as_one_statement_with_their_types(app):
    rows = [user_row(f"u-{i}", f"user{i}@example.com") for i in range(3)]
    with sql_statements(app) as seen, app.app_context():
        direct = Direct(db.engine)
        try:
            direct.begin_write()
            INSERT_USER.execute_many(direct, rows)
            INSERT_USER.execute_many(direct, [])  # nothing to send
            direct.commit()
            found = [READ_USER.rows(direct, {"id": f"u-{i}"}) for i in range(3)]
        finally:
            direct.close()
    assert len([statement for statement in seen if statement.startswith("INSERT")]) == 1
    for i, [(data, active, created, _deleted)] in enumerate(found):
        assert data == {"userName": f"user{i}@example.com", "active": False}
        assert active is False
        assert isinstance(created, datetime)


def test_a_constraint_failure_in_many_rows_is_an_integrity_error_and_undone(app):
    rows = [user_row("u-1", "alice@example.com"), user_row("u-1", "bob@example.com")]
    with app.app_context():
        direct = Direct(db.engine)
        try:
            direct.begin_write()
            with pytest.raises(IntegrityError):
                INSERT_USER.execute_many(direct, rows)
                direct.sync()
        finally:
            direct.close()
        assert db.session.scalars(select(User.id)).all() == []


def test_a_rollback_undoes_and_close_gives_back_an_unfinished_write(app):
    with app.app_context():
        direct = Direct(db.engine)
        direct.begin_write()
        INSERT_USER.execute(direct, user_row("u-1", "alice@example.com"))
        direct.rollback()
        direct.begin_write()
        INSERT_USER.execute(direct, user_row("u-2", "bob@example.com"))
        direct.close()  # not committed: undone
        assert db.session.scalars(select(User.id)).all() == []


def test_statements_on_the_session_share_its_transaction_and_its_listeners(app):
    with sql_statements(app) as seen, app.app_context():
        transactions.begin_write(db.session)
        INSERT_USER.execute(db.session, user_row("u-1", "alice@example.com"))
        assert db.session.get(User, "u-1") is not None  # same transaction, not committed
        db.session.rollback()
        assert db.session.get(User, "u-1") is None
    assert any(statement.startswith("INSERT INTO users") for statement in seen)


def test_a_prepared_statement_cannot_expand_an_in_list(app):
    expanding = Prepared(select(User.id).where(User.id.in_(bindparam("ids", expanding=True))))
    with app.app_context(), pytest.raises(ValueError, match="IN list"):
        expanding.rows(db.session, {"ids": ["a"]})


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on SQLite whatever the suite's database: the write lock is SQLite's."""
    app = make_app(f"sqlite:///{tmp_path / 'lock.db'}")
    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_sqlite_writer_waits_for_the_lock_and_gets_it_when_freed(sqlite_app):
    with sqlite_app.app_context():
        holder, waiter = Direct(db.engine), Direct(db.engine)
        try:
            holder.begin_write()
            threading.Timer(0.3, holder.rollback).start()
            started = time.monotonic()
            waiter.begin_write()  # returns once the holder lets go
            waited = time.monotonic() - started
            waiter.commit()
        finally:
            waiter.close()
            holder.close()
    assert waited >= 0.25


def test_a_sqlite_writer_gives_up_after_the_busy_timeout(sqlite_app, monkeypatch):
    monkeypatch.setattr(transactions, "SQLITE_BUSY_SECONDS", 0.2)
    with sqlite_app.app_context():
        holder, waiter = Direct(db.engine), Direct(db.engine)
        try:
            holder.begin_write()
            with pytest.raises(OperationalError, match="locked"):
                waiter.begin_write()
            assert not waiter.writing
            # The timeout is back for the connection's other statements.
            timeout = waiter.dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0]
            assert timeout == 200
        finally:
            waiter.close()
            holder.close()


def test_a_write_that_need_not_be_durable_skips_the_fsync_for_itself_only(sqlite_app):
    with sqlite_app.app_context():
        direct = Direct(db.engine)
        synchronous = "PRAGMA synchronous"
        try:
            direct.begin_write(durable=False)
            during = direct.dbapi_connection.execute(synchronous).fetchone()[0]
            INSERT_USER.execute(direct, user_row("u-1", "alice@example.com"))
            direct.commit()
            after_commit = direct.dbapi_connection.execute(synchronous).fetchone()[0]
            direct.begin_write(durable=False)
            direct.rollback()
            after_rollback = direct.dbapi_connection.execute(synchronous).fetchone()[0]
            direct.begin_write()
            durable = direct.dbapi_connection.execute(synchronous).fetchone()[0]
            direct.rollback()
        finally:
            direct.close()
    # 1 is NORMAL (no fsync at commit in WAL mode), 2 is FULL.
    assert (during, after_commit, after_rollback, durable) == (1, 2, 2, 2)


def test_reads_cost_no_transaction_and_the_pool_gets_its_transactions_back(app):
    with app.app_context():
        direct = Direct(db.engine)
        try:
            READ_USER.rows(direct, {"id": "nobody"})
            connection = direct.dbapi_connection
            # Nothing left open by a read, on either database.
            if db.engine.dialect.name == "sqlite":
                assert not connection.in_transaction
            else:
                assert connection.autocommit
                assert connection.info.transaction_status == 0  # IDLE
        finally:
            direct.close()
        with db.engine.connect() as pooled:
            # The ORM and Core get connections that open transactions again.
            if db.engine.dialect.name != "sqlite":
                assert pooled.connection.dbapi_connection.autocommit is False
            pooled.execute(select(User.id)).all()
            assert pooled.in_transaction()


def test_a_durable_write_is_one_transaction_and_a_relaxed_one_is_not_held_open(app):
    with app.app_context():
        direct = Direct(db.engine)
        other = Direct(db.engine)
        try:
            direct.begin_write()
            INSERT_USER.execute(direct, user_row("u-1", "alice@example.com"))
            # Not visible to another connection before the commit.
            assert READ_USER.rows(other, {"id": "u-1"}) == []
            direct.rollback()
            assert READ_USER.rows(other, {"id": "u-1"}) == []
            direct.begin_write(durable=False)
            INSERT_USER.execute(direct, user_row("u-2", "bob@example.com"))
            direct.commit()
            assert len(READ_USER.rows(other, {"id": "u-2"})) == 1
        finally:
            other.close()
            direct.close()
