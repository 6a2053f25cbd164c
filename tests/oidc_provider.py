"""Helpers for the single sign-on tests, around pytest-iam's real Canaille provider."""

import uuid
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

from unleash_wizard.auth import oidc
from unleash_wizard.extensions import db
from unleash_wizard.store import settings

SCOPES = ["openid", "profile", "email"]
CALLBACK_PATH = "/login/sso/callback"
# The app's callback under the test suite's PUBLIC_URL.
REDIRECT_URI = "https://wizard.example.com" + CALLBACK_PATH


def issuer(iam_server) -> str:
    """Return the provider's issuer URL, as its discovery document announces it."""
    return iam_server.url.rstrip("/")


def register_client(iam_server, redirect_uri: str, audience=None):
    """Register an OIDC client at the provider and return it (secret in .client_secret)."""
    models = iam_server.models
    with iam_server.app.app_context():
        client = models.Client(
            client_id=f"uwz-{uuid.uuid4().hex[:10]}",
            client_secret=uuid.uuid4().hex,
            client_name="unleash-wizard tests",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_basic",
            scope=SCOPES,
        )
        iam_server.backend.save(client)
        client.audience = audience if audience is not None else [client]
        iam_server.backend.save(client)
    return client


def provider_user(iam_server, **fields):
    """Create a person at the provider and return it; its id is the "sub" claim.

    Canaille sends the display name as "preferred_username", the claim Entra
    fills with the UPN.
    """
    name = fields.pop("user_name", f"person-{uuid.uuid4().hex[:8]}")
    return iam_server.random_user(
        user_name=name,
        display_name=fields.pop("display_name", name),
        emails=[fields.pop("email", f"{name}@contoso.example")],
        **fields,
    )


def configure(app, iam_server, client, **options) -> None:
    """Save single sign-on settings for client in app's database, as the OIDC tab does."""
    secret = options.pop("client_secret", client.client_secret)
    with app.app_context():
        config = oidc.OidcSettings(
            issuer=options.pop("issuer", issuer(iam_server)),
            client_id=options.pop("client_id", client.client_id),
            scopes=" ".join(SCOPES),
            identity_claim=options.pop("identity_claim", "sub"),
            enabled=options.pop("enabled", True),
            **options,
        )
        oidc.save(db.session, config, secret)
        db.session.commit()


def stored(app, key: str):
    """Return a setting from app's database."""
    with app.app_context():
        return settings.get(db.session, key)


def authorize(iam_server, user, authorization_url: str, consent: bool = True) -> str:
    """Play the person at the provider: signed in there, consenting; return the callback URL.

    The provider answers the authorization request with a redirect to the
    app's callback carrying the code and state; that redirect is returned.
    """
    iam_server.login(user)
    if consent:
        iam_server.consent(user)
    try:
        response = requests.get(authorization_url, allow_redirects=False, timeout=10)
    finally:
        iam_server.logout()
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def callback_path(url: str) -> str:
    """Return the path and query of a callback URL, for the Flask test client."""
    parts = urlsplit(url)
    assert parts.path == CALLBACK_PATH, url
    return f"{parts.path}?{parts.query}"


def query(url: str) -> dict[str, str]:
    """Return the query parameters of url, one value each."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
