"""Bearer tokens, the SCIM switch and the provisioning log's secrecy on /scim/v2."""

from datetime import timedelta

import pytest
from flask import request
from scim_checks import SCIM_JSON
from scim_checks import assert_scim_error
from scim_checks import assert_scim_json
from scim_checks import create_group
from scim_checks import create_user
from scim_checks import empty_database
from scim_checks import own_app
from scim_checks import patch_body
from scim_checks import user_body
from sqlalchemy import select

from unleash_wizard.extensions import db
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import ProvisioningLog
from unleash_wizard.store.models import ScimToken
from unleash_wizard.store.models import utcnow


@pytest.fixture(scope="module")
def module_app(tmp_path_factory, database_url):
    with own_app(tmp_path_factory.mktemp("auth"), url=database_url) as (app, _):
        yield app


@pytest.fixture
def app(module_app):
    """This module's app, emptied: the conftest ``client`` and ``scim`` build on it."""
    empty_database(module_app)
    return module_app


def get_users(client, authorization: str | None):
    headers = {"Accept": SCIM_JSON}
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.get("/scim/v2/Users", headers=headers)


def assert_unauthorized(response) -> dict:
    body = assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def issue(app, name: str) -> str:
    with app.app_context():
        secret = tokens.issue(db.session, name).secret
        db.session.commit()
        return secret


def set_token(app, secret: str, **values) -> None:
    with app.app_context():
        token = tokens.find(db.session, secret)
        for key, value in values.items():
            setattr(token, key, value)
        db.session.commit()


def test_valid_token_is_accepted(client, scim_token):
    assert_scim_json(get_users(client, f"Bearer {scim_token}"))


def test_bearer_scheme_is_case_insensitive(client, scim_token):
    assert_scim_json(get_users(client, f"bearer {scim_token}"))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer uwz_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "Token abc",
    ],
)
def test_missing_or_unknown_token_is_401_with_www_authenticate(client, scim_token, authorization):
    assert_unauthorized(get_users(client, authorization))


def test_token_under_another_scheme_is_401(client, scim_token):
    assert_unauthorized(get_users(client, f"Basic {scim_token}"))


def test_unauthenticated_write_changes_nothing(app, client, scim_token, scim):
    response = client.post(
        "/scim/v2/Users",
        json=user_body("a@example.com"),
        headers={"Content-Type": SCIM_JSON, "Authorization": "Bearer wrong"},
    )

    assert_unauthorized(response)
    assert assert_scim_json(scim.get("/scim/v2/Users"))["totalResults"] == 0


def test_unknown_path_without_token_is_401_not_404(client, scim_token):
    assert_unauthorized(client.get("/scim/v2/Nope"))


def test_revoked_token_is_401(app, client, scim_token):
    set_token(app, scim_token, revoked_at=utcnow())

    body = assert_unauthorized(get_users(client, f"Bearer {scim_token}"))
    assert "revoked" in body["detail"]


def test_revoking_takes_effect_on_the_next_request(app, client, scim_token):
    assert_scim_json(get_users(client, f"Bearer {scim_token}"))
    with app.app_context():
        tokens.revoke(db.session, "entra")
        db.session.commit()

    assert_unauthorized(get_users(client, f"Bearer {scim_token}"))


def test_expired_token_is_401(app, client, scim_token):
    set_token(app, scim_token, expires_at=utcnow() - timedelta(minutes=1))

    body = assert_unauthorized(get_users(client, f"Bearer {scim_token}"))
    assert "expired" in body["detail"]


def test_token_with_future_expiry_is_accepted(app, client, scim_token):
    set_token(app, scim_token, expires_at=utcnow() + timedelta(days=1))

    assert_scim_json(get_users(client, f"Bearer {scim_token}"))


def test_second_token_keeps_working_when_the_first_is_revoked(app, client, scim_token):
    second = issue(app, "entra-rotated")
    set_token(app, scim_token, revoked_at=utcnow())

    assert_scim_json(get_users(client, f"Bearer {second}"))
    assert_unauthorized(get_users(client, f"Bearer {scim_token}"))


def test_scim_disabled_is_403_and_keeps_data_and_tokens(app, client, scim):
    user = create_user(scim, "a@example.com")
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, False)
        db.session.commit()

    listing = scim.get("/scim/v2/Users")
    write = scim.post("/scim/v2/Users", json=user_body("b@example.com"))

    assert_scim_error(listing, 403)
    assert_scim_error(write, 403)
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        db.session.commit()
    body = assert_scim_json(scim.get("/scim/v2/Users"))
    assert [r["id"] for r in body["Resources"]] == [user["id"]]


def test_scim_disabled_still_refuses_a_bad_token_with_401(app, client, scim_token):
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, False)
        db.session.commit()

    assert_unauthorized(get_users(client, "Bearer wrong"))


def test_request_sets_token_last_used_at(app, client, scim_token):
    with app.app_context():
        assert tokens.find(db.session, scim_token).last_used_at is None
    before = utcnow()

    assert_scim_json(get_users(client, f"Bearer {scim_token}"))

    with app.app_context():
        used = tokens.aware(tokens.find(db.session, scim_token).last_used_at)
        assert used is not None
        assert before - timedelta(seconds=1) <= used <= utcnow()


def test_bad_tokens_are_rate_limited_with_429(tmp_path, module_app, database_url):
    limits = {"RATELIMIT_ENABLED": True, "SCIM_BAD_TOKEN_LIMIT": "2 per minute"}
    with own_app(tmp_path, url=database_url, **limits) as (app, scim):
        client = app.test_client()
        environ = {"REMOTE_ADDR": "198.51.100.77"}

        responses = [
            client.get(
                "/scim/v2/Users", headers={"Authorization": "Bearer bad"}, environ_base=environ
            )
            for _ in range(3)
        ]

        assert [r.status_code for r in responses[:2]] == [401, 401]
        assert_scim_error(responses[2], 429)
        assert int(responses[2].headers["Retry-After"]) >= 1
        # Another client address is not held back by this one's failures.
        assert_scim_json(scim.get("/scim/v2/Users"))
        # Nor is a live token sent from the same address: only failures count.
        live = client.get("/scim/v2/Users", headers=scim.headers, environ_base=environ)
        assert_scim_json(live)


def test_provisioning_log_never_holds_the_token(app, client, scim_token, scim):
    user = create_user(scim, "a@example.com", emails=[{"value": "a@example.com"}])
    group = create_group(scim, "G", [user["id"]])
    scim.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_body({"op": "Replace", "path": "active", "value": "False"}),
    )
    scim.get(f'/scim/v2/Users?filter=userName eq "{user["userName"]}"')
    scim.patch(
        f"/scim/v2/Groups/{group['id']}",
        json=patch_body({"op": "remove", "path": "members", "value": [{"value": user["id"]}]}),
    )
    scim.post("/scim/v2/Users", json=user_body("a@example.com"))  # 409
    scim.get("/scim/v2/Nope")  # 404
    get_users(client, f"Basic {scim_token}")  # wrong scheme, token sent
    get_users(client, f"Bearer {scim_token}x")  # almost the token
    set_token(app, scim_token, revoked_at=utcnow())
    get_users(client, f"Bearer {scim_token}")  # revoked

    with app.app_context():
        rows = db.session.scalars(select(ProvisioningLog)).all()
        token_hash = db.session.scalar(select(ScimToken.token_hash))
        columns = [c.key for c in ProvisioningLog.__table__.columns]
        assert len(rows) >= 10
        for row in rows:
            for column in columns:
                text = repr(getattr(row, column))
                assert scim_token not in text, f"token in provisioning_log.{column}"
                assert scim_token[8:24] not in text, f"token part in provisioning_log.{column}"
                assert token_hash not in text
        assert {401, 409, 404, 201, 200, 204} <= {row.status for row in rows}


@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/Users"])
def test_scim_requests_open_no_cookie_session_and_pages_do(app, path):
    interface = app.session_interface
    with app.test_request_context(path):
        assert interface.is_null_session(interface.open_session(app, request))
    with app.test_request_context("/login"):
        assert not interface.is_null_session(interface.open_session(app, request))
