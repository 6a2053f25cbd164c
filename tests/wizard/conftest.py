"""Fixtures for wizard tests: an app with CSRF checks on, as in production."""

from collections.abc import Iterator

import pytest
from apps import make_app
from flask import Flask

from unleash_wizard.extensions import db


@pytest.fixture
def csrf_app(db_url) -> Iterator[Flask]:
    """Return an app with CSRF checks on, as in production."""
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
