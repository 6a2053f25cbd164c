"""HTTP hardening: security headers, cookie flags and the reverse proxy's headers.

Every response gets a Content-Security-Policy that allows scripts, styles and
pictures from this site only (no inline script, no inline style), plus
nosniff, a same-origin referrer and a ban on framing. A response that already
carries its own policy keeps it: the Entra illustrations set a stricter one for
their SVG.

Cookies are HttpOnly and SameSite=Lax. They are also Secure when the app is
reached over HTTPS: when PUBLIC_URL or PREFERRED_URL_SCHEME says https, or when
a request arrived over HTTPS (directly, or as a trusted proxy says).

Behind a reverse proxy, TRUSTED_PROXIES tells how many proxies in front of the
app set X-Forwarded-For, -Proto, -Host, -Port and -Prefix. With it, werkzeug's
ProxyFix takes the client address (which the rate limits count by), the scheme
and the host from those headers. Without it they are ignored, as anyone can
send them.
"""

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import FALSE_WORDS
from .config import TRUE_WORDS

# No inline script or style anywhere: templates load /static/js and /static/css.
# form-action is left out on purpose: an OIDC sign-in may post to or redirect
# through the identity provider, which Chromium would check against it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self'; "
    "connect-src 'self'; "
    "font-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "frame-ancestors 'none'"
)
# Flask-WTF checks the Referer of HTTPS form posts (WTF_CSRF_SSL_STRICT), so the
# browser must keep sending it to this site: "same-origin", not "no-referrer".
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def as_bool(value: Any) -> bool:
    """Return value as a boolean, reading the words an environment variable may hold."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    return bool(value)


def as_count(value: Any, name: str) -> int:
    """Return value as a count of zero or more, or fail naming the setting."""
    try:
        count = int(str(value).strip() or 0)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must be 0 or more, got {count}")
    return count


def https_expected(config: dict[str, Any]) -> bool:
    """Return whether the configuration says users reach the app over HTTPS."""
    public = str(config.get("PUBLIC_URL") or "").lower()
    scheme = str(config.get("PREFERRED_URL_SCHEME") or "").lower()
    return public.startswith("https://") or scheme == "https"


def configure_cookies(config: dict[str, Any]) -> None:
    """Set the session and remember-me cookie flags, keeping any explicit Secure choice.

    Unset, SESSION_COOKIE_SECURE follows https_expected() and REMEMBER_COOKIE_SECURE
    follows SESSION_COOKIE_SECURE.
    """
    secure = config.get("SESSION_COOKIE_SECURE")
    secure = https_expected(config) if secure is None else as_bool(secure)
    remember = config.get("REMEMBER_COOKIE_SECURE")
    config["SESSION_COOKIE_SECURE"] = secure
    config["REMEMBER_COOKIE_SECURE"] = secure if remember is None else as_bool(remember)
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        config[f"{prefix}_HTTPONLY"] = True
        config[f"{prefix}_SAMESITE"] = config.get(f"{prefix}_SAMESITE") or "Lax"


def init_app(app: Flask) -> None:
    """Add the proxy fix, the cookie flags and the security headers to app."""
    config = app.config
    proxies = as_count(config.get("TRUSTED_PROXIES") or 0, "TRUSTED_PROXIES")
    config["TRUSTED_PROXIES"] = proxies
    # Inside ProxyFix, so it sees the scheme the proxy reported.
    app.wsgi_app = SecurityHeaders(app.wsgi_app, config)
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=proxies,
            x_proto=proxies,
            x_host=proxies,
            x_port=proxies,
            x_prefix=proxies,
        )
    configure_cookies(config)
    config["HSTS_SECONDS"] = as_count(config.get("HSTS_SECONDS") or 0, "HSTS_SECONDS")


# (lower-cased name, name, value): every response gets these unless it set its own.
_ADDED = tuple(
    (name.lower(), name, value)
    for name, value in {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        **SECURITY_HEADERS,
    }.items()
)


def secure_cookie(header: str) -> str:
    """Return a Set-Cookie value with the Secure flag."""
    flags = {part.strip().lower() for part in header.split(";")[1:]}
    return header if "secure" in flags else header + "; Secure"


class SecurityHeaders:
    """WSGI middleware: the security headers on every response; on HTTPS, Secure cookies and HSTS.

    It works on the header list the app hands to start_response: Flask
    writes the session cookie after the after_request functions have run,
    and the constant headers go in without werkzeug validating them again
    on each of the SCIM API's requests.
    """

    def __init__(self, wsgi_app, config: dict[str, Any]):
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ, start_response):
        secure = environ.get("wsgi.url_scheme") == "https"
        config = self.config

        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            if secure:
                headers = [
                    (name, secure_cookie(value) if name.lower() == "set-cookie" else value)
                    for name, value in headers
                ]
                seconds = config["HSTS_SECONDS"]
                if seconds and "strict-transport-security" not in present:
                    headers.append(("Strict-Transport-Security", f"max-age={seconds}"))
            headers.extend((name, value) for key, name, value in _ADDED if key not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_headers)
