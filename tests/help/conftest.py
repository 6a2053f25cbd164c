"""Fixtures for the help pictures: a signed-in admin, apps with another PUBLIC_URL."""

from collections.abc import Callable

import pytest
from help_helpers import add_local
from help_helpers import sign_in


@pytest.fixture
def admin(app) -> str:
    return add_local(app, "admin")


@pytest.fixture
def signed_in(client, admin):
    """Return a client signed in as a local admin."""
    return sign_in(client, "admin")


@pytest.fixture
def signed_in_with(app_with) -> Callable:
    """Return a factory of clients signed in as an admin on an app with overrides."""

    def factory(**overrides):
        app = app_with(**overrides)
        add_local(app, "admin")
        return sign_in(app.test_client(), "admin")

    return factory
