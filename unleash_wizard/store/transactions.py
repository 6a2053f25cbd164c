"""Write transactions that wait their turn on SQLite instead of failing."""

from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

# The execution option extensions.configure_sqlite reads to choose its BEGIN.
SQLITE_BEGIN = "sqlite_begin"
# session.info key: the transaction begin_write() started, while it is open.
_WRITING = "unleash_wizard.writing"


def begin_write(session: Session) -> None:
    """Make sure a write transaction is open: end any read still open, then start one.

    pysqlite begins lazily with a deferred BEGIN: a transaction that read and
    then writes fails with "database is locked" when another writer got in
    between, whatever the busy timeout. On SQLite this begins with BEGIN
    IMMEDIATE, so the writer queues on the busy timeout instead; PostgreSQL
    ignores the option. Inside a write transaction this began, it does nothing,
    so a SCIM request can run its token check, its work and its log row in one.
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
