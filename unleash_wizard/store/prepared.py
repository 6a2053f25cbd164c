"""Statements the SCIM hot path runs straight on the DB-API cursor.

Every SCIM request checks its token and writes a log row, and Entra's cycles
are mostly filter lookups and creates. Through the ORM session, or even Core's
``Connection.execute()``, each such statement costs 40 to 250 µs of Python
around a few µs of database work, which made up most of a lookup's CPU (see
docs/PERFORMANCE.md). A Prepared statement is still a Core construct, compiled
by SQLAlchemy (once per dialect) with SQLAlchemy's own bind and result type
processing; only the execution skips the layers above the cursor. It runs on
the session's connection, inside the session's transaction, and the engine's
``before_cursor_execute`` listeners still see it.

Nothing here is a general query builder: a statement with an expanding IN or
any other per-call compilation does not belong here.
"""

import contextlib
import functools
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import exc
from sqlalchemy import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from sqlalchemy.sql import Executable

from .transactions import sqlite_begin_immediate


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order, for qmark/format styles
    defaults: dict[str, Any]  # the values the statement carries itself (literals)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # names whose values need converting
    converted: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, result processor)


class Prepared:
    """A Core statement compiled once per dialect, run on the DB-API cursor."""

    def __init__(self, statement: Executable):
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    @classmethod
    def insert(cls, table: Table, skip: tuple[str, ...] = ("id",)) -> "Prepared":
        """Return an INSERT of one row into table, every column but skip a parameter.

        A column left out of the values is NULL: the Python-side defaults of the
        models do not apply here, so the caller gives every value that has one.
        Nothing comes back (inline(): no RETURNING of a generated id on
        PostgreSQL, which nobody here reads).
        """
        values = {
            column.name: bindparam(column.name, None, type_=column.type)
            for column in table.columns
            if column.name not in skip
        }
        return cls(insert(table).values(values).inline())

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is not None:
            return compiled
        done = self.statement.compile(dialect=dialect)
        binds = []
        for name, bind in done.binds.items():
            if bind.expanding:
                raise ValueError("A Prepared statement cannot expand an IN list")
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds.append((name, processor))
        converted: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(getattr(self.statement, "selected_columns", ())):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                converted.append((index, processor))
        compiled = _Compiled(
            sql=done.string,
            positional=tuple(done.positiontup) if done.positional else None,
            defaults={
                name: bind.effective_value for name, bind in done.binds.items() if not bind.required
            },
            binds=tuple(binds),
            converted=tuple(converted),
        )
        self._by_dialect[dialect.name] = compiled
        return compiled

    def _run(self, target: "Target", params: Mapping[str, Any]) -> Any:
        dialect, dbapi_connection, listeners = _resolve(target)
        compiled = self._compile(dialect)
        arguments = _arguments(compiled, params)
        cursor = _execute(dialect, dbapi_connection, listeners, compiled.sql, arguments)
        return cursor, compiled, dialect

    def execute_many(self, target: "Target", rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a write once for each of rows, in one call of the driver's executemany.

        SQLite then steps the statement once per row in C, and psycopg sends
        every row in one pipeline instead of a round trip each.
        """
        if not rows:
            return
        dialect, dbapi_connection, listeners = _resolve(target)
        compiled = self._compile(dialect)
        arguments = [_arguments(compiled, params) for params in rows]
        _execute(dialect, dbapi_connection, listeners, compiled.sql, arguments, many=True).close()

    def execute(self, target: "Target", params: Mapping[str, Any]) -> None:
        """Run a write.

        In a Direct write on PostgreSQL the statement is only queued: its
        failure raises at the next read, sync() or commit (see Direct).
        """
        cursor, _, _ = self._run(target, params)
        cursor.close()

    def rows(self, target: "Target", params: Mapping[str, Any]) -> list[tuple]:
        """Run a SELECT; return its rows with SQLAlchemy's result types applied."""
        cursor, compiled, dialect = self._run(target, params)
        try:
            fetched = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            # In a pipeline a statement queued before this one fails here.
            raise _translated(dialect, compiled.sql, (), error) from error
        finally:
            cursor.close()
        converted = compiled.converted
        if not converted:
            return [tuple(row) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for index, processor in converted:
                value = values[index]
                if value is not None:
                    values[index] = processor(value)
            rows.append(tuple(values))
        return rows


class Direct:
    """A DB-API connection from the engine's pool, for one SCIM request.

    What runs here runs in transactions of its own, outside the session's: the
    token check, the lookups and the log rows of reads, and whole user creates.
    The connection is in autocommit mode while Direct holds it: on SQLite
    always (extensions.configure_sqlite), on PostgreSQL set here and undone
    before it goes back to the pool. A read then holds no snapshot and costs
    no BEGIN and COMMIT round trips; a write begins explicitly (begin_write),
    on SQLite with BEGIN IMMEDIATE, as transactions.begin_write() does.

    On PostgreSQL (psycopg, on libpq 14 or newer) a durable write runs in
    the driver's pipeline mode: a statement goes out with the next one whose
    answer is needed (a read, sync(), the COMMIT), not in a round trip of
    its own. A user create is then four round trips, not seven: the token
    check, BEGIN with the userName check, the inserts (synced, so a taken
    userName fails at its INSERT), and the log row with the COMMIT. A
    write's failure raises at that next point, as SQLAlchemy's exception
    class.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect
        self._pooled: Any = None
        self._dbapi_connection: Any = None
        self.writing = False
        self._relaxed = False  # this transaction commits without an fsync (SQLite)
        self._pipeline: Any = None  # psycopg's Pipeline while a write runs in one
        self._leave_pipeline: contextlib.ExitStack | None = None
        # The database dropped a connection this Direct held (a restart, a
        # failover): rollback() found it gone and discarded it.
        self.dropped = False

    @property
    def dbapi_connection(self) -> Any:
        if self._dbapi_connection is None:
            self._pooled = self.engine.raw_connection()
            connection = self._pooled.dbapi_connection
            if self.dialect.name != "sqlite":
                self._call(functools.partial(setattr, connection, "autocommit", True), "")
            self._dbapi_connection = connection
        return self._dbapi_connection

    def begin_write(self, durable: bool = True) -> None:
        """Start a write transaction (on SQLite, take the write lock now).

        durable=False is for rows worth less than the wait, the log rows of
        reads. SQLite commits it without an fsync (synchronous=NORMAL, for this
        transaction only): a power cut, not a crash of the app, can lose it; the
        wait is time the write lock is held, which every other writer queues
        behind. On PostgreSQL each of its statements commits on its own, sparing
        the round trips of BEGIN and COMMIT.
        """
        if self.writing:
            return
        if self.dialect.name != "sqlite":
            if durable:
                if self.dialect.driver == "psycopg" and _pipeline_supported():
                    self._enter_pipeline()
                self._statement("BEGIN")
        else:
            connection = self.dbapi_connection
            try:
                if not durable:
                    connection.execute("PRAGMA synchronous = NORMAL")
                    self._relaxed = True
                sqlite_begin_immediate(connection)
            except self.dialect.loaded_dbapi.Error as error:
                raise _translated(self.dialect, "BEGIN IMMEDIATE", (), error) from error
        self.writing = True

    def _enter_pipeline(self) -> None:
        leave = contextlib.ExitStack()
        try:
            self._pipeline = leave.enter_context(self.dbapi_connection.pipeline())
        except self.dialect.loaded_dbapi.Error as error:
            raise _translated(self.dialect, "", (), error) from error
        self._leave_pipeline = leave

    def sync(self) -> None:
        """Send the statements still queued and raise the failure of any of them.

        Nothing to do outside a pipeline, where every statement ran when it
        was executed.
        """
        if self._pipeline is not None:
            self._call(self._pipeline.sync, "")

    def _end_pipeline(self, quietly: bool = True) -> None:
        """Leave pipeline mode: send what is queued and wait for all of it.

        On the way out of a failed or undone write (quietly) a failure met
        here was raised already or is being undone by the ROLLBACK that
        follows; after a COMMIT it is the commit's failure.
        """
        leave, self._leave_pipeline, self._pipeline = self._leave_pipeline, None, None
        if leave is None:
            return
        try:
            leave.close()
        except self.dialect.loaded_dbapi.Error as error:
            if not quietly:
                raise _translated(self.dialect, "COMMIT", (), error) from error

    def commit(self) -> None:
        """Commit what was written; a failure raises SQLAlchemy's exception classes."""
        connection = self.dbapi_connection
        try:
            if self.dialect.name == "sqlite":
                if connection.in_transaction:
                    self._statement("COMMIT")
            elif self._leave_pipeline is not None:
                # The COMMIT goes out with what is queued, and leaving the
                # pipeline is the one sync that waits for them all.
                self._statement("COMMIT")
                self._end_pipeline(quietly=False)
            else:
                self._call(connection.commit, "COMMIT")
        finally:
            self._finished()

    def rollback(self) -> None:
        """Undo anything not committed; ends a read too."""
        connection = self._dbapi_connection
        if connection is None:
            self.writing = False
            return
        try:
            if self.dialect.name == "sqlite":
                if connection.in_transaction:
                    self._statement("ROLLBACK")
            else:
                self._end_pipeline()
                try:
                    connection.rollback()
                except self.dialect.loaded_dbapi.Error as error:
                    if not self.dialect.is_disconnect(error, connection, None):
                        raise _translated(self.dialect, "ROLLBACK", (), error) from error
                    # The database ended the transaction with the connection:
                    # nothing is left to undo, and the next use gets a new one.
                    self._discard(error)
        finally:
            self._finished()

    def _discard(self, error: Exception) -> None:
        """Drop a connection the database closed, and those the pool made before it.

        A restart or a failover closes every connection at once, so, as
        SQLAlchemy's own Connection does on a disconnect (the pool has no
        public call for it), the pool replaces all connections older than
        now on their next checkout instead of handing out each dead one to a
        request of its own.
        """
        pooled, self._pooled, self._dbapi_connection = self._pooled, None, None
        self.dropped = True
        try:
            self.engine.pool._invalidate(pooled, error)
        finally:
            pooled.close()

    def _finished(self) -> None:
        self.writing = False
        self._end_pipeline()
        if self._relaxed:
            self._relaxed = False
            sql = "PRAGMA synchronous = FULL"
            self._call(functools.partial(self.dbapi_connection.execute, sql), sql)

    def close(self) -> None:
        """Undo anything not committed and give the connection back to the pool."""
        pooled = self._pooled
        if pooled is None:
            return
        try:
            self.rollback()
            if self._pooled is None:
                return  # dropped by the database; rollback() discarded it
            if self.dialect.name != "sqlite":
                connection = self._dbapi_connection
                self._call(functools.partial(setattr, connection, "autocommit", False), "")
        except BaseException:
            pooled.invalidate()  # never back to the pool in autocommit mode
            raise
        finally:
            if self._pooled is not None:
                self._pooled = self._dbapi_connection = None
                pooled.close()

    def _call(self, action: Callable[[], Any], sql: str) -> None:
        try:
            action()
        except self.dialect.loaded_dbapi.Error as error:
            raise _translated(self.dialect, sql, (), error) from error

    def _statement(self, sql: str) -> None:
        listeners = self.engine.dispatch.before_cursor_execute
        _execute(self.dialect, self.dbapi_connection, listeners, sql, ()).close()


Target = Session | scoped_session | Direct


def dialect_of(target: Target) -> Dialect:
    """Return the dialect target's statements run in."""
    if isinstance(target, Direct):
        return target.dialect
    return target.get_bind().dialect


@functools.cache
def _pipeline_supported() -> bool:
    """Return whether psycopg's libpq has pipeline mode (libpq 14 and newer)."""
    import psycopg  # only asked when the dialect's driver is psycopg

    return psycopg.Pipeline.is_supported()


def sync(target: Target) -> None:
    """Raise now the failure of any write target still has queued (see Direct)."""
    if isinstance(target, Direct):
        target.sync()


def _resolve(target: Target) -> tuple[Dialect, Any, Any]:
    """Return the dialect, the DB-API connection and the listeners to run statements on."""
    if isinstance(target, Direct):
        return target.dialect, target.dbapi_connection, target.engine.dispatch.before_cursor_execute
    connection: Connection = target.connection()
    return (
        connection.dialect,
        connection.connection.dbapi_connection,
        connection.dispatch.before_cursor_execute,
    )


def _translated(dialect: Dialect, sql: str, arguments: Any, error: Exception) -> exc.DBAPIError:
    """Return a DB-API error as SQLAlchemy's class (IntegrityError...), as Core raises it.

    Callers catch and translate with a plain try/except: a context manager
    here cost more than some of the statements it wrapped.
    """
    return exc.DBAPIError.instance(
        sql, arguments, error, dialect.loaded_dbapi.Error, dialect=dialect
    )


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
    """Return params as the driver takes them: converted, in order for a positional style."""
    values = {**compiled.defaults, **params}
    for name, processor in compiled.binds:
        if name in values:
            values[name] = processor(values[name])
    if compiled.positional is not None:
        return tuple(values[name] for name in compiled.positional)
    return values


def _execute(
    dialect: Dialect,
    dbapi_connection: Any,
    listeners: Any,
    sql: str,
    arguments: Any,
    many: bool = False,
) -> Any:
    cursor = dbapi_connection.cursor()
    for listener in listeners:
        listener(None, cursor, sql, arguments, None, many)
    try:
        if many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
    except dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise _translated(dialect, sql, arguments, error) from error
    except BaseException:
        cursor.close()
        raise
    return cursor
