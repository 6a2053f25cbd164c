"""The Content-Security-Policy in a real browser: the app's own scripts and pictures work, and
nothing on any page is refused, while a script injected into a page is."""

from collections.abc import Iterator

import pytest
from live import LiveServer
from live import run_live_server
from playwright.sync_api import Page
from playwright.sync_api import expect
from security_helpers import get_urls

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts

PASSWORD = "Policy holds in 2026"


@pytest.fixture
def server(db_url) -> Iterator[LiveServer]:
    with run_live_server(db_url, workers=2) as live:
        app = create_app({"TESTING": True, "SECRET_KEY": "csp", "SQLALCHEMY_DATABASE_URI": db_url})
        with app.app_context():
            accounts.create_local_user(db.session, "breakglass", PASSWORD)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        yield live


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def test_no_page_breaks_the_policy_and_the_apps_scripts_run(page: Page, server: LiveServer):
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(server.url + "/login")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/setup/")

    app = create_app({"TESTING": True, "SECRET_KEY": "csp", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    visited = 0
    for endpoint, path in get_urls(app, {}):
        if endpoint.startswith(("auth.", "static", "health")) or path.endswith(".json"):
            continue  # sign-in pages come first; the diagnostics file is a download
        page.goto(server.url + path)
        visited += 1
    # app.js shows the Copy buttons it drives; without it they stay hidden.
    page.goto(server.url + "/sso/scim")
    expect(page.locator("[data-copy-target]").first).to_be_visible()
    # The drawings of Entra's screens load as pictures under the page's policy.
    page.goto(server.url + "/setup/entra-app")
    pictures = page.locator("img[src*='/help/entra/']")
    expect(pictures.first).to_be_visible()
    assert page.evaluate(
        "() => [...document.querySelectorAll(\"img[src*='/help/entra/']\")]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    assert refused == []
    assert visited >= 15

    # The policy is really enforced: an injected inline script does not run.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = true'; document.head.appendChild(s); }"
    )
    assert page.evaluate("() => window.injected === undefined")
    page.wait_for_timeout(200)
    assert any("inline script" in message for message in refused)
