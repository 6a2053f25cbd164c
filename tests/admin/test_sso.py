"""Single Sign-On > SCIM tab: URLs, the switch, tokens shown once, rotation, danger zone."""

import json
import re

import pytest
from apps import csrf_token
from sqlalchemy import select

from unleash_wizard import auth
from unleash_wizard.extensions import db
from unleash_wizard.scim.resources import GROUP
from unleash_wizard.scim.resources import USER
from unleash_wizard.store import accounts
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import Membership
from unleash_wizard.store.models import ScimToken
from unleash_wizard.store.models import Setting
from unleash_wizard.store.models import User
from unleash_wizard.store.models import UserEmail

PASSWORD = "Correct horse battery 9"
SCIM_URL = "https://wizard.example.com/scim/v2"
TENANT_URL = SCIM_URL + "?aadOptscim062020"
SCIM_JSON = "application/scim+json"
SECRET = re.compile(r"uwz_[A-Za-z0-9_-]{43}")
ONCE = "You won't see this token again. Paste it into Entra's Secret Token field now."


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


def add_local(app, user_name: str, role: str = accounts.ADMIN) -> str:
    with app.app_context():
        user = accounts.create_local_user(db.session, user_name, PASSWORD, role)
        db.session.commit()
        return user.id


def sign_in(client, user_name: str, **data):
    response = client.post("/login", data={"username": user_name, "password": PASSWORD, **data})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def admin(app) -> str:
    return add_local(app, "admin")


@pytest.fixture
def signed_in(client, admin):
    sign_in(client, "admin")
    return client


def secret_in(response) -> str:
    found = SECRET.findall(response.get_data(as_text=True))
    assert len(set(found)) == 1, found
    return found[0]


def switch_on(client):
    return client.post("/sso/scim/toggle", data={"state": "on"})


def switch_off(client):
    return client.post("/sso/scim/toggle", data={"state": "off"})


def scim_get(client, secret: str, path: str):
    return client.get(path, headers={"Authorization": f"Bearer {secret}", "Accept": SCIM_JSON})


def scim_post(client, secret: str, path: str, body: dict):
    return client.post(
        path,
        data=json.dumps(body),
        headers={
            "Authorization": f"Bearer {secret}",
            "Accept": SCIM_JSON,
            "Content-Type": SCIM_JSON,
        },
    )


def create_scim_user(client, secret: str, user_name: str) -> str:
    body = {
        "schemas": [USER],
        "userName": user_name,
        "emails": [{"value": user_name, "type": "work", "primary": True}],
    }
    response = scim_post(client, secret, "/scim/v2/Users", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def create_scim_group(client, secret: str, name: str, member_ids: list[str]) -> str:
    body = {
        "schemas": [GROUP],
        "displayName": name,
        "members": [{"value": member} for member in member_ids],
    }
    response = scim_post(client, secret, "/scim/v2/Groups", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def audit_trail(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.detail or "") for row in rows]


def token_rows(app) -> list[tuple[str, str, bool]]:
    """Return (name, token_hash, revoked) of every token, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(ScimToken).order_by(ScimToken.id))
        return [(row.name, row.token_hash, row.revoked_at is not None) for row in rows]


def scim_is_on(app) -> bool:
    with app.app_context():
        return settings.scim_enabled(db.session)


def enabled_with_token(client) -> str:
    """Switch SCIM on from the page and return the first token's secret."""
    response = switch_on(client)
    assert response.status_code == 200
    return secret_in(response)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def test_scim_tab_shows_the_scim_url_and_the_tenant_url_with_copy_buttons(signed_in):
    response = signed_in.get("/sso/scim")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<code class="copyable" id="scim-url">{SCIM_URL}</code>' in page
    assert f'<code class="copyable" id="tenant-url">{TENANT_URL}</code>' in page
    assert 'data-copy-target="scim-url" hidden>Copy</button>' in page
    assert 'data-copy-target="tenant-url" hidden>Copy</button>' in page
    assert "compliance flag" in page
    assert "Never switched on" in page
    assert "Switch SCIM on" in page
    assert ">OIDC</a>" in page and 'aria-current="page">SCIM</a>' in page


def test_scim_tab_is_in_the_main_menu_and_marked_current(signed_in):
    page = signed_in.get("/sso/oidc").get_data(as_text=True)

    assert '<a href="/sso/scim" aria-current="page">Single Sign-On</a>' in page


def test_pages_have_no_inline_script_or_style(signed_in):
    pages = [
        signed_in.get(path).get_data(as_text=True)
        for path in ("/sso/scim", "/sso/oidc", "/sso/scim/tokens/new", "/sso/scim/delete-users")
    ]
    pages.append(switch_on(signed_in).get_data(as_text=True))

    for page in pages:
        assert "style=" not in page
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert not re.search(r"\son[a-z]+=", page)


def test_opening_the_scim_tab_records_it_once(app, signed_in):
    with app.app_context():
        assert settings.get(db.session, settings.SCIM_TAB_SEEN_AT) is None

    signed_in.get("/sso/scim")
    with app.app_context():
        first = settings.get(db.session, settings.SCIM_TAB_SEEN_AT)
    signed_in.get("/sso/scim")
    with app.app_context():
        again = settings.get(db.session, settings.SCIM_TAB_SEEN_AT)

    assert settings.SCIM_TAB_SEEN_AT == "scim_tab_seen_at"
    assert first is not None and again == first
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first)


def test_oidc_tab_starts_not_set_up_with_the_redirect_uri_to_register(signed_in):
    response = signed_in.get("/sso/oidc")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Not set up" in page
    assert 'aria-current="page">OIDC</a>' in page
    callback = "https://wizard.example.com/login/sso/callback"
    assert f'<code class="copyable" id="redirect-uri">{callback}' in page
    assert 'data-copy-target="redirect-uri"' in page
    assert 'name="issuer"' in page and 'name="client_secret" type="password"' in page
    assert signed_in.get("/sso/").headers["Location"] == "/sso/scim"


# ---------------------------------------------------------------------------
# Who may use it
# ---------------------------------------------------------------------------

ADMIN_PAGES = [
    ("GET", "/sso/scim"),
    ("GET", "/sso/oidc"),
    ("POST", "/sso/oidc"),
    ("POST", "/sso/oidc/test"),
    ("GET", "/sso/scim/tokens/new"),
    ("GET", "/sso/scim/tokens/1/replace"),
    ("GET", "/sso/scim/tokens/1/revoke"),
    ("GET", "/sso/scim/delete-users"),
    ("POST", "/sso/scim/toggle"),
    ("POST", "/sso/scim/tokens/new"),
    ("POST", "/sso/scim/tokens/1/replace"),
    ("POST", "/sso/scim/tokens/1/revoke"),
    ("POST", "/sso/scim/delete-users"),
    ("POST", "/sso/scim/delete-groups"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_viewer_gets_403_and_changes_nothing(app, client, admin, method, path):
    with app.app_context():
        tokens.issue(db.session, "Entra")
        db.session.commit()
    add_local(app, "viewer", role=accounts.VIEWER)
    sign_in(client, "viewer")
    data = {"state": "on", "name": "x", "confirmation": "delete 0 users"}

    response = client.open(path, method=method, data=data if method == "POST" else None)

    assert response.status_code == 403
    assert "This page is for Admins" in response.get_data(as_text=True)
    assert not scim_is_on(app)
    assert token_rows(app) == [("Entra", token_rows(app)[0][1], False)]
    assert audit_trail(app) == []
    with app.app_context():
        assert settings.get(db.session, settings.SCIM_TAB_SEEN_AT) is None


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(app, client, admin, method, path):
    response = client.open(path, method=method, data={"state": "on"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert not scim_is_on(app)
    assert token_rows(app) == []


def test_viewer_does_not_see_the_section_in_the_menu_but_the_403_page(client, app, admin):
    add_local(app, "viewer", role=accounts.VIEWER)
    sign_in(client, "viewer")

    assert client.get("/sso/scim").status_code == 403


# ---------------------------------------------------------------------------
# Switching on and pausing
# ---------------------------------------------------------------------------


def test_switching_on_creates_a_token_shown_once_and_stores_only_its_hash(app, signed_in):
    response = switch_on(signed_in)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = secret_in(response)
    assert ONCE in page
    assert f'<code class="copyable secret" id="new-token-secret">{secret}</code>' in page
    assert 'data-copy-target="new-token-secret" hidden>Copy</button>' in page
    assert "Pause provisioning" in page

    assert scim_is_on(app)
    ((name, token_hash, revoked),) = token_rows(app)
    assert (name, revoked) == ("Entra", False)
    assert token_hash == tokens.hash_token(secret)
    with app.app_context():
        assert settings.get(db.session, settings.SCIM_ENABLED_AT)
        stored = [json.dumps(row.value) for row in db.session.scalars(select(Setting))]
    assert not any(secret in value for value in stored)
    assert not any(secret in detail for _, _, detail in audit_trail(app))
    assert [action for _, action, _ in audit_trail(app)] == ["token.create", "scim.enable"]
    assert {actor for actor, _, _ in audit_trail(app)} == {"admin"}

    # Nowhere later: not on the page, not in the session, not in a redirect.
    with signed_in.session_transaction() as session:
        assert secret not in json.dumps(dict(session), default=str)
    for path in ("/sso/scim", "/", "/sso/scim/tokens/new"):
        later = signed_in.get(path, follow_redirects=True)
        assert later.status_code == 200
        assert secret not in later.get_data(as_text=True)
        assert not SECRET.search(later.get_data(as_text=True))
        assert ONCE not in later.get_data(as_text=True)

    # And it is the token Entra needs.
    assert scim_get(signed_in, secret, "/scim/v2/Users").status_code == 200


def test_status_reads_on_then_paused_and_the_page_lists_the_token(signed_in):
    switch_on(signed_in)

    page = signed_in.get("/sso/scim").get_data(as_text=True)
    assert '<strong class="status status-on">On</strong>' in page
    assert re.search(r"<code>uwz_[A-Za-z0-9_-]{4}…</code>", page)
    assert "never" in page and "no expiry" in page
    assert '<span class="status status-live">live</span>' in page

    response = switch_off(signed_in)
    assert response.status_code == 302
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert '<strong class="status status-paused">Paused</strong>' in page
    assert "Tokens, users and groups are kept" in page
    assert "Switch SCIM on" in page


def test_pause_keeps_tokens_and_data_and_scim_answers_403(app, signed_in):
    secret = enabled_with_token(signed_in)
    user_id = create_scim_user(signed_in, secret, "alice@example.com")

    response = switch_off(signed_in)

    assert response.status_code == 302
    assert not scim_is_on(app)
    paused = scim_get(signed_in, secret, f"/scim/v2/Users/{user_id}")
    assert paused.status_code == 403
    assert paused.headers["Content-Type"].startswith(SCIM_JSON)
    assert [(name, revoked) for name, _, revoked in token_rows(app)] == [("Entra", False)]
    with app.app_context():
        assert db.session.get(User, user_id).deleted_at is None

    # Switching on again resumes with the same token, and shows no secret.
    again = switch_on(signed_in)
    assert again.status_code == 302
    assert not SECRET.search(signed_in.get("/sso/scim").get_data(as_text=True))
    assert len(token_rows(app)) == 1
    assert scim_get(signed_in, secret, f"/scim/v2/Users/{user_id}").status_code == 200
    assert [action for _, action, _ in audit_trail(app)] == [
        "token.create",
        "scim.enable",
        "scim.disable",
        "scim.enable",
    ]


def test_switching_on_while_on_changes_nothing(app, signed_in):
    switch_on(signed_in)
    with app.app_context():
        enabled_at = settings.get(db.session, settings.SCIM_ENABLED_AT)

    response = switch_on(signed_in)

    assert response.status_code == 302
    assert len(token_rows(app)) == 1
    with app.app_context():
        assert settings.get(db.session, settings.SCIM_ENABLED_AT) == enabled_at
    assert audit_trail(app)[-1][1:] == ("scim.enable", "already on")


def test_switching_on_with_only_revoked_tokens_creates_entra_2(app, signed_in):
    with app.app_context():
        tokens.issue(db.session, "Entra")
        tokens.revoke(db.session, "Entra")
        db.session.commit()

    response = switch_on(signed_in)

    assert response.status_code == 200
    secret = secret_in(response)
    assert "New token “Entra 2”" in response.get_data(as_text=True)
    assert token_rows(app)[-1] == ("Entra 2", tokens.hash_token(secret), False)


def test_switching_on_sets_enabled_at_again_after_a_pause(app, signed_in):
    switch_on(signed_in)
    with app.app_context():
        first = settings.get(db.session, settings.SCIM_ENABLED_AT)
    switch_off(signed_in)
    switch_on(signed_in)
    with app.app_context():
        again = settings.get(db.session, settings.SCIM_ENABLED_AT)

    assert again > first


def test_switching_on_without_a_local_admin_with_password_is_refused(app, client, admin):
    sign_in(client, "admin")
    with app.app_context():
        db.session.get(User, admin).password_hash = None
        db.session.commit()

    # The first-run gate comes first: with no break-glass admin, it takes over.
    response = switch_on(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/first-run"
    assert not scim_is_on(app)
    assert token_rows(app) == []

    # Without that gate the switch refuses on its own, and says why.
    app.before_request_funcs[None].remove(auth.require_first_admin)
    response = switch_on(client)

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "SCIM stays off: no local Admin can sign in with a password." in page
    assert "Never switched on" in page
    assert not scim_is_on(app)
    assert token_rows(app) == []
    assert audit_trail(app)[-1] == (
        "admin",
        "scim.enable",
        "refused: no local admin can sign in with a password",
    )


def test_a_toggle_without_a_state_changes_nothing(app, signed_in):
    response = signed_in.post("/sso/scim/toggle", data={"state": "flip"})

    assert response.status_code == 302
    assert not scim_is_on(app)
    assert token_rows(app) == []


# ---------------------------------------------------------------------------
# Tokens: add, replace, revoke
# ---------------------------------------------------------------------------


def test_add_token_shows_its_secret_once_and_both_tokens_work(app, signed_in):
    first = enabled_with_token(signed_in)
    form = signed_in.get("/sso/scim/tokens/new").get_data(as_text=True)
    assert 'value="Entra 2"' in form

    response = signed_in.post(
        "/sso/scim/tokens/new", data={"name": "Rotation", "expires_days": "30"}
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = secret_in(response)
    assert ONCE in response.get_data(as_text=True)
    assert token_rows(app)[-1] == ("Rotation", tokens.hash_token(second), False)
    assert second not in signed_in.get("/sso/scim").get_data(as_text=True)
    for secret in (first, second):
        assert scim_get(signed_in, secret, "/scim/v2/Users").status_code == 200
    page = signed_in.get("/sso/scim").get_data(as_text=True)
    assert page.count('<span class="status status-live">live</span>') == 2
    with app.app_context():
        token = db.session.scalar(select(ScimToken).where(ScimToken.name == "Rotation"))
        expires = tokens.aware(token.expires_at)
    assert expires.strftime("%Y-%m-%d %H:%M UTC") in page
    assert audit_trail(app)[-1][1] == "token.create"
    assert "Rotation" in audit_trail(app)[-1][2] and second not in audit_trail(app)[-1][2]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "", "expires_days": ""}, "Give the token a name."),
        ({"name": "x", "expires_days": "0"}, "Enter a number of days from 1 to 3650"),
        ({"name": "x", "expires_days": "3651"}, "Enter a number of days from 1 to 3650"),
        ({"name": "x", "expires_days": "soon"}, "Not a valid integer value."),
        ({"name": "Entra", "expires_days": ""}, "A token called &#39;Entra&#39; already exists."),
    ],
)
def test_add_token_refuses_bad_input_and_creates_nothing(app, signed_in, data, error):
    enabled_with_token(signed_in)

    response = signed_in.post("/sso/scim/tokens/new", data=data)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error in page
    assert 'class="field-errors"' in page
    assert not SECRET.search(page)
    assert [name for name, _, _ in token_rows(app)] == ["Entra"]


def test_revoked_token_is_refused_at_once_and_the_other_still_works(app, signed_in):
    old = enabled_with_token(signed_in)
    new = secret_in(signed_in.post("/sso/scim/tokens/new", data={"name": "Entra 2"}))
    old_id = 1

    confirm = signed_in.get(f"/sso/scim/tokens/{old_id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke “Entra”?" in confirm.get_data(as_text=True)
    assert not token_rows(app)[0][2], "GET changes nothing"

    response = signed_in.post(f"/sso/scim/tokens/{old_id}/revoke")

    assert response.status_code == 302
    assert response.headers["Location"] == "/sso/scim"
    assert scim_get(signed_in, old, "/scim/v2/Users").status_code == 401
    assert scim_get(signed_in, new, "/scim/v2/Users").status_code == 200
    page = signed_in.get("/sso/scim").get_data(as_text=True)
    assert "Token &#39;Entra&#39; revoked" in page
    assert '<span class="status status-revoked">revoked</span>' in page
    assert audit_trail(app)[-1] == ("admin", "token.revoke", f"token 'Entra' (prefix {old[:8]})")


def test_revoking_the_last_live_token_warns_first(signed_in):
    enabled_with_token(signed_in)

    page = signed_in.get("/sso/scim/tokens/1/revoke").get_data(as_text=True)

    assert "It is the only live token" in page


def test_generate_new_token_replaces_the_old_one_in_one_step(app, signed_in):
    old = enabled_with_token(signed_in)

    confirm = signed_in.get("/sso/scim/tokens/1/replace").get_data(as_text=True)
    assert "stops\n    working at once" in confirm or "stops working at once" in confirm
    assert 'value="Entra 2"' in confirm
    assert not token_rows(app)[0][2], "GET changes nothing"

    response = signed_in.post("/sso/scim/tokens/1/replace", data={"name": "Entra 2"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new = secret_in(response)
    assert new != old
    assert ONCE in response.get_data(as_text=True)
    assert [(name, revoked) for name, _, revoked in token_rows(app)] == [
        ("Entra", True),
        ("Entra 2", False),
    ]
    assert scim_get(signed_in, old, "/scim/v2/Users").status_code == 401
    assert scim_get(signed_in, new, "/scim/v2/Users").status_code == 200
    assert [action for _, action, _ in audit_trail(app)][-2:] == ["token.create", "token.revoke"]
    assert not any(new in detail or old in detail for _, _, detail in audit_trail(app))

    # Sending the form again makes no third token.
    again = signed_in.post("/sso/scim/tokens/1/replace", data={"name": "Entra 3"})
    assert again.status_code == 302
    assert len(token_rows(app)) == 2


def test_generate_new_token_with_a_taken_name_revokes_nothing(app, signed_in):
    old = enabled_with_token(signed_in)
    signed_in.post("/sso/scim/tokens/new", data={"name": "Spare"})

    response = signed_in.post("/sso/scim/tokens/1/replace", data={"name": "Spare"})

    assert response.status_code == 200
    assert "A token called &#39;Spare&#39; already exists." in response.get_data(as_text=True)
    assert [(name, revoked) for name, _, revoked in token_rows(app)] == [
        ("Entra", False),
        ("Spare", False),
    ]
    assert scim_get(signed_in, old, "/scim/v2/Users").status_code == 200


def test_unknown_token_is_404(signed_in):
    assert signed_in.get("/sso/scim/tokens/99/revoke").status_code == 404
    assert signed_in.post("/sso/scim/tokens/99/replace", data={"name": "x"}).status_code == 404


# ---------------------------------------------------------------------------
# Danger zone
# ---------------------------------------------------------------------------


@pytest.fixture
def provisioned(app, signed_in) -> dict:
    """SCIM on with two SCIM users in a SCIM group; return their ids and the token."""
    secret = enabled_with_token(signed_in)
    users = [create_scim_user(signed_in, secret, f"u{n}@example.com") for n in (1, 2)]
    group = create_scim_group(signed_in, secret, "Staff", users)
    return {"secret": secret, "users": users, "group": group}


def test_delete_all_users_page_shows_the_count_and_the_words_to_type(provisioned, signed_in):
    page = signed_in.get("/sso/scim/delete-users").get_data(as_text=True)

    assert "<strong>2</strong> users" in page
    assert "Type “delete 2 users” to confirm." in page
    assert "Entra may add them back" in page
    assert "2 SCIM users" in signed_in.get("/sso/scim").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["", "delete 3 users", "delete all users", "yes"])
def test_delete_all_users_with_the_wrong_words_deletes_nothing(app, provisioned, signed_in, typed):
    response = signed_in.post("/sso/scim/delete-users", data={"confirmation": typed})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="field-errors"' in page
    with app.app_context():
        live = db.session.scalars(select(User.id).where(User.deleted_at.is_(None))).all()
    assert len(live) == 3
    secret = provisioned["secret"]
    for user_id in provisioned["users"]:
        assert scim_get(signed_in, secret, f"/scim/v2/Users/{user_id}").status_code == 200
    assert not any(action.startswith("scim.delete") for _, action, _ in audit_trail(app))


def test_delete_all_users_removes_only_scim_users(app, provisioned, signed_in, admin):
    viewer = add_local(app, "viewer", role=accounts.VIEWER)
    secret = provisioned["secret"]

    response = signed_in.post("/sso/scim/delete-users", data={"confirmation": " Delete  2 USERS "})

    assert response.status_code == 302
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Deleted 2 users." in page
    assert "0 SCIM users" in page
    for user_id in provisioned["users"]:
        assert scim_get(signed_in, secret, f"/scim/v2/Users/{user_id}").status_code == 404
    listed = scim_get(signed_in, secret, "/scim/v2/Users").get_json()
    assert listed["totalResults"] == 0
    group = scim_get(signed_in, secret, f"/scim/v2/Groups/{provisioned['group']}")
    assert group.status_code == 200
    assert "members" not in group.get_json()
    assert group.get_json()["meta"]["version"] == 'W/"2"'
    with app.app_context():
        for local in (admin, viewer):
            user = db.session.get(User, local)
            assert user.deleted_at is None and user.active and user.password_hash
        assert db.session.scalars(select(Membership)).all() == []
        assert db.session.scalars(select(UserEmail)).all() == []
        assert accounts.has_local_admin(db.session)
    # The admin is still signed in, and the userNames are free again.
    assert signed_in.get("/sso/scim").status_code == 200
    create_scim_user(signed_in, secret, "u1@example.com")
    assert audit_trail(app)[-1] == ("admin", "scim.delete-all-users", "2 users deleted")


def test_delete_all_groups_removes_groups_and_keeps_users(app, provisioned, signed_in):
    secret = provisioned["secret"]
    page = signed_in.get("/sso/scim/delete-groups").get_data(as_text=True)
    assert "Type “delete 1 group” to confirm." in page

    wrong = signed_in.post("/sso/scim/delete-groups", data={"confirmation": "delete 1 groups"})
    assert wrong.status_code == 200
    assert scim_get(signed_in, secret, f"/scim/v2/Groups/{provisioned['group']}").status_code == 200

    response = signed_in.post("/sso/scim/delete-groups", data={"confirmation": "delete 1 group"})

    assert response.status_code == 302
    assert scim_get(signed_in, secret, f"/scim/v2/Groups/{provisioned['group']}").status_code == 404
    for user_id in provisioned["users"]:
        assert scim_get(signed_in, secret, f"/scim/v2/Users/{user_id}").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Membership)).all() == []
    # The name is free again.
    create_scim_group(signed_in, secret, "Staff", [])
    assert audit_trail(app)[-1] == ("admin", "scim.delete-all-groups", "1 group deleted")


def test_delete_all_with_nothing_to_delete_says_so(app, signed_in):
    page = signed_in.get("/sso/scim/delete-users").get_data(as_text=True)
    assert "There are no SCIM users to delete." in page

    response = signed_in.post("/sso/scim/delete-users", data={"confirmation": "delete 0 users"})

    assert response.status_code == 302
    assert audit_trail(app) == []


# ---------------------------------------------------------------------------
# CSRF
# ---------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app, admin):
    """Return a client signed in with CSRF checks on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    sign_in(client, "admin", csrf_token=token)
    return client


def test_toggle_without_a_csrf_token_is_refused(app, csrf_client):
    response = csrf_client.post("/sso/scim/toggle", data={"state": "on"})

    assert response.status_code == 400
    assert not scim_is_on(app)
    assert token_rows(app) == []

    token = csrf_token(csrf_client.get("/sso/scim").get_data(as_text=True))
    response = csrf_client.post("/sso/scim/toggle", data={"state": "on", "csrf_token": token})
    assert response.status_code == 200
    assert scim_is_on(app)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sso/scim/tokens/new", {"name": "x"}),
        ("/sso/scim/tokens/1/replace", {"name": "x"}),
        ("/sso/scim/tokens/1/revoke", {}),
        ("/sso/scim/delete-users", {"confirmation": "delete 0 users"}),
    ],
)
def test_other_forms_without_a_csrf_token_are_refused(app, csrf_client, path, data):
    with app.app_context():
        tokens.issue(db.session, "Entra")
        db.session.commit()

    assert csrf_client.post(path, data=data).status_code == 400
    assert [(name, revoked) for name, _, revoked in token_rows(app)] == [("Entra", False)]
    assert audit_trail(app) == []
