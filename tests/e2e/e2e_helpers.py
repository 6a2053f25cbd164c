"""Helpers for the browser tests."""

from pathlib import Path

from playwright.sync_api import Page
from sqlalchemy import select

from unleash_wizard import create_app
from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import User

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# A password the first-run strength check accepts.
ADMIN_PASSWORD = "Break glass in case 42"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def add_breakglass(db_url: str) -> str:
    """Create the local admin "breakglass" with ADMIN_PASSWORD on db_url; return its hash."""
    app = create_app({"TESTING": True, "SECRET_KEY": "e2e", "SQLALCHEMY_DATABASE_URI": db_url})
    with app.app_context():
        accounts.create_local_user(db.session, "breakglass", ADMIN_PASSWORD)
        db.session.commit()
        password_hash = db.session.scalar(
            select(User.password_hash).where(User.user_name == "breakglass")
        )
        db.session.remove()
        db.engine.dispose()
    return password_hash


def entra_user(user_name: str, email: str | None = None, **extra) -> dict:
    """Return a user as Entra's default mappings send it."""
    return {
        "schemas": [USER],
        "userName": user_name,
        "active": True,
        "displayName": user_name.split("@")[0].title(),
        "emails": [{"primary": True, "type": "work", "value": email or user_name}],
        "externalId": user_name.split("@")[0],
        **extra,
    }


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot for a person to look at; return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
