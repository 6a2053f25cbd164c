"""Security headers on every response, cookie flags, and the reverse proxy's headers.

Every route of the URL map is requested, as an Admin with data in every table,
plus error pages: each answer must carry the Content-Security-Policy (no inline
script or style), nosniff, a same-origin referrer and the ban on framing, and
no HTML page may hold what that policy would block.
"""

import re
import uuid

import pytest
from apps import ScimClient
from apps import csrf_token
from security_helpers import PASSWORD
from security_helpers import get_urls
from security_helpers import inline_code
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.help.illustrations import SVG_HEADERS
from unleash_wizard.store import accounts
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import ScimToken

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def directives(policy: str) -> dict[str, list[str]]:
    """Return a Content-Security-Policy as {directive: sources}."""
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


def assert_strict_policy(policy: str, where: str) -> None:
    parsed = directives(policy)
    assert parsed.get("script-src") == ["'self'"], where
    assert parsed.get("style-src") == ["'self'"], where
    assert parsed.get("object-src") == ["'none'"], where
    assert parsed.get("frame-ancestors") == ["'none'"], where
    assert parsed.get("base-uri") == ["'none'"], where
    assert "unsafe" not in policy and "data:" not in policy and "*" not in policy, where


def populate(app) -> dict:
    """Fill every table: an Admin and a Viewer, SCIM users and a group, live and dead tokens."""
    with app.app_context():
        admin = accounts.create_local_user(db.session, "admin", PASSWORD, accounts.ADMIN)
        viewer = accounts.create_local_user(db.session, "viewer", PASSWORD, accounts.VIEWER)
        settings.put(db.session, settings.SCIM_ENABLED, True)
        secret = tokens.issue(db.session, "entra").secret
        tokens.issue(db.session, "old")
        tokens.revoke(db.session, "old")
        db.session.commit()
        local_ids = [admin.id, viewer.id]
    scim = ScimClient(app.test_client(), secret)
    user = scim.post(
        "/scim/v2/Users",
        json={
            "userName": "alice@contoso.example",
            "displayName": "Alice",
            "emails": [{"type": "work", "value": "alice@contoso.example"}],
        },
    ).get_json()
    members = [{"value": user["id"]}]
    group = scim.post(
        "/scim/v2/Groups", json={"displayName": "Unleash Admins", "members": members}
    ).get_json()
    scim.get("/scim/v2/Users/does-not-exist")  # an error in the log
    with app.app_context():
        token_ids = list(db.session.scalars(select(ScimToken.id)))
    return {
        "token": secret,
        "user_id": [user["id"], *local_ids],
        "group_id": [group["id"]],
        "token_id": token_ids,
    }


def sign_in(client, name: str = "admin") -> None:
    response = client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def populated(app):
    return populate(app)


def every_response(app, client, known: dict):
    """Yield (what, response) for every GET page, the SCIM API, static files and error pages."""
    for endpoint, url in get_urls(app, known):
        yield endpoint, client.get(url)
    scim = ScimClient(client, known["token"])
    for endpoint, url in get_urls(app, {**known, "user_id": known["user_id"][:1]}, scim=True):
        yield endpoint, scim.get(url)
    yield "404 page", client.get("/no/such/page")
    yield "405 page", client.get("/logout")
    yield "SCIM 401", client.get("/scim/v2/Users", headers={"Authorization": "Bearer nope"})
    yield "SCIM 404", scim.get("/scim/v2/Nope")
    yield "CSRF-free POST", client.post("/setup/lockout/admin-group", data={"group": "x"})


def test_every_response_carries_the_security_headers(app, client, populated):
    sign_in(client)
    seen = set()
    count = 0
    for what, response in every_response(app, client, populated):
        # /Me answers 501 as RFC 7644 §3.11 allows; nothing else may fail.
        expected_failure = 501 if what == "scim.me" else None
        assert response.status_code < 500 or response.status_code == expected_failure, what
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers.get(name) == value, (what, name, response.headers.get(name))
        policy = response.headers["Content-Security-Policy"]
        if what == "help.entra":
            # The drawings keep their own, stricter policy: nothing but their <style>.
            assert policy == SVG_HEADERS["Content-Security-Policy"], what
        else:
            assert_strict_policy(policy, what)
        assert "Strict-Transport-Security" not in response.headers, "plain HTTP: no HSTS"
        seen.add(what.split(".")[0])
        count += 1
    assert {"admin", "wizard", "directory", "sso", "log", "support", "help", "scim"} <= seen
    assert {"static", "health", "404 page", "SCIM 401"} <= seen
    assert count >= 60


def test_no_page_holds_inline_script_style_or_handlers(app, client, populated):
    sign_in(client)
    pages = 0
    for _endpoint, url in get_urls(app, populated):
        response = client.get(url)
        if response.mimetype != "text/html":
            continue
        problems = inline_code(response.get_data(as_text=True))
        assert problems == [], (url, problems)
        pages += 1
    for url in ("/no/such/page", "/logout"):
        assert inline_code(client.get(url).get_data(as_text=True)) == []
    client.post("/logout")
    for url in ("/login", "/setup/first-run"):
        assert inline_code(client.get(url, follow_redirects=True).get_data(as_text=True)) == []
    assert pages >= 25


def test_the_inline_code_check_finds_what_the_policy_blocks():
    page = (
        '<script src="/static/js/app.js"></script><script>alert(1)</script>'
        "<style>p{}</style><p style='color:red' onclick=\"go()\">x</p>"
        '<a href=" JavaScript:go()">y</a>'
    )

    assert inline_code(page) == [
        "inline <script>",
        "<style> block",
        "style attribute on <p>",
        "event handler attribute onclick on <p>",
        "javascript: URL in href of <a>",
    ]


def test_pages_load_scripts_and_styles_from_the_site_only(app, client, populated):
    sign_in(client)
    html = client.get("/setup/connect", follow_redirects=True).get_data(as_text=True)
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)

    assert any(source.endswith(".js") for source in sources)
    assert all(source.startswith("/static/") for source in sources), sources


# ---------------------------------------------------------------------------
# Cookies
# ---------------------------------------------------------------------------


def cookie_flags(response, name: str) -> dict[str, str]:
    """Return the attributes of the cookie called name that response sets, lowercased."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            flags = {}
            for part in header.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                flags[key.lower()] = value
            return flags
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def sign_in_remembered(app):
    with app.app_context():
        accounts.create_local_user(db.session, "admin", PASSWORD)
        db.session.commit()
    return app.test_client().post(
        "/login", data={"username": "admin", "password": PASSWORD, "remember": "y"}
    )


@pytest.mark.parametrize(
    ("overrides", "secure"),
    [
        ({"PUBLIC_URL": "http://127.0.0.1:5000"}, False),
        ({"PUBLIC_URL": "https://wizard.example.com"}, True),
        ({"PUBLIC_URL": None, "PREFERRED_URL_SCHEME": "https"}, True),
        ({"PUBLIC_URL": "https://wizard.example.com", "SESSION_COOKIE_SECURE": "false"}, False),
        ({"PUBLIC_URL": "http://127.0.0.1:5000", "SESSION_COOKIE_SECURE": True}, True),
    ],
)
def test_session_and_remember_cookies_are_httponly_samesite_and_secure_on_https(
    app_with, overrides, secure
):
    response = sign_in_remembered(app_with(**overrides))

    assert response.status_code == 302
    for name in ("session", "remember_token"):
        flags = cookie_flags(response, name)
        assert "httponly" in flags, name
        assert flags.get("samesite") == "Lax", name
        assert ("secure" in flags) is secure, (name, overrides)


def test_a_request_over_https_gets_secure_cookies_and_hsts(app_with):
    app = app_with(PUBLIC_URL="http://127.0.0.1:5000")
    with app.app_context():
        accounts.create_local_user(db.session, "admin", PASSWORD)
        db.session.commit()
    client = app.test_client()

    plain = client.post("/login", data={"username": "admin", "password": PASSWORD})
    secure = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD},
        base_url="https://wizard.example.com",
    )

    assert "secure" not in cookie_flags(plain, "session")
    assert "Strict-Transport-Security" not in plain.headers
    assert "secure" in cookie_flags(secure, "session")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("PUBLIC_URL", "https://wizard.example.com")
    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    monkeypatch.setenv("HSTS_SECONDS", "0")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "")
    monkeypatch.setenv("PREFERRED_URL_SCHEME", "https")

    app = create_app()

    assert app.config["TRUSTED_PROXIES"] == 2
    assert app.config["HSTS_SECONDS"] == 0
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("TRUSTED_PROXIES", "two", "TRUSTED_PROXIES must be a whole number"),
        ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES must be 0 or more"),
        ("HSTS_SECONDS", "a year", "HSTS_SECONDS must be a whole number"),
        ("SESSION_COOKIE_SECURE", "maybe", "expected true or false"),
    ],
)
def test_a_wrong_setting_stops_the_start_naming_it(db_url, key, value, message):
    with pytest.raises(ValueError, match=message):
        create_app(
            {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url, key: value}
        )


# ---------------------------------------------------------------------------
# Behind a reverse proxy
# ---------------------------------------------------------------------------


def client_address() -> str:
    """Return a documentation address of its own, so rate limits of other tests do not mix."""
    return f"203.0.113.{uuid.uuid4().int % 250 + 1}"


def sign_in_through(app, headers: dict):
    with app.app_context():
        accounts.create_local_user(db.session, "admin", PASSWORD)
        db.session.commit()
    return app.test_client().post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "remember": "y"},
        headers=headers,
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )


def test_trusted_proxy_headers_make_the_request_https(app_with):
    app = app_with(PUBLIC_URL=None, TRUSTED_PROXIES=1)
    forwarded = {
        "X-Forwarded-For": "198.51.100.20",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "wizard.example.com",
    }

    response = sign_in_through(app, forwarded)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "secure" in cookie_flags(response, "session")
    assert "secure" in cookie_flags(response, "remember_token")
    assert isinstance(app.wsgi_app, ProxyFix)


def test_untrusted_forwarded_headers_are_ignored(app_with):
    app = app_with(PUBLIC_URL=None)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}

    response = sign_in_through(app, forwarded)

    assert "Strict-Transport-Security" not in response.headers
    assert "secure" not in cookie_flags(response, "session")
    assert not isinstance(app.wsgi_app, ProxyFix)


def test_behind_an_https_proxy_forms_work_with_the_same_origin_referrer(app_with):
    # Flask-WTF checks the Referer of HTTPS posts; Referrer-Policy keeps it same-origin.
    app = app_with(PUBLIC_URL=None, TRUSTED_PROXIES=1, WTF_CSRF_ENABLED=True)
    with app.app_context():
        accounts.create_local_user(db.session, "admin", PASSWORD)
        db.session.commit()
    client = app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wizard.example.com"}
    page = client.get("/login", headers=forwarded).get_data(as_text=True)
    csrf = csrf_token(page)
    form = {"username": "admin", "password": PASSWORD, "csrf_token": csrf}

    without_referrer = client.post("/login", data=form, headers=forwarded)
    with_referrer = client.post(
        "/login",
        data=form,
        headers={**forwarded, "Referer": "https://wizard.example.com/login"},
    )

    assert without_referrer.status_code == 400
    assert with_referrer.status_code == 302
    assert "secure" in cookie_flags(with_referrer, "session")


def bad_token_statuses(client, addresses: list[str], forwarded_for: list[str] | None) -> list:
    statuses = []
    for number, remote in enumerate(addresses):
        headers = {"Authorization": "Bearer wrong"}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for[number]
        response = client.get(
            "/scim/v2/Users", headers=headers, environ_base={"REMOTE_ADDR": remote}
        )
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
        statuses.append(response.status_code)
    return statuses


LIMITS = {"RATELIMIT_ENABLED": True, "SCIM_BAD_TOKEN_LIMIT": "2 per minute"}


def test_behind_a_trusted_proxy_bad_tokens_are_limited_per_real_client(app_with):
    client = app_with(TRUSTED_PROXIES=1, **LIMITS).test_client()
    proxy = client_address()
    first, second = client_address(), client_address()
    while second == first:
        second = client_address()

    statuses = bad_token_statuses(client, [proxy] * 4, [first, first, first, second])

    # The third try of the first client is refused; the second client behind the
    # same proxy is not held back by it.
    assert statuses == [401, 401, 429, 401]


def test_without_trust_a_forged_forwarded_for_does_not_escape_the_limit(app_with):
    client = app_with(**LIMITS).test_client()
    attacker = client_address()
    forged = [client_address() for _ in range(3)]

    statuses = bad_token_statuses(client, [attacker] * 3, forged)

    assert statuses == [401, 401, 429]
