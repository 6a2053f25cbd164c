"""Helpers for sign-in tests: local accounts, SCIM users, signing in."""

from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import resources
from unleash_wizard.store.models import User

PASSWORD = "Correct horse battery 9"
OTHER_PASSWORD = "Another long passphrase 7"


def add_local(app, user_name: str, password: str = PASSWORD, role: str = "admin") -> str:
    """Create a local account and return its id."""
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, password, role)
        db.session.commit()
        return user.id


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


def sign_in(client, user_name: str, password: str = PASSWORD, remember: bool = False, **kwargs):
    data = {"username": user_name, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data, **kwargs)


def local_users(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(
            accounts.live_users().where(User.scim_managed.is_(False)).order_by(User.created_at)
        )
        return [(row.user_name, row.role) for row in rows]
