"""Write transactions that wait their turn on SQLite instead of failing."""

import random
import sqlite3
import time
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

# The execution option extensions.configure_sqlite reads to choose its BEGIN.
SQLITE_BEGIN = "sqlite_begin"
# How long a writer waits for SQLite's write lock before "database is locked".
SQLITE_BUSY_SECONDS = 30
# session.info key: the transaction begin_write() started, while it is open.
_WRITING = "unleash_wizard.writing"


def begin_write(session: Session) -> None:
    """Make sure a write transaction is open: end any read still open, then start one.

    pysqlite begins lazily with a deferred BEGIN: a transaction that read and
    then writes fails with "database is locked" when another writer got in
    between, whatever the busy timeout. On SQLite this begins with BEGIN
    IMMEDIATE, so the writer queues on the busy timeout instead; PostgreSQL
    ignores the option. Inside a write transaction this began, it does nothing,
    so a SCIM request can run its work and its log row in one.
    """
    if writing(session):
        return
    session.rollback()
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
    session.info[_WRITING] = _current(session)


def writing(session: Session) -> bool:
    """Return whether a write transaction begin_write() started is open."""
    current = _current(session)
    return current is not None and session.info.get(_WRITING) is current


def _current(session: Session | scoped_session) -> object | None:
    real = session() if isinstance(session, scoped_session) else session
    return real.get_transaction()


def sqlite_begin_immediate(dbapi_connection: Any) -> None:
    """Run BEGIN IMMEDIATE on a pysqlite connection, waiting for the write lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15... ms between tries. A
    SCIM write holds the lock for a fraction of a millisecond, so under
    Entra's parallel requests queued writers slept many times longer than the
    lock was held: requests a second fell and the slowest took hundreds of
    milliseconds. Here a waiting writer tries again after 0.3 to 3 ms, for as
    long as the busy timeout allows; every other statement keeps that timeout.

    :raises sqlite3.OperationalError: "database is locked" after SQLITE_BUSY_SECONDS.
    """
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        pause = 0.0003
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.003)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
