"""A first-time admin's whole setup in a real browser, with Entra played by an HTTP client.

First start, first-run page, the wizard, Single Sign-On > SCIM where SCIM is
switched on and the token copied with the page's own Copy button; then the
copied token carries Entra's real request shapes, and the wizard's steps 4, 5
and 6 and the compliance-flag banner change on the open page without a reload,
until clean traffic turns every step green.
"""

import uuid

import httpx
from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import shoot
from playwright.sync_api import Page
from playwright.sync_api import expect

from unleash_wizard.help.screenshots import entra_client

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# live.js polls every 5 s; leave room for two rounds on a busy machine.
LIVE = 15_000


def provision_user(client: httpx.Client, user_name: str, **extra) -> str:
    """Look the user up, then create it, as Entra's cycle does; return its id."""
    found = client.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert found.status_code == 200 and found.json()["totalResults"] == 0
    body = {
        "schemas": [USER, *([ENTERPRISE] if ENTERPRISE in extra else [])],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].title(),
        "emails": [{"primary": True, "type": "work", "value": extra.pop("email", user_name)}],
        "externalId": user_name.split("@")[0],
        **extra,
    }
    created = client.post("/Users", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_first_time_admin_sets_up_entra_provisioning(page: Page, blank_server):
    url = blank_server.url

    # First start: every page leads to the first-run page.
    page.goto(url + "/")
    expect(page).to_have_url(url + "/setup/first-run")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create admin").click()

    # Signed in, the admin lands in the wizard; step 0 already holds.
    page.goto(url + "/")
    expect(page).to_have_url(url + "/setup/")
    page.get_by_role("link", name="Keep a way in").click()
    expect(page.locator(".wizard-status").first).to_contain_text("breakglass")
    shoot(page, "journey-01-step0")

    # Step 1 and 2: Single Sign-On > SCIM, switch on, copy the token shown once.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Single Sign-On").click()
    page.get_by_role("link", name="SCIM").first.click()
    expect(page.locator("#tenant-url")).to_have_text(url + "/scim/v2?aadOptscim062020")
    page.get_by_role("button", name="Switch SCIM on").click()
    secret = page.locator("#new-token-secret")
    expect(secret).to_be_visible()
    shoot(page, "journey-02-token-once")
    page.locator("[data-copy-target=new-token-secret]").click()
    token = page.evaluate("navigator.clipboard.readText()")
    assert token == secret.inner_text().strip() and token.startswith("uwz_")
    page.get_by_role("link", name="I have saved it in Entra").click()
    assert token not in page.content()

    # Step 3 is confirmed by hand; step 4 waits for Entra's test connection.
    page.goto(url + "/setup/entra-app")
    page.get_by_role("button", name="I'm on the Provisioning page").click()
    expect(page).to_have_url(url + "/setup/connect")
    status = page.locator(".wizard-status")
    expect(status).to_contain_text("Waiting for Entra's test connection")

    with entra_client(url, token) as client:
        # A wrong token first: the page says so without showing any token.
        wrong = entra_client(url, "uwz_not-the-right-one")
        assert wrong.get("/Users", params={"filter": 'userName eq "x"'}).status_code == 401
        wrong.close()
        expect(status).to_contain_text("token", timeout=LIVE)
        expect(status.locator(".wizard-badge-problem")).to_be_visible(timeout=LIVE)
        shoot(page, "journey-03-wrong-token")

        # Test connection: random GUID lookups answered with empty lists.
        for endpoint, attribute in (("/Users", "userName"), ("/Groups", "displayName")):
            answer = client.get(endpoint, params={"filter": f'{attribute} eq "{uuid.uuid4()}"'})
            assert answer.status_code == 200 and answer.json()["Resources"] == []
        expect(status).to_contain_text("test connection reached this app", timeout=LIVE)
        shoot(page, "journey-04-connected")

        # Step 5: default mappings send extra attributes and mail as the email.
        page.goto(url + "/setup/mappings")
        status = page.locator(".wizard-status")
        first = provision_user(
            client,
            "alice@contoso.example",
            title="Engineer",
            email="alice.smith@mail.contoso.example",
            **{ENTERPRISE: {"department": "R&D"}},
        )
        expect(status).to_contain_text("Remove these mappings", timeout=LIVE)
        expect(status).to_contain_text("title")
        expect(status).to_contain_text("userPrincipalName")
        # Without the flag Entra disables in the legacy shape.
        legacy = client.patch(
            f"/Users/{first}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        assert legacy.status_code == 200 and legacy.json()["active"] is False
        banner = page.locator(".wizard-banner-warning")
        expect(banner).to_contain_text("compliance flag seems to be off", timeout=LIVE)
        shoot(page, "journey-05-mappings-and-flag")

        # The admin fixes the mappings and the Tenant URL; clean traffic follows.
        page.get_by_role("button", name="Check again from now").click()
        # Entra's next cycle brings alice's work email in line with her UPN.
        realigned = client.patch(
            f"/Users/{first}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [
                    {
                        "op": "replace",
                        "path": 'emails[type eq "work"].value',
                        "value": "alice@contoso.example",
                    }
                ],
            },
        )
        assert realigned.status_code == 200
        second = provision_user(client, "bob@contoso.example")
        fixed = client.patch(
            f"/Users/{second}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Bob B"}],
            },
        )
        assert fixed.status_code == 200
        expect(status.locator(".wizard-badge-done")).to_be_visible(timeout=LIVE)
        expect(page.locator(".wizard-banner-warning")).to_have_count(0, timeout=LIVE)
        shoot(page, "journey-06-mappings-clean")

        # Step 6: a group with members, and the counts on the page.
        page.goto(url + "/setup/provision")
        group = client.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Unleash Admins",
                "externalId": "g-1",
            },
        )
        assert group.status_code == 201
        added = client.patch(
            f"/Groups/{group.json()['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": second}]}],
            },
        )
        assert added.status_code == 204
        status = page.locator(".wizard-status")
        expect(status.locator(".wizard-badge-done")).to_be_visible(timeout=LIVE)
        expect(status).to_contain_text("Groups created")
        shoot(page, "journey-07-provisioning")

    page.goto(url + "/setup/")
    expect(page.locator(".wizard-badge-done")).to_have_count(7)
    shoot(page, "journey-08-all-done")
    assert token not in page.content()
