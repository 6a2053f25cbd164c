"""Sign-in, remember me, sign-out, sessions that end, and the failed sign-in limit."""

import pytest
from apps import PASSWORD
from apps import add_local
from apps import sign_in
from auth_helpers import OTHER_PASSWORD
from auth_helpers import add_scim_user
from auth_helpers import update_user

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import User
from unleash_wizard.store.models import utcnow

FAILED = "Wrong username or password."


def is_signed_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200 and "Signed in as" in response.get_data(as_text=True)


def test_login_page_shows_the_form(client, admin):
    response = client.get("/login")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page and 'name="remember"' in page
    assert 'autocomplete="current-password"' in page


def test_anonymous_home_goes_to_sign_in(client, admin):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F"


def test_sign_in_with_the_right_password_opens_the_overview(client, admin):
    response = sign_in(client, "admin")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Signed in as <strong>admin</strong>" in page
    assert "(Admin)" in page


def test_username_is_case_insensitive_and_trimmed(client, admin):
    assert sign_in(client, "  ADMIN ").status_code == 302
    assert is_signed_in(client)


def test_overview_shows_scim_url_and_counts(app, client, admin):
    add_scim_user(app, "alice@contoso.example")
    add_scim_user(app, "bob@contoso.example")
    sign_in(client, "admin")

    page = client.get("/").get_data(as_text=True)

    assert "https://wizard.example.com/scim/v2" in page
    assert "<dt>Users</dt><dd>2</dd>" in page
    assert "<dt>Groups</dt><dd>0</dd>" in page


def test_overview_builds_scim_url_from_the_request_without_public_url(app_with):
    app = app_with(PUBLIC_URL=None)
    add_local(app, "admin")
    client = app.test_client()
    sign_in(client, "admin", base_url="http://intranet.example:8080")

    page = client.get("/", base_url="http://intranet.example:8080").get_data(as_text=True)

    assert "http://intranet.example:8080/scim/v2" in page


@pytest.mark.parametrize(
    ("user_name", "password"),
    [("admin", OTHER_PASSWORD), ("admin", PASSWORD.lower()), ("nobody", PASSWORD), ("", "")],
)
def test_wrong_credentials_keep_the_visitor_out_with_one_message(
    client, admin, user_name, password
):
    response = sign_in(client, user_name, password)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if user_name:
        assert FAILED in page
    assert PASSWORD not in page, "the password is not sent back"
    assert not is_signed_in(client)


def test_scim_managed_user_cannot_sign_in_with_a_password(app, client, admin):
    user_id = add_scim_user(app, "alice@contoso.example")
    # Even a hash written by mistake does not make a SCIM user a password account.
    with app.app_context():
        user = db.session.get(User, user_id)
        accounts.set_password(user, PASSWORD)
        db.session.commit()

    response = sign_in(client, "alice@contoso.example")

    assert FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)


@pytest.mark.parametrize("change", [{"active": False}, {"deleted_at": "now"}])
def test_disabled_or_deleted_local_user_cannot_sign_in(app, client, admin, change):
    user_id = add_local(app, "bob")
    if "deleted_at" in change:
        change = {"deleted_at": utcnow()}
    update_user(app, user_id, **change)

    response = sign_in(client, "bob")

    assert FAILED in response.get_data(as_text=True)
    assert not is_signed_in(client)


@pytest.mark.parametrize("change", [{"active": False}, {"deleted_at": "now"}])
def test_session_ends_on_the_next_request_once_the_user_is_disabled(app, client, change):
    add_local(app, "admin")
    user_id = add_local(app, "bob")
    sign_in(client, "bob", remember=True)
    assert is_signed_in(client)
    if "deleted_at" in change:
        change = {"deleted_at": utcnow()}

    update_user(app, user_id, **change)

    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    # Nor does the remember-me cookie bring the session back.
    client.delete_cookie("session")
    assert client.get("/").status_code == 302


def test_sign_in_follows_a_next_path_on_this_site(client, admin):
    response = client.post(
        "/login?next=/some/page%3Fx%3D1", data={"username": "admin", "password": PASSWORD}
    )

    assert response.headers["Location"] == "/some/page?x=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil",
        "/\r\nSet-Cookie:x",
    ],
)
def test_sign_in_never_redirects_off_site(client, admin, target):
    response = client.post(
        "/login", query_string={"next": target}, data={"username": "admin", "password": PASSWORD}
    )

    assert response.headers["Location"] == "/"


def test_signed_in_user_visiting_login_goes_to_the_overview(client, admin):
    sign_in(client, "admin")

    response = client.get("/login")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_remember_me_sets_a_lasting_cookie(client, admin):
    response = sign_in(client, "admin", remember=True)

    cookies = response.headers.getlist("Set-Cookie")
    remember = [c for c in cookies if c.startswith("remember_token=")]
    assert remember, cookies
    assert "HttpOnly" in remember[0]
    assert "Expires=" in remember[0]
    # The session cookie alone going away does not sign the user out.
    client.delete_cookie("session")
    assert is_signed_in(client)


def test_without_remember_me_no_remember_cookie_is_set(client, admin):
    response = sign_in(client, "admin")

    cookies = response.headers.getlist("Set-Cookie")
    assert not [c for c in cookies if c.startswith("remember_token=")]
    client.delete_cookie("session")
    assert not is_signed_in(client)


def test_sign_out_needs_a_post(client, admin):
    sign_in(client, "admin")

    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)

    response = client.post("/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert "You are signed out." in client.get("/login").get_data(as_text=True)


def test_sign_out_forgets_remember_me(client, admin):
    sign_in(client, "admin", remember=True)

    client.post("/logout")

    assert client.get_cookie("remember_token") is None
    assert not is_signed_in(client)


def test_failed_sign_ins_are_limited_per_client_with_429(app_with):
    app = app_with(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    add_local(app, "admin")
    client = app.test_client()

    for _ in range(3):
        assert sign_in(client, "admin", OTHER_PASSWORD).status_code == 200

    limited = sign_in(client, "admin", OTHER_PASSWORD)
    assert limited.status_code == 429
    page = limited.get_data(as_text=True)
    assert "Too many failed sign-ins" in page
    assert 'name="username"' in page, "the sign-in page itself says why"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Not even the right password gets through while the limit holds.
    assert sign_in(client, "admin").status_code == 429
    assert not is_signed_in(client)
    # Another address is not affected, and showing the form is never limited.
    other = app.test_client()
    assert client.get("/login").status_code == 200
    assert sign_in(other, "admin", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 302


def test_successful_sign_ins_do_not_count_towards_the_limit(app_with):
    app = app_with(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
    add_local(app, "admin")
    client = app.test_client()

    for _ in range(5):
        assert sign_in(client, "admin").status_code == 302
        client.post("/logout")


def test_a_password_typed_as_the_username_never_reaches_the_log(client, admin, caplog):
    caplog.set_level("WARNING")

    sign_in(client, PASSWORD, PASSWORD)
    sign_in(client, "admin", OTHER_PASSWORD)

    messages = [record.getMessage() for record in caplog.records]
    assert any("Failed sign-in for an unknown username" in text for text in messages)
    assert any("Failed sign-in for 'admin'" in text for text in messages)
    assert not any(PASSWORD in text for text in messages)
