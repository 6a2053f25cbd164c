"""Deleting every SCIM user or group: a fixed number of statements, local accounts untouched."""

import pytest
from apps import sql_statements
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import bulk
from unleash_wizard.store import resources
from unleash_wizard.store.models import Group
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail


def populate(app, users: int, groups: int) -> str:
    """Add a local admin, SCIM users with emails and groups of all of them; return the admin id."""
    with app.app_context():
        admin = accounts.create_local_user(db.session, "admin", "Correct horse battery 9")
        ids = [
            resources.create_user(
                db.session,
                {
                    "schemas": [USER],
                    "userName": f"user{n}@example.com",
                    "emails": [{"value": f"user{n}@example.com", "type": "work"}],
                },
            ).id
            for n in range(users)
        ]
        for n in range(groups):
            resources.create_group(db.session, {"displayName": f"Group {n}"}, ids)
        db.session.commit()
        return admin.id


def statements_during(app, function) -> int:
    with sql_statements(app) as seen, app.app_context():
        function(db.session)
        db.session.commit()
    return len(seen)


@pytest.mark.parametrize("delete", [bulk.delete_all_scim_users, bulk.delete_all_scim_groups])
def test_bulk_delete_takes_the_same_statements_for_3_rows_as_for_60(app, db_url, delete):
    populate(app, users=3, groups=3)
    few = statements_during(app, delete)
    with app.app_context():
        db.session.execute(Membership.__table__.delete())
        db.session.execute(UserEmail.__table__.delete())
        db.session.execute(User.__table__.delete())
        db.session.execute(Group.__table__.delete())
        db.session.commit()
    populate(app, users=60, groups=60)
    many = statements_during(app, delete)

    assert few == many
    assert many <= 6


def test_delete_all_scim_users_keeps_local_accounts_and_groups(app):
    admin_id = populate(app, users=5, groups=2)

    with app.app_context():
        assert bulk.count_scim_users(db.session) == 5
        assert bulk.delete_all_scim_users(db.session) == 5
        db.session.commit()
        assert bulk.delete_all_scim_users(db.session) == 0

        assert bulk.count_scim_users(db.session) == 0
        admin = db.session.get(User, admin_id)
        assert admin.deleted_at is None and admin.active
        gone = db.session.scalars(select(User).where(User.scim_managed.is_(True))).all()
        assert all(user.deleted_at and not user.active and user.version == 2 for user in gone)
        assert db.session.scalars(select(UserEmail)).all() == []
        assert db.session.scalars(select(Membership)).all() == []
        groups = db.session.scalars(select(Group)).all()
        assert [group.deleted_at for group in groups] == [None, None]
        assert all(group.version == 2 for group in groups)


def test_delete_all_scim_groups_keeps_users(app):
    populate(app, users=2, groups=3)

    with app.app_context():
        assert bulk.count_scim_groups(db.session) == 3
        assert bulk.delete_all_scim_groups(db.session) == 3
        db.session.commit()

        assert bulk.count_scim_groups(db.session) == 0
        assert db.session.scalars(select(Membership)).all() == []
        assert bulk.count_scim_users(db.session) == 2
        assert len(db.session.scalars(select(UserEmail)).all()) == 2
