"""flask backup PATH: a consistent online copy of SQLite, and pg_dump's command on PostgreSQL.

The SQLite tests use a database file of their own whatever TEST_DATABASE_URL
says: the copy is SQLite's. On a PostgreSQL run, the printed pg_dump and
pg_restore commands are also run for real.
"""

import os
import shlex
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from apps import ScimClient
from apps import make_app
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store import audit
from unleash_wizard.store import log
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import AuditEvent

PASSWORD = "Backup and restore 42"
# The writer commits this many audit events at a time: a consistent copy holds
# a whole number of its transactions.
BATCH = 5
WRITER_ACTION = "test.writer"


def open_app(db_url: str):
    """Return an app on an existing database, as a restored instance starts."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "restored-secret-key",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )


def close(app) -> None:
    with app.app_context():
        log.close_pending(db.engine)  # the reads' rows, before the database may go
        db.session.remove()
        db.engine.dispose()


def fill(app) -> dict:
    """Write what an instance holds after setup: an admin, a token, SCIM users and a group."""
    with app.app_context():
        accounts.create_local_user(db.session, "breakglass", PASSWORD)
        settings.put(db.session, settings.SCIM_ENABLED, True)
        secret = tokens.issue(db.session, "entra").secret
        db.session.commit()
    scim = ScimClient(app.test_client(), secret)
    ids = []
    for number in range(20):
        created = scim.post(
            "/scim/v2/Users",
            json={"userName": f"user{number}@contoso.example", "displayName": f"User {number}"},
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        ids.append(created.get_json()["id"])
    group = scim.post(
        "/scim/v2/Groups",
        json={"displayName": "Unleash Admins", "members": [{"value": i} for i in ids[:5]]},
    )
    assert group.status_code == 201
    return {"token": secret, "user_ids": ids, "group_id": group.get_json()["id"]}


def writer_count(session) -> int:
    return session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == WRITER_ACTION)
    )


class Writer(threading.Thread):
    """Commit BATCH audit events at a time through the app until told to stop."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app = app
        self.stop = threading.Event()
        self.started_writing = threading.Event()
        self.batches = 0
        self.error: BaseException | None = None

    def run(self):
        try:
            with self.app.app_context():
                while not self.stop.is_set():
                    for number in range(BATCH):
                        detail = f"{self.batches}.{number}"
                        audit.record(db.session, "writer", WRITER_ACTION, detail)
                    db.session.commit()
                    self.batches += 1
                    if self.batches >= 3:
                        self.started_writing.set()
                db.session.remove()
        except BaseException as error:  # reported by the test
            self.error = error
            self.started_writing.set()


@pytest.fixture
def sqlite_app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'live.db'}")
    yield app
    close(app)


def test_backup_while_writing_restores_as_a_working_instance(sqlite_app, tmp_path):
    app = sqlite_app
    data = fill(app)
    copy = tmp_path / "backups" / "copy.db"
    copy.parent.mkdir()
    writer = Writer(app)
    writer.start()
    try:
        assert writer.started_writing.wait(30), "the writer never committed"
        with app.app_context():
            before = writer_count(db.session)
        result = app.test_cli_runner().invoke(args=["backup", str(copy)])
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert result.exit_code == 0, result.output
    assert "Integrity check ok" in result.output
    assert "users 21" in result.output
    with app.app_context():
        after = writer_count(db.session)

    # The copy is one self-contained file, sound, holding whole transactions only.
    assert not Path(f"{copy}-wal").exists()
    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not list(copy.parent.glob(".backup-*")), "no temporary file is left behind"

    restored = open_app(f"sqlite:///{copy}")
    try:
        with restored.app_context():
            copied = writer_count(db.session)
            assert before <= copied <= after
            assert copied % BATCH == 0, "a writer's transaction was copied in part"
            admin = accounts.find_by_name(db.session, "breakglass")
            assert admin is not None and accounts.is_break_glass_admin(admin)
        client = restored.test_client()
        # The restored instance works: the admin signs in, Entra's token is accepted.
        signed = client.post("/login", data={"username": "breakglass", "password": PASSWORD})
        assert signed.status_code == 302
        group = client.get(f"/directory/groups/{data['group_id']}")
        assert group.status_code == 200 and "Unleash Admins" in group.get_data(as_text=True)
        listing = ScimClient(client, data["token"]).get("/scim/v2/Users?count=100")
        assert listing.status_code == 200
        assert {r["id"] for r in listing.get_json()["Resources"]} == set(data["user_ids"])
    finally:
        close(restored)


def test_backup_refuses_to_overwrite_unless_forced(sqlite_app, tmp_path):
    fill(sqlite_app)
    runner = sqlite_app.test_cli_runner()
    target = tmp_path / "existing.db"
    target.write_bytes(b"precious")

    refused = runner.invoke(args=["backup", str(target)])

    assert refused.exit_code == 1
    assert "already exists" in refused.output and "--force" in refused.output
    assert "Traceback" not in refused.output
    assert target.read_bytes() == b"precious"

    forced = runner.invoke(args=["backup", "--force", str(target)])

    assert forced.exit_code == 0, forced.output
    with sqlite3.connect(target) as check:
        assert check.execute("SELECT count(*) FROM users").fetchone() == (21,)


def test_backup_into_a_folder_writes_a_dated_file(sqlite_app, tmp_path):
    folder = tmp_path / "nightly"
    folder.mkdir()

    result = sqlite_app.test_cli_runner().invoke(args=["backup", str(folder)])

    assert result.exit_code == 0, result.output
    [made] = folder.iterdir()
    assert made.name.startswith("unleash_wizard-") and made.suffix == ".db"
    assert str(made) in result.output


def test_backup_never_overwrites_the_database_itself(sqlite_app, tmp_path):
    database = make_url(sqlite_app.config["SQLALCHEMY_DATABASE_URI"]).database
    size = os.path.getsize(database)

    result = sqlite_app.test_cli_runner().invoke(args=["backup", "--force", database])

    assert result.exit_code == 1
    assert "cannot overwrite the database" in result.output
    assert os.path.getsize(database) == size


def test_backup_of_an_in_memory_database_says_there_is_no_file(tmp_path):
    app = open_app("sqlite://")

    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.db")])

    assert result.exit_code == 1
    assert "in memory" in result.output
    assert not (tmp_path / "x.db").exists()


def test_on_postgresql_backup_prints_pg_dump_without_the_password(tmp_path):
    url = "postgresql+psycopg://wizard:s3cret-pw@db.example.com:5432/wizard"
    app = open_app(url)
    target = tmp_path / "nightly dump"

    result = app.test_cli_runner().invoke(args=["backup", str(target)])

    assert result.exit_code == 1, "no backup was made: scripts must notice"
    assert "s3cret-pw" not in result.output
    quoted = shlex.quote(str(target))
    assert (
        f"pg_dump --format=custom --file={quoted} postgresql://wizard@db.example.com:5432/wizard"
        in result.output
    )
    assert "pg_restore --clean --if-exists --no-owner" in result.output
    assert not target.exists()


def _postgres_server() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return url if url and url.startswith("postgresql") else None


def run_printed(command: str) -> None:
    completed = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def printed_commands(output: str) -> tuple[str, str]:
    lines = [line.strip() for line in output.splitlines()]
    dump = next(line for line in lines if line.startswith("pg_dump "))
    restore = next(line for line in lines if line.startswith("pg_restore "))
    return dump, restore


if _postgres_server():
    # Defined on PostgreSQL runs only: it needs the server the suite runs on.

    def test_the_printed_pg_dump_and_pg_restore_commands_round_trip(database_url, tmp_path):
        source = make_app(database_url)
        restored_name = f"uwz_restore_{uuid.uuid4().hex[:10]}"
        server = create_engine(_postgres_server(), isolation_level="AUTOCOMMIT")
        try:
            data = fill(source)
            dump = tmp_path / "wizard.dump"
            result = source.test_cli_runner().invoke(args=["backup", str(dump)])
            assert result.exit_code == 1
            dump_command, _ = printed_commands(result.output)
            run_printed(dump_command)
            assert dump.stat().st_size > 0

            with server.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{restored_name}"'))
            restored_url = make_url(database_url).set(database=restored_name)
            restored_url = restored_url.render_as_string(hide_password=False)
            into = open_app(restored_url)
            result = into.test_cli_runner().invoke(args=["backup", str(dump)])
            _, restore_command = printed_commands(result.output)
            close(into)
            run_printed(restore_command)

            restored = open_app(restored_url)
            try:
                client = restored.test_client()
                signed = client.post(
                    "/login", data={"username": "breakglass", "password": PASSWORD}
                )
                assert signed.status_code == 302
                listing = ScimClient(client, data["token"]).get("/scim/v2/Users?count=100")
                assert {r["id"] for r in listing.get_json()["Resources"]} == set(data["user_ids"])
            finally:
                close(restored)
        finally:
            with source.app_context():
                db.session.remove()
                db.drop_all()
                db.engine.dispose()
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
            server.dispose()
