"""Fixtures for the help pictures: a signed-in admin, apps with another PUBLIC_URL."""

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from help_helpers import add_local
from help_helpers import sign_in

from unleash_wizard.extensions import db

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"


@pytest.fixture
def admin(app) -> str:
    return add_local(app, "admin")


@pytest.fixture
def signed_in(client, admin):
    """Return a client signed in as a local admin."""
    return sign_in(client, "admin")


@pytest.fixture
def app_with(request, db_url) -> Iterator[Callable[..., Flask]]:
    """Return a factory of apps on this test's database with config overrides.

    make_app comes from tests/conftest.py, which pytest registered as a plugin
    under its path (a nested conftest cannot import it by name).
    """
    make_app = request.config.pluginmanager.get_plugin(str(ROOT_CONFTEST)).make_app
    made = []

    def factory(**overrides) -> Flask:
        app = make_app(db_url, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def signed_in_with(app_with) -> Callable:
    """Return a factory of clients signed in as an admin on an app with overrides."""

    def factory(**overrides):
        app = app_with(**overrides)
        add_local(app, "admin")
        return sign_in(app.test_client(), "admin")

    return factory
