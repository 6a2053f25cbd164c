"""Who a single sign-on identity is here: matching the provider's claims to one user.

The provider's identity claim (Entra's object id, ``oid``, by default) is what
Entra's provisioning sends as the SCIM ``externalId``, so a person provisioned
over SCIM signs in as that same user. Matching by userName or email is a
fallback an admin switches on. Whatever the path, sign-in never makes a second
account for a person who has one, never signs anyone in as a local account
(the break-glass admins sign in with their password only) and never writes an
attribute SCIM manages.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..scim.errors import ScimError
from ..scim.resources import USER
from ..scim.resources import canonical
from ..scim.resources import user_type
from . import accounts
from . import resources
from .models import User
from .models import UserEmail

# Why a sign-in was refused; the views turn each into a page that says what to do.
UNKNOWN_USER = "unknown_user"
DISABLED_USER = "disabled_user"
LOCAL_ACCOUNT = "local_account"
AMBIGUOUS = "ambiguous"
OTHER_PERSON = "other_person"
MISSING_CLAIM = "missing_claim"
CREATE_FAILED = "create_failed"


class SignInRefused(Exception):
    """The identity is real but may not sign in here; reason is one of the codes above."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    """What the ID token says about the person, read from its claims."""

    subject: str  # the identity claim's value: Entra's object id, or "sub"
    user_name: str | None
    email: str | None
    display_name: str | None
    given_name: str | None
    family_name: str | None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def identity_from_claims(claims: dict[str, Any], identity_claim: str) -> Identity:
    """Return the identity in an ID token's claims.

    The username is Entra's ``preferred_username`` (the UPN, which the guide
    maps to userName), else ``upn``, else ``email``.

    :raises SignInRefused: when the identity claim is missing or empty.
    """
    subject = claims.get(identity_claim)
    if isinstance(subject, int | float) and not isinstance(subject, bool):
        subject = str(subject)
    subject = _text(subject)
    if subject is None:
        raise SignInRefused(
            MISSING_CLAIM,
            f"The provider's ID token has no '{identity_claim}' claim, which is how this app "
            "tells who is signing in.",
        )
    email = _text(claims.get("email"))
    return Identity(
        subject=subject,
        user_name=_text(claims.get("preferred_username")) or _text(claims.get("upn")) or email,
        email=email,
        display_name=_text(claims.get("name")),
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
    )


def _by_subject(session: Session, subject: str) -> list[User]:
    # externalId is caseExact (RFC 7643 §3.1): compared as sent.
    query = accounts.live_users().where(User.external_id == subject).limit(2)
    return list(session.scalars(query))


def _by_name(session: Session, identity: Identity) -> list[User]:
    keys = {value.lower() for value in (identity.user_name, identity.email) if value}
    if not keys:
        return []
    with_email = select(UserEmail.user_id).where(UserEmail.value_key.in_(keys))
    query = (
        accounts.live_users()
        .where(or_(User.user_name_key.in_(keys), User.id.in_(with_email)))
        .limit(2)
    )
    return list(session.scalars(query))


def _one(users: list[User], how: str) -> User | None:
    if len(users) > 1:
        raise SignInRefused(
            AMBIGUOUS,
            f"More than one user here matches this identity by {how}, so it is not clear "
            "which one is signing in.",
        )
    return users[0] if users else None


def find_user(session: Session, identity: Identity, match_by_name: bool) -> User | None:
    """Return the user this identity signs in as, or None when nobody matches.

    :raises SignInRefused: when the match is a local account, is ambiguous, or
        carries another person's identity.
    """
    user = _one(_by_subject(session, identity.subject), "its identity claim")
    if user is None and match_by_name:
        user = _one(_by_name(session, identity), "username or email")
        if user is not None and user.external_id and user.external_id != identity.subject:
            raise SignInRefused(
                OTHER_PERSON,
                f"The user '{user.user_name}' has the same name but belongs to another "
                "identity at the provider.",
            )
    if user is not None and not user.scim_managed:
        raise SignInRefused(
            LOCAL_ACCOUNT,
            f"This identity matches the local account '{user.user_name}'. Local accounts "
            "sign in with their password only, so single sign-on can never take one over.",
        )
    return user


def create_user(session: Session, identity: Identity) -> User:
    """Insert the user for a first sign-in, as Entra's provisioning would (the caller commits).

    The user is a directory user like the ones SCIM creates, with the identity
    as its externalId: when Entra provisions the same person later, its
    lookup finds this user and updates it instead of making a second one.

    :raises SignInRefused: when the provider sent no usable username, or it is taken.
    """
    user_name = identity.user_name or identity.subject
    body: dict[str, Any] = {
        "schemas": [USER],
        "userName": user_name,
        "externalId": identity.subject,
        "active": True,
    }
    if identity.display_name:
        body["displayName"] = identity.display_name
    name = {"givenName": identity.given_name, "familyName": identity.family_name}
    if any(name.values()):
        body["name"] = {key: value for key, value in name.items() if value}
    if identity.email:
        body["emails"] = [{"value": identity.email, "type": "work", "primary": True}]
    try:
        with session.begin_nested():
            return resources.create_user(session, canonical(user_type(), body))
    except (ScimError, IntegrityError) as error:
        detail = getattr(error, "detail", None) or "the username is already taken"
        raise SignInRefused(
            CREATE_FAILED, f"A user for '{user_name}' could not be created: {detail}."
        ) from None


def sign_in_user(
    session: Session, identity: Identity, match_by_name: bool, create: bool
) -> tuple[User, bool]:
    """Return the user identity signs in as and whether it was created now.

    :raises SignInRefused: for an unknown user (unless create), a disabled user,
        a local account, or an ambiguous match.
    """
    user = find_user(session, identity, match_by_name)
    created = False
    if user is None:
        if not create:
            raise SignInRefused(
                UNKNOWN_USER,
                "No user here matches this identity. Users reach this app through Entra's "
                "provisioning: assign the person to the app in Entra and wait for the next "
                "provisioning cycle. An admin can also let single sign-on create users.",
            )
        user = create_user(session, identity)
        created = True
    if not user.active:
        raise SignInRefused(
            DISABLED_USER,
            f"The user '{user.user_name}' is disabled here, so it cannot sign in. Entra "
            "disables a user when it is unassigned from the app or blocked from signing in.",
        )
    return user, created
