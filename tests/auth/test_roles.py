"""Admin and Viewer: admin_required lets Admins in, shows Viewers a 403 page, signs in others."""

import pytest
from apps import PASSWORD
from apps import sign_in

from unleash_wizard.auth import admin_required

ADMIN_ONLY = "/admin-only-for-test"


@pytest.fixture
def admin_only(app) -> str:
    """Add a page only Admins may see (the admin pages come in a later slice)."""

    @admin_required
    def secret_page():
        return "the admin-only page"

    app.add_url_rule(ADMIN_ONLY, "admin_only_for_test", secret_page)
    return ADMIN_ONLY


def test_admin_sees_an_admin_only_page(admin_only, client, admin):
    sign_in(client, "admin")

    response = client.get(admin_only)

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "the admin-only page"


def test_viewer_gets_a_403_page_on_an_admin_only_page(admin_only, client, viewer):
    sign_in(client, "viewer")

    response = client.get(admin_only)

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This page is for Admins" in page
    assert "the admin-only page" not in page
    assert "Signed in as <strong>viewer</strong>" in page


def test_anonymous_visitor_is_sent_to_sign_in_from_an_admin_only_page(admin_only, client, admin):
    response = client.get(admin_only)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fadmin-only-for-test"


def test_viewer_signs_in_to_the_overview_as_viewer(client, viewer):
    sign_in(client, "viewer")

    page = client.get("/").get_data(as_text=True)

    assert "Signed in as <strong>viewer</strong>" in page
    assert "(Viewer)" in page


def test_viewer_signing_in_returns_to_the_page_asked_for_then_gets_403(admin_only, client, viewer):
    first = client.get(admin_only)
    response = client.post(
        first.headers["Location"],
        data={"username": "viewer", "password": PASSWORD},
    )

    assert response.headers["Location"] == admin_only
    assert client.get(admin_only).status_code == 403
