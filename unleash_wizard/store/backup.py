"""Online backups: a consistent copy of the SQLite database while the app keeps running.

SQLite's online backup API copies the database page by page inside one read
transaction, so the copy is the database as it was at one moment, whatever the
app writes meanwhile (in WAL mode readers and writers do not block each other).
The copy goes to a temporary file next to the target, is checked with
``PRAGMA integrity_check`` and is then renamed into place, so a half-written
backup never sits at the target path.

PostgreSQL has its own tool for this, pg_dump; pg_dump_command() spells it out.
"""

import os
import shlex
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

# How long the copy waits for a writer's lock, as the app's connections do.
BUSY_TIMEOUT_MS = 30_000
# Tables whose row counts the command reports, so the admin sees what was saved.
COUNTED_TABLES = ("users", "groups", "scim_tokens", "provisioning_log")


class BackupError(Exception):
    """A backup that could not be made; str() says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """A finished backup: where it is, its size and the rows it holds per table."""

    path: Path
    size: int
    counts: dict[str, int]


def sqlite_path(url: str | URL) -> Path | None:
    """Return the file of a SQLite database URL, or None for another database.

    :raises BackupError: for an in-memory SQLite database, which has no file to copy.
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        raise BackupError("The database is SQLite in memory: there is no file to back up.")
    return Path(url.database).resolve()


def target_path(target: Path, now: datetime | None = None) -> Path:
    """Return the file to write: target, or a dated file inside it when it is a folder."""
    if target.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        return target / f"unleash_wizard-{stamp}.db"
    return target


def backup_sqlite(source: Path, target: Path, force: bool = False) -> Backup:
    """Copy the SQLite database at source to target, consistently, while it is in use.

    :raises BackupError: when source is missing, target exists (without force) or is
        the database itself, or the copy fails its integrity check.
    """
    if not source.is_file():
        raise BackupError(f"There is no SQLite database at {source}.")
    target = target_path(target).absolute()
    if target.resolve() == source.resolve():
        raise BackupError("The backup cannot overwrite the database it copies.")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; choose another path or add --force.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    handle, temporary = tempfile.mkstemp(prefix=".backup-", suffix=".db", dir=target.parent)
    os.close(handle)
    try:
        copy_database(source, Path(temporary))
        counts = check_copy(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Backup(target, target.stat().st_size, counts)


def copy_database(source: Path, target: Path) -> None:
    """Copy source into the empty file target with SQLite's online backup API."""
    # Read-only: the backup never writes to the live database.
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(target)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # pages=-1: every page in one step, so one read transaction sees one
        # moment of the database; stepping would restart on each write anyway.
        src.backup(dst, pages=-1)
        # One self-contained file: the copy keeps no -wal or -shm beside it.
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.commit()
    except sqlite3.Error as error:
        raise BackupError(f"The backup failed: {error}") from None
    finally:
        dst.close()
        src.close()


def check_copy(path: Path) -> dict[str, int]:
    """Return the row counts of the copy at path after checking its integrity.

    :raises BackupError: when PRAGMA integrity_check finds a problem.
    """
    connection = sqlite3.connect(path)
    try:
        result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError("The copy failed its integrity check: " + "; ".join(result[:5]))
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        return {
            table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in COUNTED_TABLES
            if table in tables
        }
    finally:
        connection.close()


def libpq_url(url: str | URL) -> str:
    """Return a PostgreSQL URL as pg_dump reads it: no driver name, no password."""
    # set() leaves a None password alone; URL is a NamedTuple, so _replace drops it.
    url = make_url(url)._replace(drivername="postgresql", password=None)
    return url.render_as_string(hide_password=False)


def pg_dump_command(url: str | URL, target: Path) -> str:
    """Return the pg_dump command that backs up the PostgreSQL database at url into target."""
    return (
        f"pg_dump --format=custom --file={shlex.quote(str(target))} {shlex.quote(libpq_url(url))}"
    )


def pg_restore_command(url: str | URL, source: Path) -> str:
    """Return the pg_restore command that loads the dump at source into the database at url."""
    return (
        f"pg_restore --clean --if-exists --no-owner --dbname={shlex.quote(libpq_url(url))} "
        f"{shlex.quote(str(source))}"
    )
