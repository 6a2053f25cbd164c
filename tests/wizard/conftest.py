"""Fixtures for wizard tests: a local admin, a viewer, a signed-in admin, CSRF on."""

from collections.abc import Iterator

import pytest
from apps import make_app
from flask import Flask
from wizard_helpers import add_local
from wizard_helpers import sign_in

from unleash_wizard.extensions import db


@pytest.fixture
def admin(app) -> str:
    """Return the id of a local admin called 'admin'."""
    return add_local(app, "admin")


@pytest.fixture
def viewer(app, admin) -> str:
    """Return the id of a local viewer called 'viewer' (an admin exists too)."""
    return add_local(app, "viewer", role="viewer")


@pytest.fixture
def signed_in(client, admin):
    """Return a client signed in as the local admin."""
    response = sign_in(client, "admin")
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def csrf_app(db_url) -> Iterator[Flask]:
    """Return an app with CSRF checks on, as in production."""
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
