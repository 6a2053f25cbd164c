"""The Alembic migrations build exactly the schema the models describe, and undo it."""

import re

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy import inspect
from sqlalchemy import text

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store.models import Base


def drop_everything(engine) -> None:
    """Drop every table, alembic_version included (the PostgreSQL database is shared)."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    metadata.drop_all(bind=engine)


def normalize(clause) -> str:
    """Return a WHERE clause without the parentheses and case a database adds."""
    return re.sub(r"[()\s]+", " ", str(clause)).strip().lower()


@pytest.fixture
def empty_app(db_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        drop_everything(db.engine)
        yield app
        db.session.remove()
        drop_everything(db.engine)
        db.engine.dispose()


def test_upgrade_builds_the_schema_of_the_models(empty_app):
    flask_migrate.upgrade()

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_keeps_partial_unique_indexes_partial(empty_app):
    flask_migrate.upgrade()

    dialect = db.engine.dialect.name
    inspector = inspect(db.engine)
    partial = [
        index
        for table in Base.metadata.sorted_tables
        for index in table.indexes
        if index.dialect_kwargs.get(f"{dialect}_where") is not None
    ]
    assert {index.name for index in partial} >= {
        "uq_users_user_name_key_live",
        "uq_groups_display_name_key_live",
    }
    for index in partial:
        reflected = {found["name"]: found for found in inspector.get_indexes(index.table.name)}
        found = reflected[index.name]
        assert found["unique"] == index.unique
        where = found.get("dialect_options", {}).get(f"{dialect}_where")
        assert normalize(where) == normalize(index.dialect_kwargs[f"{dialect}_where"])


def test_partial_index_frees_the_name_of_a_deleted_row(empty_app):
    flask_migrate.upgrade()

    insert = text(
        "INSERT INTO users (id, user_name, user_name_key, active, scim_managed, role,"
        " data, created_at, modified_at, version, deleted_at)"
        " VALUES (:id, 'a', 'a', true, true, 'viewer', '{}',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, :deleted)"
    )
    with db.engine.begin() as connection:
        connection.execute(insert, {"id": "1", "deleted": "2024-01-01 00:00:00+00:00"})
        connection.execute(insert, {"id": "2", "deleted": None})
        count = connection.scalar(text("SELECT count(*) FROM users"))
    assert count == 2


def test_downgrade_to_base_removes_every_table(empty_app):
    flask_migrate.upgrade()

    flask_migrate.downgrade(revision="base")

    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is None


def test_upgrade_is_idempotent(empty_app):
    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        head = MigrationContext.configure(connection).get_current_revision()

    flask_migrate.upgrade()

    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
    assert head is not None
