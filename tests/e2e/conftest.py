"""Browser tests: Debian's chromium driven by Playwright against gunicorn.

Screenshots land in tests/e2e/screenshots/ (not committed) so a person can
look at every page the tests visit.
"""

from collections.abc import Iterator

import pytest
from live import LiveServer
from live import run_live_server
from playwright.sync_api import Page


@pytest.fixture
def blank_server(db_url) -> Iterator[LiveServer]:
    """Serve a first-start instance: empty database, SCIM off, no token, no admin."""
    with run_live_server(db_url, workers=2, blank=True) as server:
        yield server


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()
