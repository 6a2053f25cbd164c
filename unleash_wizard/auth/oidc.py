"""OpenID Connect sign-in through Authlib: settings, the sealed client secret, the flow, errors.

The settings live in the database, so every instance sees what an admin saved
in Single Sign-On > OIDC; a deployment can fix them in the configuration
instead (OIDC_ISSUER and friends), and then the tab shows them read-only.

Authlib runs the flow: authorization code with PKCE (S256), state and nonce
kept in the signed session cookie and checked on the way back, and the ID
token validated (signature from the provider's JWKS, issuer, audience,
expiry, nonce). This module adds what Authlib leaves to the application:
the provider's discovery document must name the issuer the admin entered
(OpenID Connect Discovery §4.3), and every failure becomes a `SsoFailure`
that says what to fix.
"""

import base64
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.flask_client.integration import FlaskIntegration
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from joserfc.errors import ClaimError
from joserfc.errors import ExpiredTokenError
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from ..config import TRUE_WORDS
from ..store import settings

SETTING = "oidc"
LAST_TEST = "oidc_last_test"
LAST_ERROR = "oidc_last_error"
DEFAULT_SCOPES = "openid profile email"
# Entra's object id: the value Entra's provisioning sends as the SCIM externalId.
DEFAULT_IDENTITY_CLAIM = "oid"
CLIENT_NAME = "oidc"
HTTP_TIMEOUT_SECONDS = 10
METADATA_TTL_SECONDS = 300
SEALED_PREFIX = "v1:"


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OidcSettings:
    """What the OIDC tab or the deployment's configuration says."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str | None = None  # in clear, only in memory
    secret_unreadable: bool = False  # sealed with another SECRET_KEY
    scopes: str = DEFAULT_SCOPES
    identity_claim: str = DEFAULT_IDENTITY_CLAIM
    match_by_name: bool = False
    create_users: bool = False
    enabled: bool = False
    from_deployment: bool = False

    @property
    def complete(self) -> bool:
        """Return whether everything the flow needs is there."""
        return bool(self.issuer and self.client_id and self.client_secret)

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret) or self.secret_unreadable

    @property
    def usable(self) -> bool:
        """Return whether the sign-in button should be offered."""
        return self.enabled and self.complete

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def from_config(config: dict[str, Any]) -> OidcSettings | None:
    """Return the settings a deployment fixed (OIDC_ISSUER set), or None."""
    if not config.get("OIDC_ISSUER"):
        return None
    return OidcSettings(
        issuer=str(config["OIDC_ISSUER"]).strip(),
        client_id=str(config.get("OIDC_CLIENT_ID") or "").strip(),
        client_secret=config.get("OIDC_CLIENT_SECRET") or None,
        scopes=normalize_scopes(config.get("OIDC_SCOPES") or DEFAULT_SCOPES),
        identity_claim=str(config.get("OIDC_IDENTITY_CLAIM") or DEFAULT_IDENTITY_CLAIM).strip(),
        match_by_name=_flag(config.get("OIDC_MATCH_BY_NAME", False)),
        create_users=_flag(config.get("OIDC_CREATE_USERS", False)),
        enabled=_flag(config.get("OIDC_ENABLED", True)),
        from_deployment=True,
    )


def load(session: Session, config: Mapping[str, Any] | None = None) -> OidcSettings:
    """Return the settings in force: the deployment's, else what the OIDC tab saved.

    config is the app's configuration, current_app's by default.
    """
    config = current_app.config if config is None else config
    fixed = from_config(config)
    if fixed is not None:
        return fixed
    stored = settings.get(session, SETTING) or {}
    if not isinstance(stored, dict):
        stored = {}
    sealed = stored.get("client_secret_sealed")
    secret = unseal(sealed, config["SECRET_KEY"]) if sealed else None
    return OidcSettings(
        issuer=stored.get("issuer", ""),
        client_id=stored.get("client_id", ""),
        client_secret=secret,
        secret_unreadable=bool(sealed) and secret is None,
        scopes=stored.get("scopes") or DEFAULT_SCOPES,
        identity_claim=stored.get("identity_claim") or DEFAULT_IDENTITY_CLAIM,
        match_by_name=bool(stored.get("match_by_name", False)),
        create_users=bool(stored.get("create_users", False)),
        enabled=bool(stored.get("enabled", False)),
    )


def save(session: Session, new: OidcSettings, new_secret: str | None) -> None:
    """Store new, sealing new_secret; without one the saved secret is kept (the caller commits)."""
    stored = settings.get(session, SETTING) or {}
    sealed = seal(new_secret) if new_secret else stored.get("client_secret_sealed")
    settings.put(
        session,
        SETTING,
        {
            "issuer": new.issuer,
            "client_id": new.client_id,
            "client_secret_sealed": sealed,
            "scopes": new.scopes,
            "identity_claim": new.identity_claim,
            "match_by_name": new.match_by_name,
            "create_users": new.create_users,
            "enabled": new.enabled,
        },
    )


def describe(session: Session, config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the settings and the last outcomes for the support view, without the secret."""
    current = load(session, config)
    if current.secret_unreadable:
        secret = "unreadable: SECRET_KEY changed since it was saved"
    else:
        secret = "saved" if current.client_secret else "missing"
    return {
        "state": "on" if current.usable else "off" if current.complete else "not set up",
        "from_deployment": current.from_deployment,
        "issuer": current.issuer or None,
        "client_id": current.client_id or None,
        "client_secret": secret,
        "scopes": current.scopes,
        "identity_claim": current.identity_claim,
        "match_by_name": current.match_by_name,
        "create_users": current.create_users,
        "last_test": settings.get(session, LAST_TEST),
        "last_error": settings.get(session, LAST_ERROR),
    }


def secrets(session: Session, config: Mapping[str, Any]) -> dict[str, str]:
    """Return the client secret, in clear and sealed, by a label safe to log."""
    found = {}
    current = load(session, config)
    if current.client_secret:
        found["the OIDC client secret"] = current.client_secret
    stored = settings.get(session, SETTING)
    if isinstance(stored, dict) and stored.get("client_secret_sealed"):
        found["the sealed OIDC client secret"] = stored["client_secret_sealed"]
    return found


def normalize_scopes(text: str) -> str:
    """Return the scopes space-separated, once each, with openid first."""
    seen: list[str] = []
    for scope in str(text).replace(",", " ").split():
        if scope not in seen:
            seen.append(scope)
    if "openid" in seen:
        seen.remove("openid")
    return " ".join(["openid", *seen])


# ---------------------------------------------------------------------------
# The client secret, sealed with a key derived from SECRET_KEY
# ---------------------------------------------------------------------------
# The secret must be sent to the provider, so unlike SCIM tokens it cannot be
# stored as a hash; AES-GCM keeps it out of the database in clear and out of
# backups of it. A SECRET_KEY change makes it unreadable, and the tab then asks
# for it again.


def _sealing_key(secret_key: str | bytes | None = None) -> bytes:
    if secret_key is None:
        secret_key = current_app.config["SECRET_KEY"]
    if isinstance(secret_key, str):
        secret_key = secret_key.encode()
    return HKDF(
        algorithm=SHA256(), length=32, salt=None, info=b"unleash-wizard oidc client secret"
    ).derive(secret_key)


def seal(plain: str) -> str:
    """Return plain encrypted and authenticated under the app's SECRET_KEY."""
    nonce = os.urandom(12)
    sealed = AESGCM(_sealing_key()).encrypt(nonce, plain.encode(), None)
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(sealed: str, secret_key: str | bytes | None = None) -> str | None:
    """Return the secret in sealed, or None when SECRET_KEY changed since it was sealed."""
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :])
        return AESGCM(_sealing_key(secret_key)).decrypt(raw[:12], raw[12:], None).decode()
    except (InvalidTag, ValueError):
        return None


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoFailure(Exception):
    """A sign-in that did not work: what happened, and what to do about it."""

    code: str
    title: str
    fix: str
    detail: str = ""
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.detail or self.title}"


SETTINGS_FIX = "An admin fixes this on Single Sign-On > OIDC."


def not_configured() -> SsoFailure:
    return SsoFailure(
        "not_configured",
        "Single sign-on is not set up",
        "An admin sets the issuer URL, client id and client secret on Single Sign-On > OIDC "
        "and switches sign-in on.",
        status=404,
    )


def secret_unreadable() -> SsoFailure:
    return SsoFailure(
        "secret_unreadable",
        "The saved client secret can no longer be read",
        "The app's SECRET_KEY changed since the secret was saved. An admin enters the client "
        "secret again on Single Sign-On > OIDC.",
        status=503,
    )


def provider_down(issuer: str, error: Exception) -> SsoFailure:
    return SsoFailure(
        "provider_unreachable",
        "The identity provider could not be reached",
        f"Check that the issuer URL ({issuer}) is right and that this server can reach it "
        f"over HTTPS. {SETTINGS_FIX}",
        detail=type(error).__name__,
        status=502,
    )


def discovery_failed(url: str, why: str) -> SsoFailure:
    return SsoFailure(
        "discovery_failed",
        "The identity provider's discovery document could not be read",
        f"{url} {why}. For Entra the issuer URL is "
        f"https://login.microsoftonline.com/TENANT-ID/v2.0. {SETTINGS_FIX}",
        status=502,
    )


def wrong_issuer(entered: str, announced: str) -> SsoFailure:
    return SsoFailure(
        "wrong_issuer",
        "The issuer URL does not match the provider",
        f"The provider calls itself {announced}, not {entered}. Enter exactly the issuer the "
        f"provider announces. {SETTINGS_FIX}",
        status=502,
    )


def classify(error: Exception, config: OidcSettings) -> SsoFailure:
    """Return the failure an exception from the flow means."""
    if isinstance(error, SsoFailure):
        return error
    if isinstance(error, requests.RequestException) and not isinstance(error, requests.HTTPError):
        return provider_down(config.issuer, error)
    if isinstance(error, MismatchingStateError):
        return SsoFailure(
            "bad_state",
            "This sign-in link was already used or has expired",
            "Sign-in answers are good for one use, in the browser that started them. "
            "Start the sign-in again from the sign-in page.",
        )
    if isinstance(error, OAuthError):
        return _oauth_failure(error)
    if isinstance(error, ExpiredTokenError):
        return SsoFailure(
            "token_expired",
            "The provider's ID token has expired",
            "Check that this server's clock is right, then sign in again.",
        )
    if isinstance(error, ClaimError) and error.claim in ("aud", "azp"):
        return SsoFailure(
            "wrong_audience",
            "The ID token was issued to another application",
            f"Its audience is not this app's client id ({config.client_id}). Check the client "
            f"id against the app registration. {SETTINGS_FIX}",
        )
    if isinstance(error, ClaimError) and error.claim == "iss":
        return SsoFailure(
            "wrong_issuer",
            "The ID token comes from another issuer",
            f"Enter exactly the issuer the provider announces. {SETTINGS_FIX}",
        )
    if isinstance(error, JoseError):
        return SsoFailure(
            "token_invalid",
            "The provider's ID token failed validation",
            f"The token was refused ({error.error}). Sign in again; if it keeps failing, "
            f"check the issuer URL. {SETTINGS_FIX}",
            detail=str(getattr(error, "description", "") or error.error),
        )
    raise error


def _oauth_failure(error: OAuthError) -> SsoFailure:
    code = error.error or ""
    description = (error.description or "")[:300]
    if code in ("access_denied", "consent_required", "interaction_required", "login_required"):
        return SsoFailure(
            "denied",
            "Sign-in was cancelled or consent was denied",
            "The identity provider did not let this sign-in through. Sign in again and accept "
            "the consent prompt, or ask your identity admin to grant consent for this app.",
            detail=code,
            status=403,
        )
    if code in ("invalid_client", "unauthorized_client"):
        return SsoFailure(
            "wrong_secret",
            "The identity provider refused this app's client credentials",
            "The client id or client secret is wrong or the secret expired. Create a new "
            f"client secret in the app registration and save it. {SETTINGS_FIX}",
            detail=code,
            status=502,
        )
    if code == "invalid_grant":
        return SsoFailure(
            "bad_state",
            "This sign-in link was already used or has expired",
            "Start the sign-in again from the sign-in page.",
            detail=code,
        )
    return SsoFailure(
        "provider_error",
        "The identity provider answered with an error",
        f"It said: {code or 'an error'}{': ' + description if description else ''}. {SETTINGS_FIX}",
        detail=code,
        status=502,
    )


# ---------------------------------------------------------------------------
# Discovery and the Authlib client
# ---------------------------------------------------------------------------

_metadata_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_metadata_lock = threading.Lock()


def discover(config: OidcSettings, fresh: bool = False) -> dict[str, Any]:
    """Return the provider's discovery document, checked and cached for a few minutes.

    :raises SsoFailure: when it cannot be fetched or names another issuer.
    """
    url = config.metadata_url
    now = time.monotonic()
    with _metadata_lock:
        cached = _metadata_cache.get(url)
    if cached and not fresh and now - cached[0] < METADATA_TTL_SECONDS:
        return dict(cached[1])
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise provider_down(config.issuer, error) from None
    if response.status_code != 200:
        raise discovery_failed(url, f"answered HTTP {response.status_code}")
    try:
        metadata = response.json()
    except ValueError:
        raise discovery_failed(url, "is not JSON") from None
    if not isinstance(metadata, dict):
        raise discovery_failed(url, "is not a JSON object")
    missing = [
        key
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(metadata.get(key), str)
    ]
    if missing:
        raise discovery_failed(url, f"lacks {', '.join(missing)}")
    if metadata["issuer"].rstrip("/") != config.issuer.rstrip("/"):
        raise wrong_issuer(config.issuer, metadata["issuer"])
    with _metadata_lock:
        _metadata_cache[url] = (now, metadata)
    return dict(metadata)


def client(config: OidcSettings) -> FlaskOAuth2App:
    """Return an Authlib client for these settings, with the provider's metadata loaded.

    Built per request rather than registered once: the settings change at run
    time and several instances share them through the database.
    """
    if config.secret_unreadable:
        raise secret_unreadable()
    if not config.complete:
        raise not_configured()
    metadata = discover(config)
    return FlaskOAuth2App(
        FlaskIntegration(CLIENT_NAME),
        CLIENT_NAME,
        client_id=config.client_id,
        client_secret=config.client_secret,
        client_kwargs={
            "scope": config.scopes,
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
        **metadata,
    )


def start(config: OidcSettings, redirect_uri: str):
    """Return the redirect to the provider; state, nonce and PKCE verifier go in the session."""
    try:
        return client(config).authorize_redirect(redirect_uri)
    except (requests.RequestException, OAuthError) as error:
        raise classify(error, config) from None


def finish(config: OidcSettings) -> dict[str, Any]:
    """Return the validated ID token's claims for the provider's answer in this request.

    :raises SsoFailure: for every way the answer can be wrong.
    """
    try:
        rp = client(config)
        # OpenID Connect Core §3.1.3.7: the audience must contain our client id.
        # Authlib checks the issuer and, through azp, some audiences, but not that.
        claims_options = {
            "iss": {"essential": True, "value": rp.server_metadata["issuer"]},
            "aud": {"essential": True, "values": [config.client_id]},
        }
        token = rp.authorize_access_token(claims_options=claims_options)
    except (requests.RequestException, OAuthError, JoseError) as error:
        raise classify(error, config) from None
    claims = token.get("userinfo")
    if not claims:
        raise SsoFailure(
            "no_id_token",
            "The provider sent no ID token",
            "Make sure the scopes include openid and the app registration allows ID tokens. "
            f"{SETTINGS_FIX}",
            status=502,
        )
    return dict(claims)
