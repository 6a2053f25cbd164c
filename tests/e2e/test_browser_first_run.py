"""A first start in a real browser: the first-run page, then the signed-in app."""

from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import shoot
from playwright.sync_api import Page
from playwright.sync_api import expect


def test_first_start_leads_to_first_run_and_signs_the_admin_in(page: Page, blank_server):
    page.goto(blank_server.url + "/")
    expect(page).to_have_url(blank_server.url + "/setup/first-run")
    shoot(page, "00-first-run")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create admin").click()
    expect(page.locator(".who")).to_contain_text("breakglass")
    shoot(page, "01-after-first-run")
