"""Browser tests: Debian's chromium driven by Playwright against gunicorn.

Screenshots land in tests/e2e/screenshots/ (not committed) so a person can
look at every page the tests visit.
"""

from collections.abc import Iterator

import pytest
from e2e_helpers import add_breakglass
from live import LiveServer
from live import run_live_server
from playwright.sync_api import Page


@pytest.fixture
def blank_server(db_url) -> Iterator[LiveServer]:
    """Serve a first-start instance: empty database, SCIM off, no token, no admin."""
    with run_live_server(db_url, workers=2, blank=True) as server:
        yield server


@pytest.fixture
def admin_server(db_url) -> Iterator[LiveServer]:
    """Serve an instance with SCIM on, a token for Entra and the local admin "breakglass"."""
    with run_live_server(db_url, workers=2) as server:
        add_breakglass(db_url)
        yield server


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()
