"""SCIM errors (RFC 7644 §3.12) as an exception the web layer turns into JSON."""

from typing import Any

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """A failure to report to the SCIM client with a status and, for 400s, a scimType."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def to_dict(self) -> dict[str, Any]:
        """Return the error as the JSON body RFC 7644 §3.12 describes."""
        body: dict[str, Any] = {
            "schemas": [ERROR_URN],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid_value(detail: str) -> ScimError:
    """Return a 400 invalidValue error."""
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    """Return a 400 invalidSyntax error."""
    return ScimError(400, detail, "invalidSyntax")


def invalid_path(detail: str) -> ScimError:
    """Return a 400 invalidPath error."""
    return ScimError(400, detail, "invalidPath")


def mutability(detail: str) -> ScimError:
    """Return a 400 mutability error."""
    return ScimError(400, detail, "mutability")


def uniqueness(detail: str) -> ScimError:
    """Return a 409 uniqueness error."""
    return ScimError(409, detail, "uniqueness")


def not_found(detail: str) -> ScimError:
    """Return a 404 error."""
    return ScimError(404, detail)
