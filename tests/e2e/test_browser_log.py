"""The provisioning log in a real browser, after real SCIM traffic through gunicorn."""

import uuid

import httpx
from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import entra_user
from e2e_helpers import shoot
from live import LiveServer
from playwright.sync_api import Page
from playwright.sync_api import expect

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def send_traffic(server: LiveServer) -> None:
    """What Entra sends in its first minutes, with the usual mistakes."""
    entra = server.client(params={"aadOptscim062020": ""})
    guid = str(uuid.uuid4())
    assert entra.get("/Users", params={"filter": f'userName eq "{guid}"'}).status_code == 200
    wrong = httpx.get(server.scim_url + "/Users", headers={"Authorization": "Bearer uwz_old"})
    assert wrong.status_code == 401
    ada = entra.post("/Users", json=entra_user("ada@example.com"))
    assert ada.status_code == 201
    assert entra.post("/Users", json=entra_user("ada@example.com")).status_code == 409
    extra = entra_user(
        "lin@example.com",
        title="Engineer",
        name={"givenName": "Lin", "familyName": "Ma"},
        **{ENTERPRISE: {"department": "R&D"}},
    )
    extra["schemas"].append(ENTERPRISE)
    assert entra.post("/Users", json=extra).status_code == 201
    assert entra.get("/Users", params={"filter": "userName xx 1"}).status_code == 400
    group = entra.post("/Groups", json={"schemas": [GROUP], "displayName": "Staff"})
    assert group.status_code == 201
    disable = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert entra.patch(f"/Users/{ada.json()['id']}", json=disable).status_code == 200


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def test_the_log_shows_entras_requests_with_hints(page: Page, admin_server: LiveServer):
    send_traffic(admin_server)
    sign_in(page, admin_server.url)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Provisioning log").click()
    expect(page).to_have_url(admin_server.url + "/log/")
    table = page.locator(".log-table")
    expect(table.locator("tbody.log-entry")).to_have_count(8)
    expect(table.locator("tbody.log-entry").first).to_contain_text("PATCH")
    expect(table).to_contain_text("user disabled")
    expect(table).to_contain_text("test connection")
    expect(table).to_contain_text("+3 more")
    conflict = table.locator("tbody.log-entry-error", has_text="409")
    expect(conflict).to_contain_text("uniqueness")
    expect(conflict.get_by_role("link", name="Step 5: Keep only four mappings")).to_be_visible()
    refused = table.locator("tbody.log-entry-error", has_text="401")
    expect(refused.get_by_role("link", name="Step 4: Connect Entra")).to_be_visible()
    assert admin_server.token not in page.content()
    shoot(page, "log-01-requests")

    page.get_by_label("Status").select_option("errors")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(
        f"{admin_server.url}/log/?status=errors&method=&resource=&time=&from=&to="
    )
    expect(table.locator("tbody.log-entry")).to_have_count(3)
    expect(page.get_by_text("Showing: Errors (400 and up)")).to_be_visible()
    shoot(page, "log-02-errors")

    refused.get_by_role("link", name="Step 4: Connect Entra").click()
    expect(page).to_have_url(admin_server.url + "/setup/connect")

    # A token rotation on the SCIM tab shows among the admin actions, its secret nowhere.
    page.goto(admin_server.url + "/sso/scim/tokens/new")
    page.get_by_label("Name").fill("entra-2025")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator(".copyable.secret").inner_text().strip()
    assert secret.startswith("uwz_")
    page.goto(admin_server.url + "/log/")
    page.get_by_role("link", name="Admin actions").click()
    expect(page).to_have_url(admin_server.url + "/log/audit")
    expect(page.locator(".log-audit-table")).to_contain_text("Token created")
    expect(page.locator(".log-audit-table")).to_contain_text("breakglass")
    assert secret not in page.content()
    shoot(page, "log-03-audit")
