"""The support view in a real browser after real SCIM traffic, and its download.

gunicorn serves the app; Entra is played by an HTTP client with the live
server's token, sending a test connection, users with extra mappings, a legacy
PATCH, a duplicate (409) and a request with a wrong token (401). The browser
reads the page, then downloads the diagnostics through its download event, and
the file is searched for every secret the server holds.
"""

import hashlib
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import add_breakglass
from e2e_helpers import entra_user
from e2e_helpers import shoot
from live import LiveServer
from live import run_live_server
from playwright.sync_api import Page
from playwright.sync_api import expect

# What tests/live.py gives gunicorn as its SECRET_KEY.
LIVE_SECRET_KEY = "live-server-secret-key"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def support_server(db_url) -> Iterator[tuple[LiveServer, str]]:
    """Serve an instance with SCIM on, a token and a local admin; yield it and the password hash."""
    with run_live_server(db_url, workers=2) as server:
        yield server, add_breakglass(db_url)


def send_entra_traffic(server: LiveServer) -> None:
    """Send what Entra sends on a first cycle with default mappings, failures included."""
    with server.client(params={"aadOptscim062020": ""}, timeout=30) as entra:
        for endpoint, attribute in (("/Users", "userName"), ("/Groups", "displayName")):
            found = entra.get(endpoint, params={"filter": f'{attribute} eq "{uuid.uuid4()}"'})
            assert found.status_code == 200 and found.json()["totalResults"] == 0
        alice = entra.post(
            "/Users",
            json=entra_user(
                "alice@contoso.example",
                "alice.smith@mail.contoso.example",
                title="Engineer",
                schemas=[USER, ENTERPRISE],
                **{ENTERPRISE: {"department": "R&D"}},
            ),
        )
        assert alice.status_code == 201, alice.text
        bob = entra.post("/Users", json=entra_user("bob@contoso.example"))
        assert bob.status_code == 201, bob.text
        group = entra.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering",
                "members": [{"value": alice.json()["id"]}, {"value": bob.json()["id"]}],
            },
        )
        assert group.status_code == 201, group.text
        legacy = entra.patch(
            f"/Users/{bob.json()['id']}",
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
        assert legacy.status_code == 200, legacy.text
        duplicate = entra.post("/Users", json=entra_user("bob@contoso.example"))
        assert duplicate.status_code == 409
    wrong = httpx.get(
        server.scim_url + "/Users",
        headers={**server.headers, "Authorization": "Bearer uwz_not-the-right-one"},
    )
    assert wrong.status_code == 401


def test_support_view_and_download_after_real_traffic(page: Page, support_server, tmp_path):
    server, password_hash = support_server
    url = server.url
    send_entra_traffic(server)

    page.goto(url + "/login")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Support").click()
    expect(page).to_have_url(url + "/support/")

    summary = page.locator(".support-summary")
    expect(summary).to_contain_text("need attention")
    expect(summary.get_by_role("link", name="Go to step 5")).to_be_visible()
    expect(page.locator("#scim")).to_contain_text("On")
    expect(page.locator("#support-tenant-url")).to_have_text(url + "/scim/v2?aadOptscim062020")
    expect(page.locator("#tokens")).to_contain_text("entra-live")
    expect(page.locator("#last-request")).to_contain_text("401 error")
    expect(page.locator("#test-connection")).to_contain_text("Seen")
    expect(page.locator("#flag")).to_contain_text("Off")
    mappings = page.locator("#mappings")
    expect(mappings).to_contain_text("title")
    expect(mappings).to_contain_text("enterprise: department")
    expect(mappings).to_contain_text("alice.smith@mail.contoso.example")
    expect(page.locator("#counts")).to_contain_text("SCIM users")
    errors = page.locator("#errors")
    expect(errors).to_contain_text("409")
    expect(errors).to_contain_text("What to do")
    steps = page.locator(".support-step")
    expect(steps).to_have_count(7)
    for number in range(7):
        expect(steps.nth(number).locator(".support-step-number")).to_have_text(str(number))
    shoot(page, "support-01-view")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "support-02-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert server.token not in page.content()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download diagnostics").click()
    download = download_info.value
    assert download.suggested_filename.startswith("unleash-wizard-diagnostics-")
    assert download.suggested_filename.endswith("Z.json")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    text = path.read_text(encoding="utf-8")

    for secret in (
        server.token,
        hashlib.sha256(server.token.encode()).hexdigest(),
        ADMIN_PASSWORD,
        password_hash,
        LIVE_SECRET_KEY,
        server.db_url,
    ):
        assert secret not in text
    report = json.loads(text)
    assert report["schema"] == "unleash-wizard-diagnostics/1"
    assert report["scim"]["state"] == "on"
    assert report["test_connection"]["seen"] is True
    assert report["flag"]["mode"] == "off"
    assert report["last_request"]["status"] == 401
    assert [extra["name"] for extra in report["mappings"]["extra_attributes"]] == [
        "enterprise: department",
        "title",
    ]
    # The page's example names stay on the page.
    assert "alice" not in text and "bob@" not in text
