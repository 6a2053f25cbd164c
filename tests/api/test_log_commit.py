"""A SCIM write and its provisioning-log row commit together, or neither does."""

import pytest
from sqlalchemy import select
from sqlalchemy import text

from unleash_wizard.extensions import db
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import ProvisioningLog
from unleash_wizard.store.models import User

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# The database refuses a log row for one path and status: the write it belongs
# to must then be undone, and the client told so.
SQLITE_TRIGGER = """
CREATE TRIGGER refuse_log_row BEFORE INSERT ON provisioning_log
WHEN (NEW.status < 300 AND NEW.method = 'POST') OR NEW.method = 'PATCH'
BEGIN SELECT RAISE(ABORT, 'log row refused'); END
"""
POSTGRES_TRIGGER = [
    """
    CREATE OR REPLACE FUNCTION refuse_log_row() RETURNS trigger AS $$
    BEGIN
        IF (NEW.status < 300 AND NEW.method = 'POST') OR NEW.method = 'PATCH' THEN
            RAISE EXCEPTION 'log row refused';
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER refuse_log_row BEFORE INSERT ON provisioning_log
    FOR EACH ROW EXECUTE FUNCTION refuse_log_row()
    """,
]


def refuse_log_rows(app) -> None:
    """Make the database refuse the log rows of successful POSTs and of every PATCH."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(text(SQLITE_TRIGGER))
        else:
            for statement in POSTGRES_TRIGGER:
                db.session.execute(text(statement))
        db.session.commit()


@pytest.fixture
def refused(app):
    refuse_log_rows(app)
    return app


def rows(app, column):
    with app.app_context():
        return db.session.scalars(select(column)).all()


def test_a_create_whose_log_row_fails_is_undone_and_answered_503(refused, scim):
    response = scim.post("/scim/v2/Users", {"schemas": [USER], "userName": "alice@example.com"})

    assert response.status_code == 503
    assert response.get_json()["status"] == "503"
    assert rows(refused, User.user_name) == []
    # The failure itself is logged, on its own.
    assert rows(refused, ProvisioningLog.status) == [503]


def test_a_group_patch_whose_log_row_fails_leaves_the_group_as_it_was(app, scim):
    created = scim.post("/scim/v2/Groups", {"schemas": [GROUP], "displayName": "Sales"})
    group_id = created.get_json()["id"]
    with app.app_context():
        db.session.execute(text("DELETE FROM provisioning_log"))
        db.session.commit()
    refuse_log_rows(app)  # from here on, PATCH log rows are refused

    response = scim.patch(
        f"/scim/v2/Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}],
        },
    )

    assert response.status_code == 503
    assert rows(app, Group.display_name) == ["Sales"]
    # Not even the 503 could be logged (every PATCH row is refused): nothing half-written.
    assert rows(app, ProvisioningLog.status) == []


def test_a_create_and_its_log_row_land_together(app, scim):
    response = scim.post("/scim/v2/Users", {"schemas": [USER], "userName": "bob@example.com"})

    assert response.status_code == 201
    with app.app_context():
        row = db.session.scalars(select(ProvisioningLog)).one()
    assert (row.method, row.status, row.resource_id) == ("POST", 201, response.get_json()["id"])
