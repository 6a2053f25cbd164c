"""Single Sign-On > OIDC: saving the provider, the sealed client secret, the test sign-in."""

import json

import pytest
from apps import add_local
from apps import sign_in
from oidc_provider import authorize
from oidc_provider import callback_path
from oidc_provider import configure
from oidc_provider import issuer
from oidc_provider import provider_user
from oidc_provider import stored
from sqlalchemy import select

from unleash_wizard.admin import diagnostics
from unleash_wizard.auth import oidc
from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import free_port
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import Setting


def form(iam_server, rp, **changes) -> dict:
    data = {
        "issuer": issuer(iam_server),
        "client_id": rp.client_id,
        "client_secret": rp.client_secret,
        "scopes": "openid profile email",
        "identity_claim": "sub",
        "enabled": "y",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def raw_settings(app) -> str:
    """Return every stored setting as text, as a database dump would show it."""
    with app.app_context():
        rows = db.session.execute(select(Setting.key, Setting.value)).all()
        return json.dumps([list(row) for row in rows])


def test_saving_checks_the_provider_and_seals_the_secret(app, signed_in, iam_server, rp):
    response = signed_in.post("/sso/oidc", data=form(iam_server, rp))

    assert response.status_code == 302
    page = signed_in.get("/sso/oidc").get_data(as_text=True)
    assert "OIDC settings saved" in page
    assert "A secret is saved; it is never shown again." in page
    assert rp.client_secret not in page
    assert rp.client_secret not in raw_settings(app)
    with app.app_context():
        config = oidc.load(db.session)
        assert config.client_secret == rp.client_secret
        assert config.usable and config.identity_claim == "sub"
        trail = db.session.scalars(select(AuditEvent.detail)).all()
    assert any(rp.client_id in detail for detail in trail)
    assert not any(rp.client_secret in detail for detail in trail)
    assert "Sign in with SSO" in signed_in.application.test_client().get("/login").get_data(
        as_text=True
    )


def test_an_empty_secret_keeps_the_saved_one_and_a_new_one_replaces_it(
    app, signed_in, iam_server, rp
):
    signed_in.post("/sso/oidc", data=form(iam_server, rp))

    assert (
        signed_in.post("/sso/oidc", data=form(iam_server, rp, client_secret="")).status_code == 302
    )
    with app.app_context():
        assert oidc.load(db.session).client_secret == rp.client_secret

    signed_in.post("/sso/oidc", data=form(iam_server, rp, client_secret="a-new-secret"))
    with app.app_context():
        assert oidc.load(db.session).client_secret == "a-new-secret"
        details = db.session.scalars(select(AuditEvent.detail)).all()
    assert any("client secret replaced" in detail for detail in details)


def test_the_first_save_needs_a_secret(app, signed_in, iam_server, rp):
    response = signed_in.post("/sso/oidc", data=form(iam_server, rp, client_secret=""))

    assert response.status_code == 400
    assert "Enter the client secret" in response.get_data(as_text=True)
    assert stored(app, oidc.SETTING) is None


@pytest.mark.parametrize(
    ("issuer_url", "message"),
    [
        ("http://login.example.com/tenant/v2.0", "https:// URL"),
        ("not a url", "https:// URL"),
        ("https://login.example.com/v2.0?x=1", "no ?query"),
    ],
)
def test_a_malformed_issuer_is_a_form_error(app, signed_in, iam_server, rp, issuer_url, message):
    response = signed_in.post("/sso/oidc", data=form(iam_server, rp, issuer=issuer_url))

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored(app, oidc.SETTING) is None


def test_an_unreachable_issuer_is_refused_and_nothing_is_saved(app, signed_in, iam_server, rp):
    down = f"http://127.0.0.1:{free_port()}"

    response = signed_in.post("/sso/oidc", data=form(iam_server, rp, issuer=down))

    assert response.status_code == 400
    assert "could not be reached" in response.get_data(as_text=True)
    assert stored(app, oidc.SETTING) is None


def test_an_issuer_the_provider_does_not_announce_is_refused(app, signed_in, iam_server, rp):
    wrong = issuer(iam_server).replace("localhost", "127.0.0.1")

    response = signed_in.post("/sso/oidc", data=form(iam_server, rp, issuer=wrong))

    assert response.status_code == 400
    assert "does not match the provider" in response.get_data(as_text=True)


def test_settings_from_the_deployment_are_read_only(app_with, iam_server, rp):
    app = app_with(
        OIDC_ISSUER=issuer(iam_server),
        OIDC_CLIENT_ID=rp.client_id,
        OIDC_CLIENT_SECRET=rp.client_secret,
        OIDC_IDENTITY_CLAIM="sub",
    )
    add_local(app, "admin")
    client = app.test_client()
    sign_in(client, "admin")

    page = client.get("/sso/oidc").get_data(as_text=True)
    assert "come from the deployment" in page and rp.client_id in page
    assert rp.client_secret not in page
    assert 'name="issuer"' not in page
    client.post("/sso/oidc", data=form(iam_server, rp, client_id="changed"))
    assert stored(app, oidc.SETTING) is None
    assert "Sign in with SSO" in app.test_client().get("/login").get_data(as_text=True)


def test_a_changed_secret_key_asks_for_the_secret_again(app_with, iam_server, rp):
    first = app_with()
    configure(first, iam_server, rp)
    with first.app_context():
        sealed = db.session.get(Setting, oidc.SETTING).value
    # app_with gives each app a fresh schema: copy the sealed settings across.
    second = app_with(SECRET_KEY="another-secret-key")
    add_local(second, "admin")
    with second.app_context():
        db.session.add(Setting(key=oidc.SETTING, value=sealed))
        db.session.commit()
    client = second.test_client()
    sign_in(client, "admin")

    page = client.get("/sso/oidc").get_data(as_text=True)
    assert "can no longer be read" in page
    assert "Sign in with SSO" not in second.test_client().get("/login").get_data(as_text=True)


def test_a_test_sign_in_shows_the_claims_and_the_match(app, signed_in, scim, iam_server, rp):
    person = provider_user(iam_server, user_name="megan", email="megan@contoso.example")
    created = scim.post(
        "/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "megan@contoso.example",
            "externalId": person.id,
        },
    ).get_json()
    configure(app, iam_server, rp, enabled=False)  # a test works before sign-in is on
    page = signed_in.get("/sso/oidc").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[-1].split('"')[0]

    start = signed_in.post("/sso/oidc/test", data={"csrf_token": token})
    assert start.status_code == 302
    result = signed_in.get(callback_path(authorize(iam_server, person, start.headers["Location"])))

    assert result.status_code == 200
    text = result.get_data(as_text=True)
    assert "This identity signs in as <strong>megan@contoso.example</strong> (Viewer)" in text
    assert f"<code>sub</code></th><td>{person.id}</td>" in text
    assert "megan@contoso.example" in text
    # The admin is still the admin.
    assert signed_in.get("/sso/scim").status_code == 200
    tab = signed_in.get("/sso/oidc").get_data(as_text=True)
    assert "Last test" in tab and "worked" in tab
    assert created["id"]


def test_a_test_sign_in_for_an_unknown_person_reports_the_refusal(app, signed_in, iam_server, rp):
    person = provider_user(iam_server)
    configure(app, iam_server, rp)
    page = signed_in.get("/sso/oidc").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[-1].split('"')[0]

    start = signed_in.post("/sso/oidc/test", data={"csrf_token": token})
    result = signed_in.get(callback_path(authorize(iam_server, person, start.headers["Location"])))

    assert result.status_code == 200
    assert "Sign-in would be refused" in result.get_data(as_text=True)
    assert stored(app, oidc.LAST_TEST)["ok"] is False


def test_a_test_sign_in_needs_saved_settings(signed_in):
    page = signed_in.get("/sso/oidc").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[-1].split('"')[0]

    response = signed_in.post("/sso/oidc/test", data={"csrf_token": token}, follow_redirects=True)

    assert "Save the issuer URL, client ID and client secret first" in response.get_data(
        as_text=True
    )


def test_the_callback_of_a_test_is_for_admins_only(app, client, admin, iam_server, rp):
    configure(app, iam_server, rp)
    with client.session_transaction() as session:
        session["sso_purpose"] = "test"

    response = client.get("/login/sso/callback?code=x&state=y")

    assert response.status_code == 403


def test_the_support_view_tells_the_sign_in_setup_without_the_secret(
    app, signed_in, client, iam_server, rp
):
    configure(app, iam_server, rp)
    with client.session_transaction() as session:
        session.pop("_user_id", None)
    client.get("/login/sso/callback?code=x&state=forged")  # a failed sign-in to report
    sign_in(client, "admin")

    page = client.get("/support/").get_data(as_text=True)
    download = client.get("/support/diagnostics.json")

    assert download.status_code == 200
    report = download.get_json()["sign_in"]
    assert report["state"] == "on"
    assert report["issuer"] == issuer(iam_server) and report["client_id"] == rp.client_id
    assert report["client_secret"] == "saved"
    assert report["last_error"]["code"] == "bad_state"
    assert "Single sign-on (OIDC)" in page and rp.client_id in page
    with app.app_context():
        sealed = db.session.get(Setting, oidc.SETTING).value["client_secret_sealed"]
    for text in (page, download.get_data(as_text=True)):
        assert rp.client_secret not in text
        assert sealed not in text


def test_the_diagnostics_guard_knows_the_client_secret(app, iam_server, rp):
    configure(app, iam_server, rp)
    with app.app_context():
        hidden = diagnostics.secrets_to_hide(db.session, app.config)
        leaked = diagnostics.leaked_secrets(f"oops {rp.client_secret}", hidden)

    assert leaked == ["the OIDC client secret"]
