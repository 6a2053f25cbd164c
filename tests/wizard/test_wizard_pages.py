"""The wizard's pages: the overview, one page per step, live fragments and the forms."""

import re

import pytest
from apps import add_local
from apps import sign_in
from sqlalchemy import select
from wizard_helpers import ENTERPRISE
from wizard_helpers import USER
from wizard_helpers import create_group
from wizard_helpers import create_user
from wizard_helpers import get_setting
from wizard_helpers import lookup
from wizard_helpers import patch
from wizard_helpers import put_setting
from wizard_helpers import send_test_connection
from wizard_helpers import status
from wizard_helpers import text

from unleash_wizard.extensions import db
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import utcnow
from unleash_wizard.wizard import checks

TENANT_URL = "https://wizard.example.com/scim/v2?aadOptscim062020"
SLUGS = ["lockout", "scim-tab", "enable", "entra-app", "connect", "mappings", "provision"]


def badges(page: str) -> list[str]:
    """Return the state badge of each step in the overview's list, in order."""
    steps_list = page.split('<ol class="wizard-steps', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'class="wizard-badge wizard-badge-(\w+)"', steps_list)


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def open_scim_tab(app):
    put_setting(app, "scim_tab_seen_at", utcnow().isoformat())


def finish_setup(app, scim):
    open_scim_tab(app)
    send_test_connection(scim)
    lookup(scim, "alice@contoso.example")
    alice = create_user(scim, "alice@contoso.example")
    create_group(scim, "Engineering", [alice])


# ---------------------------------------------------------------------------
# Who may see the wizard
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/setup/",
        "/setup/live",
        "/setup/live/flag",
        "/setup/connect",
        "/setup/connect/live",
        "/setup/connect/live/steps",
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, admin, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/setup/"),
        ("GET", "/setup/lockout"),
        ("GET", "/setup/mappings/live"),
        ("POST", "/setup/lockout/admin-group"),
        ("POST", "/setup/entra-app/confirm"),
        ("POST", "/setup/mappings/recheck"),
    ],
)
def test_viewers_get_403_and_change_nothing(app, client, viewer, method, path):
    sign_in(client, "viewer")

    response = client.open(path, method=method, data={"group": "Everyone"})

    assert response.status_code == 403
    assert "This page is for Admins" in text(response)
    assert get_setting(app, "admin_group") is None
    assert get_setting(app, checks.ENTRA_APP_CONFIRMED_AT) is None
    assert get_setting(app, checks.MAPPING_CHECK_SINCE) is None


# ---------------------------------------------------------------------------
# The overview
# ---------------------------------------------------------------------------


def test_overview_shows_every_step_and_where_the_admin_is(signed_in):
    page = text(signed_in.get("/setup/"))

    assert badges(page) == ["done"] + ["waiting"] * 6
    assert "1 of 7</strong> steps done" in page
    current = page.split("is-current", 1)[1].split("</li>", 1)[0]
    assert "Find the SCIM settings" in current and "You're here" in current
    assert page.count("You're here") == 1
    assert 'href="/setup/scim-tab">Continue with step 1' in page
    assert 'href="/setup/connect"' not in page, "steps ahead are not links yet"
    assert '<script src="/static/js/live.js" defer></script>' in page
    assert 'data-live-src="/setup/live"' in page


def test_overview_reflects_traffic_and_problems(app, client, signed_in, scim):
    open_scim_tab(app)
    send_test_connection(scim)
    create_user(scim, "alice@contoso.example", title="Engineer")

    page = text(signed_in.get("/setup/"))

    # Step 6 counts the test connection as a lookup and alice as a create.
    assert badges(page) == ["done", "done", "done", "done", "done", "problem", "done"]
    assert "Needs attention" in page
    assert "6 of 7</strong> steps done" in page
    assert "Continue with step 5: Keep only four mappings" in page


def test_overview_says_all_set_once_every_step_is_done(app, signed_in, scim):
    finish_setup(app, scim)

    page = text(signed_in.get("/setup/"))

    assert badges(page) == ["done"] * 7
    assert "You're all set" in page
    assert "You're here" not in page
    assert get_setting(app, checks.SETUP_COMPLETED_AT) is not None
    assert "wizard.complete" in audit_actions(app)


# ---------------------------------------------------------------------------
# / leads to the wizard until setup is complete
# ---------------------------------------------------------------------------


def test_home_leads_an_admin_to_the_wizard_while_setup_is_unfinished(signed_in):
    response = signed_in.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/"


def test_sign_in_lands_on_the_wizard(client, admin):
    response = sign_in(client, "admin")

    assert client.get(response.headers["Location"], follow_redirects=True).request.path == "/setup/"


def test_home_shows_the_overview_to_a_viewer(client, viewer):
    sign_in(client, "viewer")

    assert client.get("/").status_code == 200


def test_home_shows_the_overview_once_setup_was_complete(app, signed_in, scim):
    finish_setup(app, scim)

    response = signed_in.get("/")

    assert response.status_code == 200
    assert "SCIM API URL" in text(response)
    # A later error does not send the admin back to the wizard.
    scim.get("/scim/v2/Users/00000000-0000-0000-0000-000000000000")
    assert status(app, 6).state == checks.PROBLEM
    assert signed_in.get("/").status_code == 200


# ---------------------------------------------------------------------------
# Step pages
# ---------------------------------------------------------------------------


def test_a_step_ahead_of_the_first_unfinished_one_redirects_back(signed_in):
    response = signed_in.get("/setup/connect")

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/scim-tab"
    page = text(signed_in.get("/setup/scim-tab"))
    assert "Step 4 opens once this one is done." in page


def test_a_done_step_can_be_viewed_even_ahead(app, signed_in, scim_token):
    assert status(app, 1).state == checks.WAITING

    response = signed_in.get("/setup/enable")

    assert response.status_code == 200
    assert "SCIM is on, with 1 live token." in text(response)


def test_a_step_needing_attention_can_be_viewed_even_ahead(app, client, signed_in, scim_token):
    client.get("/scim/v2/Users", headers={"Authorization": "Bearer wrong"})

    response = signed_in.get("/setup/connect")

    assert response.status_code == 200
    assert "Needs attention" in text(response)


def test_an_unknown_step_is_404(signed_in):
    assert signed_in.get("/setup/nope").status_code == 404
    assert signed_in.get("/setup/nope/live").status_code == 404


def test_every_step_page_renders_once_setup_is_done(app, signed_in, scim):
    finish_setup(app, scim)

    for number, slug in enumerate(SLUGS):
        response = signed_in.get(f"/setup/{slug}")
        assert response.status_code == 200, slug
        page = text(response)
        assert f"Step {number} ·" in page
        assert f'data-live-src="/setup/{slug}/live"' in page
        assert "<script>" not in page and "style=" not in page, "no inline script or style"


def test_step_0_shows_admins_the_group_setting_and_recovery_commands(app, signed_in):
    add_local(app, "rescue")

    page = text(signed_in.get("/setup/lockout"))

    assert "admin, rescue" in page
    assert 'name="group"' in page and 'list="admin-group-options"' in page
    for command in (
        "flask admin create USERNAME",
        "flask admin reset-password USERNAME",
        "flask scim disable",
    ):
        assert command in page
    assert "None: every SCIM user is a Viewer." in page


def test_step_1_links_the_scim_tab_and_shows_the_url(app, signed_in):
    page = text(signed_in.get("/setup/scim-tab"))

    assert "https://wizard.example.com/scim/v2</code>" in page
    assert 'data-copy-target="scim-url"' in page
    if "sso.scim" in app.view_functions:
        assert 'href="/sso/scim"' in page


def test_opening_the_scim_tab_completes_step_1(app, signed_in):
    if "sso.scim" not in app.view_functions:
        pytest.skip("the Single Sign-On section is not there")

    assert signed_in.get("/sso/scim").status_code == 200

    assert status(app, 1).state == checks.DONE


def test_step_4_shows_the_tenant_url_with_the_flag(app, signed_in, scim):
    open_scim_tab(app)
    put_setting(app, checks.ENTRA_APP_CONFIRMED_AT, utcnow().isoformat())

    page = text(signed_in.get("/setup/connect"))

    assert f'id="tenant-url" aria-labelledby="tenant-url-label">{TENANT_URL}</code>' in page
    assert "Waiting for Entra&#39;s test connection." in page


def test_step_4_page_reports_a_bad_token_without_showing_any_token(
    app, client, signed_in, scim, scim_token
):
    open_scim_tab(app)
    send_test_connection(scim)
    other = "uwz_this-is-the-token-Entra-has"
    client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {other}"})
    client.get("/scim/v2/Groups", headers={"Authorization": f"Bearer {other}"})

    page = text(signed_in.get("/setup/connect"))

    assert "Entra is sending a token this app doesn&#39;t know" in page
    assert "paste the token from step 2 again, or add a new one".lower() in page.lower()
    assert "2 requests with a bad token" in page
    assert other not in page and scim_token not in page
    assert scim_token[:12] not in page


def test_step_5_page_names_the_mappings_to_remove(app, signed_in, scim):
    open_scim_tab(app)
    send_test_connection(scim)
    create_user(
        scim,
        "alice@contoso.example",
        email="alice.smith@contoso.example",
        title="Engineer",
        schemas=[USER, ENTERPRISE],
        **{ENTERPRISE: {"department": "Sales"}},
    )

    page = text(signed_in.get("/setup/mappings"))

    assert "Remove these mappings in Entra" in page
    assert "<code>title</code>" in page and "<code>enterprise: department</code>" in page
    assert "1 of 1" in page
    assert "<td>alice@contoso.example</td>" in page
    assert "from <code>userPrincipalName</code>" in page
    assert "<code>alice.smith@contoso.example</code>" in page


def test_step_6_page_shows_counts_and_errors_with_hints(app, signed_in, scim):
    finish_setup(app, scim)
    add_local(app, "ops")
    scim.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": "ops", "emails": [{"type": "work", "value": "ops"}]},
    )

    page = text(signed_in.get("/setup/provision"))

    assert "<dt>Users created</dt><dd>1</dd>" in page
    assert "<dt>Groups created</dt><dd>1</dd>" in page
    assert "Errors, by cause" in page
    assert "A local account has this userName." in page
    if "directory.users" in app.view_functions:
        assert 'href="/directory/users">Open the directory</a>' in page


# ---------------------------------------------------------------------------
# Live fragments
# ---------------------------------------------------------------------------


def test_live_fragment_returns_the_status_panel_alone(app, signed_in, scim):
    open_scim_tab(app)
    put_setting(app, checks.ENTRA_APP_CONFIRMED_AT, utcnow().isoformat())
    before = signed_in.get("/setup/connect/live")
    assert "Waiting for Entra" in text(before)

    send_test_connection(scim)
    response = signed_in.get("/setup/connect/live")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    fragment = text(response)
    assert "<html" not in fragment and "<body" not in fragment
    assert 'wizard-badge-done">Done' in fragment
    assert "Entra&#39;s test connection reached this app." in fragment
    assert 'href="/setup/mappings"' in fragment, "the way on to the next step"


def test_live_steps_fragment_lists_the_steps_beside_a_step_page(app, signed_in, scim_token):
    page = text(signed_in.get("/setup/scim-tab"))
    assert 'data-live-src="/setup/scim-tab/live/steps"' in page
    open_scim_tab(app)

    fragment = text(signed_in.get("/setup/scim-tab/live/steps"))

    assert "<html" not in fragment
    assert badges(fragment) == ["done", "done", "done"] + ["waiting"] * 4
    assert 'aria-current="step">Find the SCIM settings' in fragment
    current = fragment.split("is-current", 1)[1].split("</li>", 1)[0]
    assert "Open provisioning in Entra" in current and "You're here" in current


def test_live_overview_fragment_lists_the_steps(signed_in):
    fragment = text(signed_in.get("/setup/live"))

    assert "<html" not in fragment
    assert badges(fragment) == ["done"] + ["waiting"] * 6


# ---------------------------------------------------------------------------
# The compliance flag banner
# ---------------------------------------------------------------------------


def test_a_legacy_patch_puts_the_flag_banner_on_every_wizard_page(app, signed_in, scim):
    alice = create_user(scim, "alice@contoso.example")
    patch(scim, f"/scim/v2/Users/{alice}", {"op": "Replace", "path": "active", "value": "False"})

    for path in ("/setup/", "/setup/lockout", "/setup/enable", "/setup/live/flag"):
        page = text(signed_in.get(path))
        assert "compliance flag seems to be off" in page, path
        assert f'id="flag-tenant-url">{TENANT_URL}</code>' in page
        assert (
            "If you just used Provision on demand, ignore this: on-demand provisioning "
            "always sends the old format." in page
        )


def test_a_compliant_patch_after_a_legacy_one_says_the_flag_is_on(app, signed_in, scim):
    alice = create_user(scim, "alice@contoso.example")
    patch(scim, f"/scim/v2/Users/{alice}", {"op": "Replace", "path": "active", "value": "False"})
    patch(scim, f"/scim/v2/Users/{alice}", {"op": "replace", "path": "active", "value": True})

    page = text(signed_in.get("/setup/"))

    assert "compliance flag seems to be off" not in page
    assert "The compliance flag is on" in page
    assert "Provision on demand" in page


def test_no_banner_without_legacy_patches(app, signed_in, scim):
    alice = create_user(scim, "alice@contoso.example")
    patch(scim, f"/scim/v2/Users/{alice}", {"op": "replace", "path": "active", "value": True})

    assert text(signed_in.get("/setup/live/flag")).strip() == ""


# ---------------------------------------------------------------------------
# Forms
# ---------------------------------------------------------------------------


def test_step_3_confirmation_completes_the_step_and_moves_on(app, signed_in):
    open_scim_tab(app)
    put_setting(app, "scim_enabled", True)
    with app.app_context():
        from unleash_wizard.store import tokens

        tokens.issue(db.session, "entra")
        db.session.commit()
    page = text(signed_in.get("/setup/entra-app"))
    assert "I'm on the Provisioning page" in page

    response = signed_in.post("/setup/entra-app/confirm")

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/connect"
    assert status(app, 3).details["by"] == "admin"
    assert "wizard.entra_app" in audit_actions(app)
    page = text(signed_in.get("/setup/connect"))
    assert "Great. Now connect Entra to this app." in page


def test_check_again_from_now_restarts_the_mapping_check(app, signed_in, scim):
    create_user(scim, "alice@contoso.example", title="Engineer")
    assert status(app, 5).state == checks.PROBLEM

    response = signed_in.post("/setup/mappings/recheck")

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/mappings"
    assert get_setting(app, checks.MAPPING_CHECK_SINCE) is not None
    assert status(app, 5).state == checks.WAITING
    assert "wizard.mapping_recheck" in audit_actions(app)

    create_user(scim, "bob@contoso.example")
    assert status(app, 5).state == checks.DONE


def test_admin_group_form_saves_the_group_and_records_it(app, signed_in, scim):
    alice = create_user(scim, "alice@contoso.example")
    create_group(scim, "Unleash Admins", [alice])

    response = signed_in.post("/setup/lockout/admin-group", data={"group": "  Unleash Admins "})

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/lockout"
    assert get_setting(app, "admin_group") == "Unleash Admins"
    assert "wizard.admin_group" in audit_actions(app)
    page = text(signed_in.get("/setup/lockout"))
    assert "Members of the SCIM group &#39;Unleash Admins&#39; are Admins now." in page
    assert "“Unleash Admins”, 1 member" in page
    assert '<option value="Unleash Admins">' in page


def test_admin_group_can_name_a_group_entra_creates_later_and_be_cleared(app, signed_in):
    signed_in.post("/setup/lockout/admin-group", data={"group": "Future Admins"})
    assert get_setting(app, "admin_group") == "Future Admins"
    page = text(signed_in.get("/setup/lockout"))
    assert "once Entra creates that group" in page
    assert "not provisioned yet" in page

    signed_in.post("/setup/lockout/admin-group", data={"group": ""})

    assert get_setting(app, "admin_group") is None
    assert "every SCIM user is a Viewer" in text(signed_in.get("/setup/lockout"))


def test_admin_group_form_refuses_a_too_long_name(app, signed_in):
    response = signed_in.post("/setup/lockout/admin-group", data={"group": "x" * 256})

    assert response.status_code == 200
    assert "at most 255 characters" in text(response)
    assert get_setting(app, "admin_group") is None


def test_group_names_with_markup_are_shown_as_text(app, signed_in, scim):
    create_group(scim, '<img src=x onerror="alert(1)">')

    page = text(signed_in.get("/setup/lockout"))

    # The page has pictures of its own (help/); the group's markup must not be one.
    assert "<img src=x" not in page and 'onerror="alert(1)"' not in page
    assert "&lt;img src=x onerror=" in page
