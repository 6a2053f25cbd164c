"""Helpers for the help picture tests: local accounts and signing in."""

from flask import Flask

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts

PASSWORD = "Correct horse battery 9"


def add_local(app: Flask, user_name: str, role: str = "admin") -> str:
    """Create a local account with PASSWORD and return its id."""
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, PASSWORD, role)
        db.session.commit()
        return user.id


def sign_in(client, user_name: str):
    """Sign client in as user_name and return it."""
    response = client.post("/login", data={"username": user_name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
