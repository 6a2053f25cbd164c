"""Fixtures for sign-in tests: local accounts, a signed-in client, apps with overrides."""

import pytest
from oidc_provider import REDIRECT_URI
from oidc_provider import register_client

from unleash_wizard.auth import oidc
from unleash_wizard.wizard import views as wizard_views


@pytest.fixture(autouse=True)
def setup_finished(monkeypatch):
    """Let / show the overview: these tests sign in; tests/wizard covers / leading to setup."""
    monkeypatch.setattr(wizard_views, "setup_pending", lambda: False)


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
