"""Single sign-on against a real OpenID Connect provider (pytest-iam's Canaille server).

Every test runs the whole authorization code flow: the app's redirect to the
provider, the provider's answer to the callback, the app's token request to
the provider over HTTP and the ID token's validation against its JWKS.
"""

import pytest
from apps import add_local
from apps import sign_in
from flask_login import current_user
from oidc_provider import REDIRECT_URI
from oidc_provider import authorize
from oidc_provider import callback_path
from oidc_provider import configure
from oidc_provider import issuer
from oidc_provider import provider_user
from oidc_provider import query
from oidc_provider import register_client
from oidc_provider import stored
from sqlalchemy import select

from unleash_wizard.auth import oidc
from unleash_wizard.extensions import db
from unleash_wizard.help.screenshots import free_port
from unleash_wizard.store import accounts
from unleash_wizard.store import settings
from unleash_wizard.store.models import AuditEvent
from unleash_wizard.store.models import User


@pytest.fixture
def sso_app(app, admin, iam_server, rp):
    """Return the app with a break-glass admin and single sign-on configured and on."""
    configure(app, iam_server, rp)
    return app


@pytest.fixture
def person(iam_server):
    return provider_user(iam_server, user_name="adele", email="adele@contoso.example")


def provision(scim, user_name: str, external_id: str, **extra) -> dict:
    """Create a user through /scim/v2, as Entra's provisioning does, and return it."""
    response = scim.post(
        "/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "externalId": external_id,
            "displayName": "Adele from SCIM",
            "emails": [{"value": f"{user_name}@contoso.example", "type": "work", "primary": True}],
            **extra,
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def start(client, path: str = "/login/sso") -> str:
    """Start single sign-on and return the provider's authorization URL."""
    response = client.get(path)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def sso(client, iam_server, user, consent: bool = True):
    """Run the whole flow for user and return the app's answer to the callback."""
    url = start(client)
    return client.get(callback_path(authorize(iam_server, user, url, consent)))


def signed_in_as(client) -> str | None:
    """Return the id of the user the client's session belongs to, or None."""
    with client.application.test_request_context():
        with client.session_transaction() as session:
            return session.get("_user_id")


def test_matches_the_user_scim_provisioned_by_its_object_id(
    sso_app, client, scim, iam_server, person
):
    # Entra provisions first; its externalId is the object id the ID token carries.
    created = provision(scim, "adele@contoso.example", person.id)
    version_before = created["meta"]["version"]

    response = sso(client, iam_server, person)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_as(client) == created["id"]
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert "Signed in as <strong>Adele from SCIM</strong>" in page.get_data(as_text=True)
    # Signing in wrote nothing SCIM manages.
    after = scim.get(f"/scim/v2/Users/{created['id']}").get_json()
    assert after["meta"]["version"] == version_before
    assert after["displayName"] == "Adele from SCIM"
    with sso_app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "account.sso_sign_in" in actions
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 2


def test_the_request_to_the_provider_uses_pkce_state_and_nonce(sso_app, client):
    params = query(start(client))
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) >= 43
    assert params["state"] and params["nonce"]
    assert params["redirect_uri"] == REDIRECT_URI
    assert set(params["scope"].split()) == {"openid", "profile", "email"}


def test_an_unknown_person_is_refused_and_nothing_is_created(sso_app, client, iam_server, person):
    response = sso(client, iam_server, person)

    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "have an account here yet" in text
    assert "assign the person to the app in Entra" in text
    assert signed_in_as(client) is None
    with sso_app.app_context():
        assert db.session.scalar(select(User).where(User.external_id == person.id)) is None
    assert stored(sso_app, oidc.LAST_ERROR)["code"] == "unknown_user"


def test_creating_users_is_a_setting_and_the_user_is_the_one_scim_adopts(
    app, admin, client, scim, iam_server, rp, person
):
    configure(app, iam_server, rp, create_users=True)

    response = sso(client, iam_server, person)

    assert response.status_code == 302
    user_id = signed_in_as(client)
    resource = scim.get(f"/scim/v2/Users/{user_id}").get_json()
    assert resource["externalId"] == person.id
    assert resource["userName"] == "adele"  # preferred_username: Canaille's display name
    # Entra's lookup before its POST finds this user: no second account.
    found = scim.get(f'/scim/v2/Users?filter=externalId eq "{person.id}"').get_json()
    assert found["totalResults"] == 1
    # A second sign-in finds the same user.
    client.post("/logout")
    sso(client, iam_server, person)
    assert signed_in_as(client) == user_id
    with app.app_context():
        user = db.session.get(User, user_id)
        assert accounts.role_of(db.session, user) == accounts.VIEWER


def test_a_disabled_user_cannot_sign_in(sso_app, client, scim, iam_server, person):
    created = provision(scim, "adele@contoso.example", person.id, active=False)

    response = sso(client, iam_server, person)

    assert response.status_code == 403
    assert "disabled" in response.get_data(as_text=True)
    assert signed_in_as(client) is None
    assert created["active"] is False


def test_disabling_a_signed_in_user_ends_the_session(sso_app, client, scim, iam_server, person):
    created = provision(scim, "adele@contoso.example", person.id)
    sso(client, iam_server, person)
    assert client.get("/", follow_redirects=False).status_code == 200

    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert scim.patch(f"/scim/v2/Users/{created['id']}", json=patch).status_code == 200

    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_admin_group_makes_an_sso_user_an_admin(sso_app, client, scim, iam_server, person):
    created = provision(scim, "adele@contoso.example", person.id)
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Wizard Admins",
        "members": [{"value": created["id"]}],
    }
    assert scim.post("/scim/v2/Groups", json=group).status_code == 201

    sso(client, iam_server, person)
    assert client.get("/sso/scim").status_code == 403  # a Viewer until the group counts

    with sso_app.app_context():
        settings.put(db.session, accounts.ADMIN_GROUP, "Wizard Admins")
        db.session.commit()
    assert client.get("/sso/scim").status_code == 200


def test_an_id_token_for_another_audience_is_refused(app, admin, client, scim, iam_server, person):
    other = register_client(iam_server, "https://elsewhere.example/callback")
    # The provider issues this client's ID tokens to the other application only.
    rp = register_client(iam_server, REDIRECT_URI, audience=[other])
    configure(app, iam_server, rp)
    provision(scim, "adele@contoso.example", person.id)

    response = sso(client, iam_server, person)

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "issued to another application" in text
    assert rp.client_id in text
    assert signed_in_as(client) is None


def test_a_tampered_state_is_refused(sso_app, client, scim, iam_server, person):
    provision(scim, "adele@contoso.example", person.id)
    url = start(client)
    callback = callback_path(authorize(iam_server, person, url))
    state = query(callback)["state"]

    response = client.get(callback.replace(state, state[:-2] + "xx"))

    assert response.status_code == 400
    assert "already used or has expired" in response.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_a_replayed_answer_is_refused(sso_app, client, app, scim, iam_server, person):
    provision(scim, "adele@contoso.example", person.id)
    url = start(client)
    callback = callback_path(authorize(iam_server, person, url))
    assert client.get(callback).status_code == 302
    client.post("/logout")

    replay = app.test_client()
    response = replay.get(callback)
    again = client.get(callback)

    assert response.status_code == 400
    assert again.status_code == 400
    assert signed_in_as(replay) is None
    assert signed_in_as(client) is None


def test_denied_consent_says_so(sso_app, client, iam_server, person):
    url = start(client)
    iam_server.login(person)
    try:
        # The provider's consent page, answered with "deny".
        page = iam_server.test_client.get(url.removeprefix(issuer(iam_server)))
        assert page.status_code == 200
        answer = iam_server.test_client.post(
            url.removeprefix(issuer(iam_server)), data={"answer": "deny"}
        )
    finally:
        iam_server.logout()
    assert answer.status_code == 302
    assert query(answer.headers["Location"])["error"] == "access_denied"

    response = client.get(callback_path(answer.headers["Location"]))

    assert response.status_code == 403
    assert "consent was denied" in response.get_data(as_text=True)


def test_a_wrong_client_secret_is_named(app, admin, client, iam_server, rp, scim, person):
    configure(app, iam_server, rp, client_secret="not-the-secret")
    provision(scim, "adele@contoso.example", person.id)

    response = sso(client, iam_server, person)

    assert response.status_code == 502
    text = response.get_data(as_text=True)
    assert "refused this app&#39;s client credentials" in text
    assert "not-the-secret" not in text
    assert signed_in_as(client) is None


def test_a_wrong_issuer_is_named(app, admin, client, iam_server, rp):
    # The same provider reached by another name announces its own issuer.
    wrong = issuer(iam_server).replace("localhost", "127.0.0.1")
    configure(app, iam_server, rp, issuer=wrong)

    response = client.get("/login/sso")

    assert response.status_code == 502
    text = response.get_data(as_text=True)
    assert "does not match the provider" in text
    assert issuer(iam_server) in text


def test_provider_down_leaves_password_sign_in_working(app, admin, client, iam_server, rp):
    configure(app, iam_server, rp, issuer=f"http://127.0.0.1:{free_port()}")

    response = client.get("/login/sso")

    assert response.status_code == 502
    assert "could not be reached" in response.get_data(as_text=True)
    assert sign_in(client, "admin").status_code == 302
    assert client.get("/sso/oidc").status_code == 200


def test_a_local_admin_is_never_taken_over(app, admin, client, iam_server, rp):
    configure(app, iam_server, rp, match_by_name=True, create_users=True)
    namesake = provider_user(iam_server, user_name="admin", email="admin@contoso.example")

    response = sso(client, iam_server, namesake)

    assert response.status_code == 403
    assert "Local accounts sign in with their password only" in response.get_data(as_text=True)
    assert signed_in_as(client) is None
    with app.app_context():
        assert accounts.count_local_admins(db.session) == 1
        assert db.session.scalar(select(User).where(User.external_id == namesake.id)) is None


def test_matching_by_name_is_a_setting(app, admin, client, scim, iam_server, rp, person):
    # Provisioned without an externalId: only the username can match.
    response = scim.post(
        "/scim/v2/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "adele"},
    )
    user_id = response.get_json()["id"]
    configure(app, iam_server, rp)
    assert sso(client, iam_server, person).status_code == 403

    configure(app, iam_server, rp, match_by_name=True)
    assert sso(client, iam_server, person).status_code == 302
    assert signed_in_as(client) == user_id


def test_a_namesake_with_another_identity_is_refused(
    app, admin, client, scim, iam_server, rp, person
):
    provision(scim, "adele", "some-other-object-id")
    configure(app, iam_server, rp, match_by_name=True)

    response = sso(client, iam_server, person)

    assert response.status_code == 403
    assert "belongs to another identity" in response.get_data(as_text=True)


def test_sign_in_is_not_offered_while_off(app, admin, client, iam_server, rp):
    configure(app, iam_server, rp, enabled=False)

    assert "Sign in with SSO" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/sso").status_code == 404

    configure(app, iam_server, rp, enabled=True)
    assert "Sign in with SSO" in client.get("/login").get_data(as_text=True)


def test_sign_in_returns_to_the_page_asked_for(sso_app, client, scim, iam_server, person):
    provision(scim, "adele@contoso.example", person.id)
    url = start(client, "/login/sso?next=/directory/users")
    response = client.get(callback_path(authorize(iam_server, person, url)))
    assert response.headers["Location"] == "/directory/users"


def test_the_current_user_helper_is_the_sso_user(sso_app, client, scim, iam_server, person):
    created = provision(scim, "adele@contoso.example", person.id)
    sso(client, iam_server, person)
    with client:
        client.get("/")
        assert current_user.id == created["id"]
        assert current_user.scim_managed


def test_a_second_local_admin_still_signs_in_with_a_password_while_sso_is_on(sso_app, client):
    add_local(sso_app, "second")
    assert sign_in(client, "second").status_code == 302
