"""Reads by id go through primary keys, even with no statistics; email filters through their index.

On PostgreSQL without statistics on a table (autovacuum off, or a table
Entra's first cycle has just filled), a query that said ``deleted_at IS NULL``
beside an id took the partial unique index on live names for a small one and
read every live row through it (see store/resources.py, _by_key_only). These
tests fill the tables with no ANALYZE and ask the database for the plan of each
statement such a read sends. A filter on a child table (emails, members)
starts from the child's index instead of reading every user (see
store/sqlfilter.py, _rows_first).
"""

import uuid
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.scim.filters import parse_filter
from unleash_wizard.scim.resources import user_type
from unleash_wizard.store import directory
from unleash_wizard.store import resources as store
from unleash_wizard.store import sqlfilter
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail

USERS = 3000
GROUPS = 20
MEMBERS = 50
LIVE_NAME_INDEXES = ("uq_users_user_name_key_live", "uq_groups_display_name_key_live")


@pytest.fixture
def filled(app):
    """Return the app with users, groups and memberships written, no statistics gathered."""
    now = datetime.now(UTC)
    user_ids = [str(uuid.uuid4()) for _ in range(USERS)]
    group_ids = [str(uuid.uuid4()) for _ in range(GROUPS)]
    users, emails = [], []
    for number, user_id in enumerate(user_ids):
        row, email_rows = store.new_user_rows(
            user_id,
            {
                "userName": f"user{number}@example.com",
                "emails": [{"value": f"u{number}@x.org", "type": "work"}],
            },
            now,
        )
        users.append(row)
        emails.extend(email_rows)
    groups = [
        {
            "id": group_id,
            "scim_managed": True,
            "display_name": f"Group {number}",
            "display_name_key": f"group {number}",
            "data": {"displayName": f"Group {number}"},
            "created_at": now,
            "modified_at": now,
            "version": 1,
        }
        for number, group_id in enumerate(group_ids)
    ]
    memberships = [
        {"group_id": group_id, "user_id": user_ids[number * MEMBERS + k]}
        for number, group_id in enumerate(group_ids)
        for k in range(MEMBERS)
    ]
    with app.app_context():
        db.session.execute(insert(User), users)
        db.session.execute(insert(UserEmail), emails)
        db.session.execute(insert(Group), groups)
        db.session.execute(insert(Membership), memberships)
        db.session.commit()
    app.config["FILLED"] = (user_ids, group_ids)
    return app


def plans_of(action) -> list[str]:
    """Run action in the app context; return the plan of every statement it sent, as text."""
    sent: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    db.session.rollback()
    sqlite = engine.dialect.name == "sqlite"
    plans = []
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        for statement, parameters in sent:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
                continue
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            cursor.execute(explain + statement, parameters)
            plans.append(" | ".join(str(row[-1] if sqlite else row[0]) for row in cursor))
        cursor.close()
    assert plans, "the action sent no statement to explain"
    return plans


def test_a_lookup_by_username_uses_the_live_name_index(filled):
    """The test tells indexes apart: this lookup is the live-name index's very purpose."""
    with filled.app_context():
        plans = plans_of(
            lambda: store.users_by_key(db.session, "user_name_key", "user7@example.com", 5)
        )
    assert any("uq_users_user_name_key_live" in plan for plan in plans), plans


def test_a_lookups_groups_come_through_the_memberships_user_index(filled):
    """The groups read with a looked-up user (step 23) start from that user's memberships."""
    user_ids, _ = filled.config["FILLED"]
    with filled.app_context():
        plans = plans_of(lambda: store.users_by_key(db.session, "id", user_ids[7], 1))
        [found] = store.users_by_key(db.session, "id", user_ids[7], 1)
    [plan] = plans
    assert "ix_memberships_user_id" in plan, plan
    assert found.groups == [(filled.config["FILLED"][1][0], "Group 0")]


@pytest.mark.parametrize(
    "reads",
    [
        "user by id",
        "user by id, locked",
        "a user's groups",
        "users' groups",
        "a group by id",
        "a group's version bumped",
        "a group's members",
        "new members checked",
        "groups' member counts",
        "a directory user",
    ],
)
def test_reads_by_id_go_through_primary_keys_without_statistics(filled, reads):
    user_ids, group_ids = filled.config["FILLED"]
    actions = {
        "user by id": lambda: store.users_by_key(db.session, "id", user_ids[7], 1),
        "user by id, locked": lambda: store.get_user(db.session, user_ids[7], lock=True),
        "a user's groups": lambda: store.groups_of_user(db.session, user_ids[7]),
        "users' groups": lambda: store.groups_of(db.session, user_ids[:3]),
        "a group by id": lambda: store.get_group(db.session, group_ids[3]),
        "a group's version bumped": lambda: store.bump_group(db.session, group_ids[3]),
        "a group's members": lambda: store.members_of(db.session, [group_ids[3]]),
        "new members checked": lambda: store.add_members(
            db.session, group_ids[3], user_ids[2000:2050]
        ),
        "groups' member counts": lambda: directory.member_counts(db.session, group_ids[:2]),
        "a directory user": lambda: directory.get_user(db.session, user_ids[7]),
    }
    with filled.app_context():
        plans = plans_of(actions[reads])
    for plan in plans:
        assert not any(index in plan for index in LIVE_NAME_INDEXES), plan


def test_entras_email_filter_starts_from_the_emails_index(filled):
    """`emails[type eq "work"].value eq` reads the emails it matches, not every user."""
    node = parse_filter(user_type(), 'emails[type eq "work"].value eq "u7@x.org"')
    with filled.app_context():
        dialect = db.engine.dialect.name
        query = select(User.id).where(sqlfilter.user_condition(node, dialect))
        plans = plans_of(lambda: db.session.scalars(query).all())
        found = db.session.scalars(query).all()
    assert found == [filled.config["FILLED"][0][7]]
    [plan] = plans
    assert "ix_user_emails_value_key" in plan, plan
    assert "SCAN users" not in plan and "Seq Scan on users" not in plan, plan
