"""Every route of the app, walked from its URL map: who may reach it, CSRF, escaping.

New routes are covered without touching this file: a page added later is
checked as soon as it is registered, and must be listed here to be open.
"""

from datetime import timedelta

from apps import csrf_token
from flask import Flask
from werkzeug.routing import Rule

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import utcnow

PASSWORD = "Correct horse battery 9"
# Reachable without signing in: single sign-on is part of signing in (its
# callback's test mode is for Admins: tests/auth/test_oidc_tab.py).
OPEN = {
    "static",
    "health.healthz",
    "auth.login",
    "auth.first_run",
    "auth.sso_login",
    "auth.sso_callback",
}
# Signed-in Viewers may read these; every other page is for Admins.
VIEWER_READABLE = {
    "admin.home",
    "directory.index",
    "directory.users",
    "directory.user",
    "directory.groups",
    "directory.group",
    "help.entra",
}
MARKUP = '<script>alert("pwned")</script><b>bold</b>'
SAMPLE_ARGUMENTS = {
    "slug": "connect",
    "name": "mappings",
    "kind": "users",
    "token_id": 1,
}


def ui_rules(app: Flask) -> list[Rule]:
    """Return every route but the SCIM API (which has its own token tests)."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/scim/v2") and rule.endpoint != "static"
    ]


def url_for_rule(rule: Rule, **known) -> str:
    values = {arg: known.get(arg, SAMPLE_ARGUMENTS.get(arg, "unknown")) for arg in rule.arguments}
    return rule.build(values)[1]


def methods(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def add_account(app: Flask, name: str, role: str) -> str:
    with app.app_context():
        user = accounts.create_local_user(db.session, name, PASSWORD, role)
        settings.put(db.session, "setup_completed_at", "2026-01-01T00:00:00+00:00")
        db.session.commit()
        return user.id


def sign_in(client, name: str) -> None:
    response = client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_the_walk_covers_every_section(app):
    endpoints = {rule.endpoint.split(".")[0] for rule in ui_rules(app)}

    assert {"admin", "auth", "directory", "sso", "wizard", "help", "health"} <= endpoints


def test_anonymous_visitors_are_sent_to_sign_in_everywhere(app, client):
    add_account(app, "admin", accounts.ADMIN)
    for rule in ui_rules(app):
        if rule.endpoint in OPEN or rule.endpoint == "auth.logout":
            continue
        for method in methods(rule):
            response = client.open(url_for_rule(rule), method=method)
            assert response.status_code == 302, (method, rule.rule, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, rule.rule)


def test_viewers_get_403_on_every_admin_page_and_action(app, client):
    add_account(app, "admin", accounts.ADMIN)
    add_account(app, "viewer", accounts.VIEWER)
    sign_in(client, "viewer")
    for rule in ui_rules(app):
        if rule.endpoint in OPEN or rule.endpoint == "auth.logout":
            continue
        for method in methods(rule):
            response = client.open(url_for_rule(rule), method=method)
            if method == "GET" and rule.endpoint in VIEWER_READABLE:
                assert response.status_code in (200, 302, 404), (rule.rule, response.status_code)
                if response.status_code == 302:
                    assert not response.headers["Location"].startswith("/login"), rule.rule
            else:
                assert response.status_code == 403, (method, rule.rule, response.status_code)


def test_every_form_refuses_a_post_without_csrf_token(csrf_app):
    app = csrf_app
    add_account(app, "admin", accounts.ADMIN)
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    signed = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 302

    posted = 0
    for rule in ui_rules(app):
        if "POST" not in rule.methods:
            continue
        response = client.post(url_for_rule(rule), data={})
        assert response.status_code == 400, (rule.rule, response.status_code)
        posted += 1
    assert posted >= 10
    # The session survived every refused post: CSRF failures change nothing.
    assert client.get("/sso/scim").status_code == 200
    with app.app_context():
        assert not settings.scim_enabled(db.session)


def test_markup_from_entra_is_shown_as_text_on_every_page(app, client, scim):
    add_account(app, "admin", accounts.ADMIN)
    user = scim.post(
        "/scim/v2/Users",
        json={
            "userName": "markup@example.com",
            "displayName": MARKUP,
            "title": MARKUP,
            "emails": [{"type": "work", "value": "other@example.com"}],
        },
    ).get_json()
    group = scim.post(
        "/scim/v2/Groups", json={"displayName": MARKUP, "members": [{"value": user["id"]}]}
    ).get_json()
    sign_in(client, "admin")
    known = {"user_id": user["id"], "group_id": group["id"]}
    visited = 0
    for rule in ui_rules(app):
        if "GET" not in rule.methods or rule.endpoint in ("auth.first_run", "auth.login"):
            continue
        response = client.get(url_for_rule(rule, **known))
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        page = response.get_data(as_text=True)
        assert MARKUP not in page, rule.rule
        assert "<b>bold</b>" not in page, rule.rule
        visited += 1
    assert visited >= 8
    shown = client.get(f"/directory/users/{user['id']}").get_data(as_text=True)
    assert "&lt;script&gt;" in shown


def scim_requests(app: Flask) -> list[tuple[str, str]]:
    """Return (method, url) for every route and method of the SCIM API."""
    return [
        (method, url_for_rule(rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/scim/v2")
        for method in methods(rule)
    ]


def test_every_scim_route_refuses_missing_expired_and_revoked_tokens(app, client):
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        expired = tokens.issue(db.session, "expired", expires_days=1)
        expired.token.expires_at = utcnow() - timedelta(seconds=1)
        revoked = tokens.issue(db.session, "revoked")
        revoked.token.revoked_at = utcnow()
        db.session.commit()
        secrets = {"expired": expired.secret, "revoked": revoked.secret}
    requests = scim_requests(app)
    assert len(requests) >= 20
    for method, url in requests:
        for authorization in (None, "Bearer nope", f"Bearer {secrets['expired']}"):
            headers = {"Authorization": authorization} if authorization else {}
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 401, (method, url, authorization)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        response = client.open(
            url, method=method, headers={"Authorization": f"Bearer {secrets['revoked']}"}
        )
        assert response.status_code == 401 and "revoked" in response.get_json()["detail"]


def test_every_scim_route_answers_403_with_a_live_token_while_paused(app, client, scim_token):
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, False)
        db.session.commit()
    for method, url in scim_requests(app):
        response = client.open(
            url, method=method, headers={"Authorization": f"Bearer {scim_token}"}
        )
        assert response.status_code == 403, (method, url, response.status_code)
        assert "paused" in response.get_json()["detail"]


def test_only_sign_in_first_run_health_and_static_are_open(app, client):
    """Before any admin exists, every other page leads to the first-run page."""
    opened = set()
    for rule in ui_rules(app):
        for method in methods(rule):
            response = client.open(url_for_rule(rule), method=method)
            location = response.headers.get("Location", "")
            if response.status_code == 302 and location.startswith("/setup/first-run"):
                continue
            opened.add(rule.endpoint)
    assert client.get("/static/css/app.css").status_code == 200
    assert opened <= OPEN, opened - OPEN
    assert {"health.healthz", "auth.first_run"} <= opened
