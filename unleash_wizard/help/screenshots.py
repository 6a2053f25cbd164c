"""Screenshots of this app's own screens, taken by the app itself.

``flask help screenshots`` starts the app under gunicorn on a throwaway SQLite
database, fills it the way a first-time admin and Entra would (the first-run
page and the SCIM tab in a browser, Entra's requests over HTTP with the token
the SCIM tab showed once), and drives Debian's headless chromium through every
wizard step. Each picture is cropped to the part its step is about, which is
outlined; the token is masked in the page before its picture is taken, so no
real token is ever in a picture, not even a throwaway one.

The pictures and their manifest (``screenshots.json``: name -> file, step,
caption, alt text, size) go to ``static/help/``; the wizard reads the manifest
to show each step's pictures (help/_figure.html). Playwright and httpx (the
test extras) are imported only by the command, never by the app.
"""

import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from typing import NamedTuple

from flask import Flask
from flask import current_app

from .illustrations import MASKED_TOKEN

ROOT = Path(__file__).resolve().parent.parent.parent
MANIFEST = "screenshots.json"
# Shown in the pictures as the app's address; the browser talks to 127.0.0.1.
PUBLIC_URL = "https://wizard.example.com"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A narrow window at 1x: a picture of a panel comes out 636px wide. A wizard
# step's picture panel has 604px on a desktop screen, so it shows at 95%; any
# narrower and the step 6 counts wrap to a second row.
VIEWPORT = {"width": 640, "height": 900}
MAX_BYTES = 150_000  # per picture, to keep the repository small
PAD = 14  # around a picture's area, so the outline and some air fit in
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0
HIGHLIGHT_COLOR = "#e8590c"
ADMIN = "breakglass"
ADMIN_GROUP = "Unleash Admins"
DOMAIN = "contoso.com"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

log = logging.getLogger(__name__)


class Screenshot(NamedTuple):
    step: int
    caption: str
    alt: str


# name -> (wizard step number, caption, alt text), in step order. The file is
# NAME.png; the alt texts describe the demo data the command puts in.
SHOTS: dict[str, Screenshot] = {
    "step-0-lockout": Screenshot(
        0,
        "Done: a local admin signs in with a password, and the admin group is set",
        "Screenshot of step 0's status panel, badge Done: 'You can always sign in with a "
        "password as breakglass.' Outlined: local admins with a password, breakglass; admin "
        "group 'Unleash Admins', 2 members.",
    ),
    "step-1-scim-url": Screenshot(
        1,
        "Single Sign-On, the SCIM tab: the SCIM API URL, with its Copy button",
        "Screenshot of the Single Sign-On page with the SCIM tab outlined; below it the SCIM "
        "API URL panel, the address https://wizard.example.com/scim/v2 outlined with its Copy "
        "button, and the Tenant URL for Entra.",
    ),
    "step-2-toggle": Screenshot(
        2,
        "On the SCIM tab, Switch SCIM on",
        "Screenshot of the SCIM tab's Provisioning panel: status 'Never switched on', and the "
        "button Switch SCIM on outlined.",
    ),
    "step-2-token": Screenshot(
        2,
        "The token for Entra, shown once: copy it now (masked here)",
        "Screenshot of the panel New token 'Entra': 'You won't see this token again. Paste it "
        "into Entra's Secret Token field now.' The token, masked as uwz_ and dots in this "
        "picture, is outlined with its Copy button; below, the button I have saved it in Entra.",
    ),
    "step-3-confirm": Screenshot(
        3,
        "Once you're on Entra's Provisioning page, say so here",
        "Screenshot of step 3's panel 'Found it?', with the button I'm on the Provisioning "
        "page outlined.",
    ),
    "step-4-connected": Screenshot(
        4,
        "Done: Entra's test connection reached this app",
        "Screenshot of step 4's status panel: badge Done and 'Entra's test connection reached "
        "this app.' outlined; below, when the test connection and the latest request with a "
        "valid token arrived.",
    ),
    "step-5-findings": Screenshot(
        5,
        "Mappings to remove, with an example user for each",
        "Screenshot of step 5's status panel, badge Needs attention. Outlined: a table of the "
        "mappings to remove in Entra, enterprise: department, name and title, each sent in 1 "
        "of 1 user updates, for example meganb@contoso.com; and a "
        'box asking to map emails[type eq "work"].value from userPrincipalName, because '
        "meganb@contoso.com has megan.bowen@contoso.com.",
    ),
    "step-6-counts": Screenshot(
        6,
        "Done: Entra provisions by itself; what it created, updated and disabled",
        "Screenshot of step 6's status panel, badge Done: 'Entra is provisioning: 8 users and "
        "2 groups created so far.' Outlined: the counts of users created, updated, disabled "
        "and deleted, of groups created, updated and deleted, of membership changes, lookups, "
        "requests and errors, with no errors.",
    ),
}


class ScreenshotError(Exception):
    """The pictures could not be made; the message says why."""


# ---------------------------------------------------------------------------
# The manifest, as the app reads it
# ---------------------------------------------------------------------------


class Picture(NamedTuple):
    file: str
    step: int
    caption: str
    alt: str
    width: int
    height: int


def read_manifest(folder: Path) -> dict[str, Picture]:
    """Return the pictures listed in folder's manifest, or {} when there is none."""
    path = folder / MANIFEST
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    return _read_manifest(str(path), stamp)


@lru_cache(maxsize=4)
def _read_manifest(path: str, _stamp: int) -> dict[str, Picture]:
    # Keyed on the file's mtime: a regenerated manifest is read again.
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        return {name: Picture(**entry) for name, entry in entries.items()}
    except (ValueError, TypeError, AttributeError) as error:
        # A broken manifest costs the pictures, not the wizard's pages.
        log.warning("Ignoring %s: %s", path, error)
        return {}


def help_folder(app: Flask | None = None) -> Path:
    """Return static/help/ of app (default: the current app)."""
    return Path((app or current_app).static_folder) / "help"


def for_step(number: int) -> list[tuple[str, Picture]]:
    """Return the (name, picture) pairs of a wizard step, in the manifest's order."""
    pictures = read_manifest(help_folder())
    return [(name, item) for name, item in pictures.items() if item.step == number]


def init_app(app: Flask) -> None:
    """Offer templates the screenshots of a step as ``our_screenshots(number)``."""
    app.add_template_global(for_step, "our_screenshots")


# ---------------------------------------------------------------------------
# PNG files, with the standard library only
# ---------------------------------------------------------------------------


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk.

    :raises ValueError: when data does not start like a PNG.
    """
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------
# In the browser: the outline and the mask
# ---------------------------------------------------------------------------

MASK_SCRIPT = """([secret, mask]) => {
  let count = 0;
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeValue.includes(secret)) {
      node.nodeValue = node.nodeValue.split(secret).join(mask);
      count += 1;
    }
  }
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of [...element.attributes]) {
      if (attribute.value.includes(secret)) {
        element.setAttribute(attribute.name, attribute.value.split(secret).join(mask));
        count += 1;
      }
    }
    if ("value" in element && typeof element.value === "string" && element.value.includes(secret)) {
      element.value = element.value.split(secret).join(mask);
      count += 1;
    }
  }
  return count;
}"""

AREA_SCRIPT = """(selectors) => {
  let box = null;
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      const r = element.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      const b = [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY];
      box = box ? [Math.min(box[0], b[0]), Math.min(box[1], b[1]),
                   Math.max(box[2], b[2]), Math.max(box[3], b[3])] : b;
    }
  }
  const page = [document.documentElement.scrollWidth, document.documentElement.scrollHeight];
  return box && {box, page};
}"""


def mask_secret(page: Any, secret: str, mask: str = MASKED_TOKEN) -> int:
    """Replace secret with mask everywhere in page's DOM; return how many places held it.

    :raises ScreenshotError: when the secret is still in the page afterwards.
    """
    if not secret:
        raise ScreenshotError("There is no secret to mask.")
    count = page.evaluate(MASK_SCRIPT, [secret, mask])
    if secret in page.content():
        raise ScreenshotError("The token is still in the page after masking it.")
    return count


def highlight_css(selectors: list[str]) -> str:
    """Return the stylesheet that outlines the elements a picture is about."""
    targets = ",\n".join(selectors)
    return (
        f"{targets} {{\n"
        f"  outline: 3px solid {HIGHLIGHT_COLOR} !important;\n"
        "  outline-offset: 4px !important;\n"
        "  border-radius: 4px;\n"
        "}\n"
    )


@dataclass(frozen=True)
class Written:
    name: str
    path: Path
    width: int
    height: int
    size: int


class Camera:
    """Takes the pictures of one run: crops, outlines, writes, and remembers what it wrote."""

    def __init__(self, page: Any, out: Path, only: str | None):
        self.page = page
        self.out = out
        self.only = only
        self.written: list[Written] = []

    def wanted(self, name: str) -> bool:
        return self.only is None or self.only == name

    def shoot(self, name: str, area: list[str], outline: list[str], css: str = "") -> None:
        """Save NAME.png: the union of the area's elements, the outline's elements outlined.

        css is added to the page for the picture only (to fit an outline to its content).
        """
        if name not in SHOTS:
            raise ScreenshotError(f"No picture called {name!r} is described in SHOTS.")
        if not self.wanted(name):
            return
        page = self.page
        for selector in outline:
            if page.locator(selector).count() == 0:
                raise ScreenshotError(f"{name}: nothing on {page.url} matches {selector!r}.")
        style = page.add_style_tag(content=highlight_css(outline) + css)
        # No focus ring of the page's own next to the outline.
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        try:
            found = page.evaluate(AREA_SCRIPT, area)
            if found is None:
                raise ScreenshotError(f"{name}: nothing on {page.url} matches {area!r}.")
            (left, top, right, bottom), (page_width, page_height) = found["box"], found["page"]
            left, top = max(0, math.floor(left) - PAD), max(0, math.floor(top) - PAD)
            right = min(page_width, math.ceil(right) + PAD)
            bottom = min(page_height, math.ceil(bottom) + PAD)
            data = page.screenshot(
                clip={"x": left, "y": top, "width": right - left, "height": bottom - top},
                full_page=True,
                animations="disabled",
                caret="hide",
            )
        finally:
            style.evaluate("node => node.remove()")
        width, height = png_dimensions(data)
        path = self.out / f"{name}.png"
        path.write_bytes(data)
        self.written.append(Written(name, path, width, height, len(data)))


# ---------------------------------------------------------------------------
# The app under gunicorn, on a throwaway database
# ---------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_schema(db_url: str) -> None:
    """Build the schema on db_url with the migrations, as a first start does."""
    import flask_migrate

    from .. import create_app
    from ..extensions import db

    # Alembic's env.py configures logging when nothing has: its INFO lines
    # would bury the command's report.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING)
    app = create_app({"SECRET_KEY": "schema", "SQLALCHEMY_DATABASE_URI": db_url})
    with app.app_context():
        flask_migrate.upgrade()
        db.session.remove()
        db.engine.dispose()


def gunicorn_command(port: int) -> list[str]:
    """Return the command that serves app:app on 127.0.0.1:port with two workers."""
    from gunicorn.config import KNOWN_SETTINGS

    # Newer gunicorns open ~/.gunicorn/gunicorn.ctl, which another gunicorn
    # on this machine may hold.
    no_socket = any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--preload",  # the app is imported once, before the workers fork
        "--graceful-timeout",
        "2",
        *(["--no-control-socket"] if no_socket else []),
        "app:app",
    ]


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ScreenshotError(
                f"gunicorn exited with status {process.returncode}:\n{tail(log_path)}"
            )
        try:
            answer = httpx.get(url + "/healthz", timeout=2.0)
            if answer.status_code == 200:
                return
            last = f"/healthz answered {answer.status_code}"
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.1)
    raise ScreenshotError(f"The demo app did not start in time ({last}):\n{tail(log_path)}")


def tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return ""


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # quick shutdown: the demo is over
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


@contextmanager
def demo_server(folder: Path) -> Iterator[str]:
    """Serve the app on a new SQLite database in folder; yield its http://127.0.0.1 URL."""
    db_url = f"sqlite:///{folder / 'demo.db'}"
    create_schema(db_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": secrets.token_hex(32),
        "PUBLIC_URL": PUBLIC_URL,
        # Counters of this demo only, never a shared Redis.
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = folder / "gunicorn.log"
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            gunicorn_command(port),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, log_path)
            yield url
        except ScreenshotError:
            raise
        except Exception as error:
            raise ScreenshotError(f"{error}\n--- demo app log ---\n{tail(log_path)}") from error
        finally:
            stop(process)


# ---------------------------------------------------------------------------
# Entra, played over HTTP with Contoso's people
# ---------------------------------------------------------------------------


class Person(NamedTuple):
    given: str
    family: str
    alias: str  # the part before @ in the UPN, Entra's mailNickname

    @property
    def upn(self) -> str:
        return f"{self.alias}@{DOMAIN}"

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"

    @property
    def mail(self) -> str:
        return f"{self.given}.{self.family}@{DOMAIN}".lower()


# Contoso, Microsoft's fictional company, and people from its demo tenants.
MEGAN = Person("Megan", "Bowen", "meganb")
PEOPLE = (
    MEGAN,
    Person("Nestor", "Wilke", "nestorw"),
    Person("Adele", "Vance", "adelev"),
    Person("Alex", "Wilber", "alexw"),
    Person("Diego", "Siciliani", "diegos"),
    Person("Isaiah", "Langer", "isaiahl"),
    Person("Lidia", "Holloway", "lidiah"),
    Person("Pradeep", "Gupta", "pradeepg"),
)
GROUPS = {
    ADMIN_GROUP: ("meganb", "nestorw"),
    "Product Team": ("adelev", "alexw", "diegos", "isaiahl", "lidiah"),
}


def entra_client(url: str, token: str):
    """Return an httpx client on url's /scim/v2 with Entra's headers and compliance flag."""
    import httpx

    return httpx.Client(
        base_url=url + "/scim/v2",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
        },
        params={"aadOptscim062020": ""},
        timeout=30,
    )


class Entra:
    """Sends what Entra's provisioning service sends, with the compliance flag on."""

    def __init__(self, url: str, token: str):
        self.client = entra_client(url, token)
        self.ids: dict[str, str] = {}

    def close(self) -> None:
        self.client.close()

    def send(self, method: str, path: str, expect: int, **kwargs) -> Any:
        answer = self.client.request(method, path, **kwargs)
        if answer.status_code != expect:
            raise ScreenshotError(
                f"Entra's {method} {path} got {answer.status_code}, not {expect}: "
                + answer.text[:300]
            )
        return answer.json() if answer.content else None

    def test_connection(self) -> None:
        """Look up a random userName and displayName, as Test Connection does."""
        for path, attribute in (("/Users", "userName"), ("/Groups", "displayName")):
            query = {"filter": f'{attribute} eq "{uuid.uuid4()}"'}
            found = self.send("GET", path, 200, params=query)
            if found["totalResults"] != 0:
                raise ScreenshotError("Entra's test connection found something in a new database.")

    def provision(self, person: Person, default_mappings: bool = False) -> None:
        """Look the person up, then create them; with Entra's default mappings, many more fields."""
        self.send("GET", "/Users", 200, params={"filter": f'userName eq "{person.upn}"'})
        body: dict[str, Any] = {
            "schemas": [USER_SCHEMA],
            "externalId": person.alias,
            "userName": person.upn,
            "active": True,
            "displayName": person.name,
            "emails": [{"primary": True, "type": "work", "value": person.upn}],
        }
        if default_mappings:
            # What Entra sends before the mappings are trimmed: the work email
            # from mail, not userPrincipalName, and more attributes (a few of
            # its defaults here, so the picture stays short).
            body["schemas"].append(ENTERPRISE)
            body["emails"][0]["value"] = person.mail
            body["title"] = "Marketing Manager"
            body["name"] = {"familyName": person.family, "givenName": person.given}
            body[ENTERPRISE] = {"department": "Marketing"}
        created = self.send("POST", "/Users", 201, json=body)
        self.ids[person.alias] = created["id"]

    def patch_user(self, alias: str, operations: list[dict]) -> None:
        body = {"schemas": [PATCH_OP], "Operations": operations}
        self.send("PATCH", f"/Users/{self.ids[alias]}", 200, json=body)

    def provision_group(self, name: str, members: tuple[str, ...]) -> None:
        """Look the group up, create it, then add its members, as Entra does."""
        self.send("GET", "/Groups", 200, params={"filter": f'displayName eq "{name}"'})
        created = self.send(
            "POST",
            "/Groups",
            201,
            json={"schemas": [GROUP_SCHEMA], "displayName": name, "externalId": str(uuid.uuid4())},
        )
        members_value = [{"value": self.ids[alias]} for alias in members]
        self.send(
            "PATCH",
            f"/Groups/{created['id']}",
            204,
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": members_value}],
            },
        )


# ---------------------------------------------------------------------------
# The walk through the app
# ---------------------------------------------------------------------------


def require(page: Any, selector: str, what: str) -> None:
    """Wait briefly for selector on page.

    :raises ScreenshotError: when the demo did not reach the state its picture needs.
    """
    try:
        page.locator(selector).first.wait_for(state="visible", timeout=10_000)
    except Exception as error:  # playwright's TimeoutError
        raise ScreenshotError(f"The demo did not reach {what} on {page.url}.") from error


def walk(page: Any, url: str, camera: Camera, echo: Callable[[str], None]) -> dict[str, Any]:
    """Set the demo up through the app and take every picture; return what the report says."""
    password = secrets.token_urlsafe(18) + "-Aa1"
    facts: dict[str, Any] = {}

    # First start: every page leads to the first-run page.
    page.goto(url + "/")
    require(page, "form[action$='/setup/first-run']", "the first-run page")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create admin").click()
    page.wait_for_url(lambda address: not address.endswith("/setup/first-run"))
    page.goto(url + "/setup/")
    require(page, ".wizard-steps", "the wizard's overview")
    echo("  first admin created; the wizard is open")

    # Steps 1 and 2: Single Sign-On > SCIM, as the menu leads there.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Single Sign-On").click()
    page.get_by_role("navigation", name="Single Sign-On").get_by_role("link", name="SCIM").click()
    require(page, "#scim-url", "the SCIM tab")
    camera.shoot(
        "step-1-scim-url",
        area=["main h1", "nav.tabs", "section[aria-labelledby=scim-url-title]"],
        outline=["nav.tabs a[aria-current=page]", ".copy-row:has(> #scim-url)"],
        css=".copy-row:has(> #scim-url) { width: fit-content; }",
    )
    camera.shoot(
        "step-2-toggle",
        area=["section[aria-labelledby=provisioning-title]"],
        outline=[".toggle-form button[type=submit]"],
    )
    page.get_by_role("button", name="Switch SCIM on").click()
    require(page, "#new-token-secret", "the token shown once")
    secret = page.locator("#new-token-secret").inner_text().strip()
    if not secret.startswith("uwz_"):
        raise ScreenshotError("The SCIM tab showed no token after switching SCIM on.")
    facts["masked"] = mask_secret(page, secret)
    camera.shoot(
        "step-2-token",
        area=[".secret-panel"],
        outline=[".secret-panel .copy-row"],
        css=".secret-panel .copy-row { width: fit-content; }",
    )
    page.get_by_role("link", name="I have saved it in Entra").click()
    page.wait_for_url("**/sso/scim")
    echo("  SCIM switched on; the token was masked before its picture")

    # Step 3 is the one the admin confirms by hand.
    page.goto(url + "/setup/entra-app")
    require(page, "section[aria-labelledby=confirm-title]", "step 3's confirmation")
    camera.shoot(
        "step-3-confirm",
        area=["section[aria-labelledby=confirm-title]"],
        outline=["section[aria-labelledby=confirm-title] button[type=submit]"],
    )
    page.get_by_role("button", name="I'm on the Provisioning page").click()
    page.wait_for_url("**/setup/connect")

    entra = Entra(url, secret)
    try:
        # Step 4: Test Connection.
        entra.test_connection()
        page.goto(url + "/setup/connect")
        require(page, ".wizard-status .wizard-badge-done", "step 4 done")
        camera.shoot(
            "step-4-connected",
            area=[".wizard-status"],
            outline=[".wizard-status .wizard-status-line"],
            css=".wizard-status .wizard-status-line { width: fit-content; }",
        )
        echo("  Entra's test connection arrived")

        # Step 5: the first user comes with Entra's default mappings.
        entra.provision(MEGAN, default_mappings=True)
        page.goto(url + "/setup/mappings")
        require(page, ".wizard-status .wizard-problem", "step 5's findings")
        camera.shoot(
            "step-5-findings",
            area=[".wizard-status"],
            outline=[".wizard-status .wizard-problem"],
        )
        echo("  one user with Entra's default mappings: step 5 names what to remove")

        # The admin trims the mappings; Entra's next cycle is clean.
        page.get_by_role("button", name="Check again from now").click()
        # Recorded before Entra's next requests, or they would not count.
        require(page, ".flash-success", "the mapping check started afresh")
        entra.patch_user(
            MEGAN.alias,
            [{"op": "replace", "path": 'emails[type eq "work"].value', "value": MEGAN.upn}],
        )
        for person in PEOPLE[1:]:
            entra.provision(person)
        for name, members in GROUPS.items():
            entra.provision_group(name, members)
        # A later cycle: a new job title in the name, and someone who left.
        entra.patch_user(
            "alexw", [{"op": "replace", "path": "displayName", "value": "Alex Wilber (Sales)"}]
        )
        entra.patch_user("pradeepg", [{"op": "replace", "path": "active", "value": False}])
        page.goto(url + "/setup/mappings")
        require(page, ".wizard-status .wizard-badge-done", "step 5 done")
        echo(f"  {len(PEOPLE)} users and {len(GROUPS)} groups provisioned")

        # Step 6: the counts.
        page.goto(url + "/setup/provision")
        require(page, ".wizard-status .wizard-badge-done", "step 6 done")
        camera.shoot(
            "step-6-counts",
            area=[".wizard-status"],
            outline=[".wizard-status .wizard-counts"],
        )
    finally:
        entra.close()

    # Step 0, last: its admin group now exists, with members.
    page.goto(url + "/setup/lockout")
    page.get_by_label("Admin group").fill(ADMIN_GROUP)
    page.get_by_role("button", name="Save admin group").click()
    require(page, ".flash-success", "the admin group saved")
    require(page, ".wizard-status .wizard-badge-done", "step 0 done")
    camera.shoot(
        "step-0-lockout",
        area=[".wizard-status"],
        outline=[".wizard-status .wizard-facts"],
        # Its way on says "See the summary" now; a first-time admin sees the next step.
        css=".wizard-status .wizard-next { display: none; }",
    )

    page.goto(url + "/setup/")
    facts["done_steps"] = page.locator(".wizard-steps .wizard-badge-done").count()
    facts["steps"] = page.locator(".wizard-steps .wizard-step").count()
    return facts


def write_manifest(out: Path, written: list[Written]) -> Path:
    """Add the pictures just written to out's manifest, in SHOTS order; return its path."""
    path = out / MANIFEST
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        entries = json.loads(path.read_text(encoding="utf-8"))
    for item in written:
        shot = SHOTS[item.name]
        entries[item.name] = {
            "file": item.path.name,
            "step": shot.step,
            "caption": shot.caption,
            "alt": shot.alt,
            "width": item.width,
            "height": item.height,
        }
    ordered = {name: entries[name] for name in SHOTS if name in entries}
    path.write_text(json.dumps(ordered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Report:
    written: list[Written]
    manifest: Path
    masked: int
    done_steps: int
    steps: int


def generate(out: Path, only: str | None = None, echo: Callable[[str], None] = print) -> Report:
    """Start the demo, take the pictures into out and update its manifest.

    :raises ScreenshotError: when chromium or Playwright is missing or the demo goes wrong.
    """
    if only is not None and only not in SHOTS:
        raise ScreenshotError(f"No picture called {only!r}; choose one of {', '.join(SHOTS)}.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ScreenshotError(
            "Playwright is missing: pip install -e '.[test]' (the test extras) into .venv."
        ) from None
    executable = shutil.which(CHROMIUM)
    if executable is None:
        raise ScreenshotError(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="uwz-screenshots-") as folder:
        with demo_server(Path(folder)) as url:
            echo(f"Demo app on {url} (shown as {PUBLIC_URL}), database in {folder}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    context = browser.new_context(
                        viewport=VIEWPORT,
                        device_scale_factor=1,
                        locale="en-US",
                        timezone_id="UTC",
                        reduced_motion="reduce",
                        # The outline stylesheet is the camera's, added inline
                        # for the picture; the app's own CSP forbids inline styles.
                        bypass_csp=True,
                    )
                    page = context.new_page()
                    page.set_default_timeout(15_000)
                    camera = Camera(page, out, only)
                    facts = walk(page, url, camera, echo)
                finally:
                    browser.close()
    manifest = write_manifest(out, camera.written)
    return Report(camera.written, manifest, facts["masked"], facts["done_steps"], facts["steps"])
