"""Single sign-on in a real browser: an admin sets up OIDC, tests it, and a person signs in.

The app runs under gunicorn; the provider is pytest-iam's Canaille server. The
browser goes to the provider and back as a person would; the provider is told
who is signed in there (its own login page is not what is under test) and
shows its real consent page, which the browser accepts.
"""

from collections.abc import Iterator

import httpx
import pytest
from e2e_helpers import ADMIN_PASSWORD
from e2e_helpers import shoot
from live import LiveServer
from live import run_live_server
from oidc_provider import issuer
from oidc_provider import provider_user
from oidc_provider import register_client
from playwright.sync_api import Page
from playwright.sync_api import expect


@pytest.fixture
def live_server(db_url) -> Iterator[LiveServer]:
    """Serve a first start with SCIM on and a token: no admin yet, no single sign-on."""
    with run_live_server(db_url, workers=2) as server:
        yield server


def first_admin(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create admin").click()
    expect(page.locator(".who")).to_contain_text("breakglass")


def test_an_admin_sets_up_sso_and_a_provisioned_person_signs_in(
    page: Page, live_server, iam_server
):
    server = live_server
    rp = register_client(iam_server, server.url + "/login/sso/callback")
    person = provider_user(iam_server, user_name="lidia", email="lidia@contoso.example")
    first_admin(page, server.url)

    # The OIDC tab: the redirect URI to register, then the provider's details.
    page.goto(server.url + "/sso/oidc")
    expect(page.locator("#redirect-uri")).to_have_text(server.url + "/login/sso/callback")
    page.get_by_label("Issuer URL").fill(issuer(iam_server))
    page.get_by_label("Client ID").fill(rp.client_id)
    page.get_by_label("Client secret").fill(rp.client_secret)
    page.get_by_label("Identity claim").fill("sub")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("OIDC settings saved")
    expect(page.get_by_label("Client secret")).to_have_value("")
    assert rp.client_secret not in page.content()
    shoot(page, "sso-01-oidc-tab-saved")

    # Entra provisions the person, with the object id as externalId.
    response = httpx.post(
        server.scim_url + "/Users",
        headers=server.headers,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "lidia@contoso.example",
            "displayName": "Lidia Holloway",
            "externalId": person.id,
        },
    )
    assert response.status_code == 201, response.text

    # The test sign-in: through the provider's consent page and back.
    iam_server.login(person)
    try:
        page.get_by_role("button", name="Run a test sign-in").click()
        page.locator('button[name="answer"][value="accept"]').click()
        expect(page.locator("#sso-test-match")).to_contain_text(
            "This identity signs in as lidia@contoso.example (Viewer)."
        )
        expect(page.locator("#claims")).to_contain_text(person.id)
        expect(page.locator(".who")).to_contain_text("breakglass")
        shoot(page, "sso-02-test-sign-in")

        # Switch sign-in on; sign out; the sign-in page now offers SSO.
        page.goto(server.url + "/sso/oidc")
        expect(page.locator("#oidc-last-test")).to_contain_text("worked")
        page.get_by_label('Offer "Sign in with SSO" on the sign-in page').check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".status-line")).to_contain_text("On")
        page.get_by_role("button", name="Sign out").click()
        shoot(page, "sso-03-sign-in-page")
        page.get_by_role("link", name="Sign in with SSO").click()
    finally:
        iam_server.logout()

    expect(page.locator(".who")).to_contain_text("Lidia Holloway")
    shoot(page, "sso-04-signed-in")


def test_a_person_nobody_provisioned_sees_what_to_do(page: Page, live_server, iam_server):
    server = live_server
    rp = register_client(iam_server, server.url + "/login/sso/callback")
    stranger = provider_user(iam_server, user_name="stranger")
    first_admin(page, server.url)
    page.goto(server.url + "/sso/oidc")
    page.get_by_label("Issuer URL").fill(issuer(iam_server))
    page.get_by_label("Client ID").fill(rp.client_id)
    page.get_by_label("Client secret").fill(rp.client_secret)
    page.get_by_label("Identity claim").fill("sub")
    page.get_by_label('Offer "Sign in with SSO" on the sign-in page').check()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Sign out").click()

    iam_server.login(stranger)
    iam_server.consent(stranger)
    try:
        page.get_by_role("link", name="Sign in with SSO").click()
        expect(page.locator("h1")).to_have_text("You don't have an account here yet")
    finally:
        iam_server.logout()
    expect(page.locator("#sso-error-fix")).to_contain_text("assign the person to the app in Entra")
    shoot(page, "sso-05-unknown-person")
    # The break-glass admin still signs in with a password.
    page.get_by_role("link", name="Sign in with a password").click()
    page.get_by_label("Username").fill("breakglass")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".who")).to_contain_text("breakglass")
