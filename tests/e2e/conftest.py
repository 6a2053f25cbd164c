"""Browser tests: Debian's chromium driven by Playwright against gunicorn.

Screenshots land in tests/e2e/screenshots/ (not committed) so a person can
look at every page the tests visit.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import LiveServer
from live import run_live_server
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Return a headless Debian chromium (installed by .ci/run and scripts/test)."""
    executable = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(executable).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}; install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


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

