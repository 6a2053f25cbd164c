"""With CSRF on, as in production, the wizard's forms need their token."""

import pytest
from apps import PASSWORD
from apps import add_local
from apps import csrf_token
from wizard_helpers import get_setting
from wizard_helpers import put_setting
from wizard_helpers import text

from unleash_wizard.store.models import utcnow
from unleash_wizard.wizard import checks


@pytest.fixture
def admin_client(csrf_app):
    add_local(csrf_app, "admin")
    # Steps 1 and 2 done, so the pages of steps 3 and 5 open.
    put_setting(csrf_app, "scim_tab_seen_at", utcnow().isoformat())
    client = csrf_app.test_client()
    token = csrf_token(text(client.get("/login")))
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    return client


@pytest.mark.parametrize(
    ("page", "action", "data", "setting"),
    [
        ("/setup/lockout", "/setup/lockout/admin-group", {"group": "Admins"}, "admin_group"),
        ("/setup/lockout", "/setup/entra-app/confirm", {}, checks.ENTRA_APP_CONFIRMED_AT),
        ("/setup/lockout", "/setup/mappings/recheck", {}, checks.MAPPING_CHECK_SINCE),
    ],
)
def test_wizard_forms_without_a_csrf_token_are_refused(
    csrf_app, admin_client, page, action, data, setting
):
    response = admin_client.post(action, data=data)

    assert response.status_code == 400
    assert "Form not accepted" in text(response)
    assert get_setting(csrf_app, setting) is None

    token = csrf_token(text(admin_client.get(page)))
    response = admin_client.post(action, data={**data, "csrf_token": token})

    assert response.status_code == 302
    assert get_setting(csrf_app, setting) is not None
