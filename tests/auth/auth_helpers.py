"""Helpers for sign-in tests: SCIM users, changing users, another password."""

from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import resources
from unleash_wizard.store.models import User

OTHER_PASSWORD = "Another long passphrase 7"


def add_scim_user(app, user_name: str, **data) -> str:
    """Create a SCIM-managed user, as Entra would, and return its id."""
    with app.app_context():
        user = resources.create_user(db.session, {"schemas": [USER], "userName": user_name, **data})
        db.session.commit()
        return user.id


def update_user(app, user_id: str, **values) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        for key, value in values.items():
            setattr(user, key, value)
        db.session.commit()


def local_users(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(
            accounts.live_users().where(User.scim_managed.is_(False)).order_by(User.created_at)
        )
        return [(row.user_name, row.role) for row in rows]
