"""Fixtures for the help pictures: clients signed in on apps with another PUBLIC_URL."""

from collections.abc import Callable

import pytest
from apps import add_local
from apps import sign_in


@pytest.fixture
def signed_in_with(app_with) -> Callable:
    """Return a factory of clients signed in as an admin on an app with overrides."""

    def factory(**overrides):
        app = app_with(**overrides)
        add_local(app, "admin")
        client = app.test_client()
        response = sign_in(client, "admin")
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return factory
