"""Helpers for the browser tests."""

from pathlib import Path

from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# A password the first-run strength check accepts.
ADMIN_PASSWORD = "Break glass in case 42"


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot for a person to look at; return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
