"""Write transactions that wait their turn on SQLite instead of failing."""

from sqlalchemy.orm import Session

# The execution option extensions.configure_sqlite reads to choose its BEGIN.
SQLITE_BEGIN = "sqlite_begin"


def begin_write(session: Session) -> None:
    """End any read still open, then start a write transaction.

    pysqlite begins lazily with a deferred BEGIN: a transaction that read and
    then writes fails with "database is locked" when another writer got in
    between, whatever the busy timeout. On SQLite this begins with BEGIN
    IMMEDIATE, so the writer queues on the busy timeout instead; PostgreSQL
    ignores the option.
    """
    session.rollback()
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
