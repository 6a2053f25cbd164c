"""Fixtures for sign-in tests: local accounts, a signed-in client, apps with overrides."""

import pytest
from auth_helpers import add_local
from auth_helpers import sign_in
from oidc_provider import REDIRECT_URI
from oidc_provider import register_client

from unleash_wizard.auth import oidc
from unleash_wizard.wizard import views as wizard_views


@pytest.fixture(autouse=True)
def setup_finished(monkeypatch):
    """Let / show the overview: these tests sign in; tests/wizard covers / leading to setup."""
    monkeypatch.setattr(wizard_views, "setup_pending", lambda: False)


@pytest.fixture
def admin(app) -> str:
    """Return the id of a local admin called 'admin' with PASSWORD."""
    return add_local(app, "admin")


@pytest.fixture
def viewer(app, admin) -> str:
    """Return the id of a local viewer called 'viewer' with PASSWORD (an admin exists too)."""
    return add_local(app, "viewer", role="viewer")


@pytest.fixture
def signed_in(client, admin):
    """Return a client signed in as the local admin."""
    response = sign_in(client, "admin")
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def fresh_discovery():
    """Forget discovery documents around a test: each test configures its own provider."""
    oidc._metadata_cache.clear()
    yield
    oidc._metadata_cache.clear()


@pytest.fixture
def rp(iam_server, fresh_discovery):
    """Return this app's client registration at the test provider."""
    return register_client(iam_server, REDIRECT_URI)
