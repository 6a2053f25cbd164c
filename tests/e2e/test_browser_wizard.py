"""The setup wizard in a real browser: its live parts follow Entra's requests without a reload."""

import uuid

import httpx
from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import entra_user
from e2e_helpers import shoot
from live import LiveServer
from playwright.sync_api import Page
from playwright.sync_api import expect

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# live.js polls every 5 s; leave room for two rounds.
LIVE_TIMEOUT = 12_000


def test_wizard_pages_follow_entras_requests_live(page: Page, admin_server: LiveServer):
    url = admin_server.url
    entra = admin_server.client(params={"aadOptscim062020": ""})
    page.goto(url + "/login")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(url + "/setup/")
    expect(page.get_by_text("You're here")).to_be_visible()
    shoot(page, "wizard-00-overview")

    page.goto(url + "/setup/lockout")
    shoot(page, "wizard-01-lockout")
    page.goto(url + "/setup/scim-tab")
    shoot(page, "wizard-02-scim-tab")
    page.goto(url + "/sso/scim")  # opening the SCIM tab is step 1
    page.goto(url + "/setup/entra-app")
    shoot(page, "wizard-03-entra-app")
    page.get_by_role("button", name="I'm on the Provisioning page").click()
    expect(page).to_have_url(url + "/setup/connect")
    status = page.locator(".wizard-status")
    expect(status).to_contain_text("Waiting for Entra's test connection")

    # Entra's Test connection, while the page is open: the panel turns Done by itself.
    guid = str(uuid.uuid4())
    assert entra.get("/Users", params={"filter": f'userName eq "{guid}"'}).status_code == 200
    expect(status).to_contain_text("test connection reached this app", timeout=LIVE_TIMEOUT)
    expect(status.locator(".wizard-badge-done")).to_be_visible()
    # Screen readers hear the new status once, through the page's status element.
    expect(page.locator("[data-live-announcer]")).to_contain_text("test connection reached")
    shoot(page, "wizard-04-connect")

    # A user with extra mappings, then a legacy PATCH: step 5 and the flag banner react.
    page.goto(url + "/setup/mappings")
    created = entra.post(
        "/Users",
        json=entra_user(
            "alice@contoso.example",
            title="Engineer",
            schemas=[USER, ENTERPRISE],
            **{ENTERPRISE: {"department": "Sales"}},
        ),
    )
    assert created.status_code == 201
    alice = created.json()["id"]
    expect(status).to_contain_text("Remove these mappings", timeout=LIVE_TIMEOUT)
    expect(status).to_contain_text("enterprise: department")
    legacy = httpx.patch(
        f"{admin_server.scim_url}/Users/{alice}",
        headers=admin_server.headers,
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert legacy.status_code == 200
    banner = page.locator(".wizard-banner-warning")
    expect(banner).to_contain_text("compliance flag seems to be off", timeout=LIVE_TIMEOUT)
    expect(banner.get_by_role("button", name="Copy")).to_be_visible()
    shoot(page, "wizard-05-mappings-problem")

    # Entra with fixed mappings and the flag on: check again, then clean traffic.
    page.get_by_role("button", name="Check again from now").click()
    expect(status).to_contain_text("Waiting for Entra to send users")
    fixed = entra.patch(
        f"/Users/{alice}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": True}],
        },
    )
    assert fixed.status_code == 200
    expect(status.locator(".wizard-badge-done")).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator(".wizard-banner-info")).to_contain_text(
        "The compliance flag is on", timeout=LIVE_TIMEOUT
    )
    shoot(page, "wizard-06-mappings-done")

    page.goto(url + "/setup/provision")
    expect(status).to_contain_text("Entra is provisioning")
    entra.get(f"/Users/{uuid.uuid4()}")  # a 404: step 6 needs attention, with a hint
    expect(status).to_contain_text("Errors, by cause", timeout=LIVE_TIMEOUT)
    shoot(page, "wizard-07-provision")

    page.goto(url + "/setup/")
    shoot(page, "wizard-08-overview-after")
