"""Drawings of Microsoft Entra admin center screens, filled in for this instance.

Entra's screens cannot be photographed from here, so the wizard shows SVG
drawings of them instead: our own neutral artwork (no Microsoft artwork or
logos), with this instance's Tenant URL filled in and the field to fill
highlighted. The token is always a fixed mask, never read from the database.
Each picture says that it is an illustration.
"""

from typing import NamedTuple

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import render_template
from flask import request
from flask_login import login_required

from ..admin.views import scim_url
from ..store.tokens import TOKEN_PREFIX

bp = Blueprint("help", __name__, url_prefix="/help")

# The drawing's own size; the figure macro gives <img> the same so the page
# does not jump while it loads.
WIDTH = 800
HEIGHT = 500
# Entra's SCIM compliance flag, as the guide says to append it to the Tenant URL.
# Kept here rather than taken from the wizard: the wizard shows these pictures
# and imports this module.
ENTRA_FLAG = "?aadOptscim062020"
# A fixed mask: the real token is shown once, on the SCIM tab, and never here.
MASKED_TOKEN = TOKEN_PREFIX + "\u2022" * 12
# The Tenant URL box holds this many monospace characters at 12px (tested);
# longer URLs lose their middle, keeping the host's start and the flag.
TENANT_URL_MAX = 66
KEEP_TAIL = len("/scim/v2" + ENTRA_FLAG)

SVG_HEADERS = {
    "Content-Type": "image/svg+xml",
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    # Opened on its own (the figure links to it), the SVG is a document: let it
    # load nothing and run nothing, only its own <style>.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


class Illustration(NamedTuple):
    step: int
    caption: str
    alt: str


# name -> (wizard step number, caption, alt text), in the order the admin clicks.
ILLUSTRATIONS: dict[str, Illustration] = {
    "enterprise-apps": Illustration(
        3,
        "In the Entra admin center, open Enterprise applications, then your SSO app",
        "Drawing of the Entra admin center: in the left menu, Identity, Applications, "
        "Enterprise applications is marked 1; the list of applications has the row "
        "'Your SSO app' marked 2.",
    ),
    "app-provisioning-nav": Illustration(
        3,
        "In your SSO app's menu, choose Provisioning",
        "Drawing of the app's overview page in Entra: in the app's menu under Manage, "
        "the item Provisioning is highlighted and marked 3.",
    ),
    "provisioning-credentials": Illustration(
        4,
        "Provisioning Mode Automatic, then the Tenant URL and Secret Token, Test Connection "
        "and Save",
        "Drawing of Entra's Provisioning page: Provisioning Mode set to Automatic; under "
        "Admin Credentials, the Tenant URL field holds this app's Tenant URL and the Secret "
        "Token field a hidden token, both highlighted; the Test Connection button is called "
        "out, and Save in the toolbar.",
    ),
    "mappings": Illustration(
        5,
        "Provision Microsoft Entra ID Users: keep five mappings, take the email from "
        "userPrincipalName, delete the rest",
        "Drawing of Entra's attribute mapping table for Provision Microsoft Entra ID Users: "
        'userName, active, displayName and externalId are kept; emails[type eq "work"].value '
        "is highlighted, its source changed to userPrincipalName; every other row, such as "
        "title, name, addresses, phone numbers, department and manager, is struck through and "
        "marked Delete.",
    ),
    "provisioning-on": Illustration(
        6,
        "Set Provisioning Status to On and Save, or use Start provisioning",
        "Drawing of Entra's Provisioning page: under Settings, Scope is 'Sync only assigned "
        "users and groups'; the Provisioning Status switch is set to On and highlighted, with "
        "Save marked in the toolbar; below, the provisioning overview's Start provisioning "
        "button is highlighted as the other way to do the same.",
    ),
}


def for_step(number: int) -> list[tuple[str, Illustration]]:
    """Return the (name, illustration) pairs of a wizard step, in click order."""
    return [(name, item) for name, item in ILLUSTRATIONS.items() if item.step == number]


def fit_middle(text: str, limit: int, keep_tail: int = 0) -> str:
    """Return text shortened to limit characters with an ellipsis in the middle.

    At least keep_tail characters of the end survive, so a Tenant URL keeps its
    "/scim/v2?aadOptscim062020".
    """
    if len(text) <= limit:
        return text
    room = limit - 1
    tail = min(max(room // 2, keep_tail), room)
    head = room - tail
    return text[:head] + "\u2026" + (text[-tail:] if tail else "")


def tenant_url() -> str:
    """Return the Tenant URL to give Entra: the SCIM API URL with the compliance flag."""
    return scim_url() + ENTRA_FLAG


@bp.app_template_global("entra_illustrations")
def entra_illustrations(step: int) -> list[tuple[str, Illustration]]:
    """Offer templates the illustrations of a wizard step (see help/_figure.html)."""
    return for_step(step)


@bp.get("/entra/<name>.svg")
@login_required
def entra(name: str):
    if name not in ILLUSTRATIONS:
        abort(404)
    url = tenant_url()
    # Flask autoescapes templates named *.svg (since 2.2), so the URL, which
    # comes from PUBLIC_URL or the Host header, is XML-escaped (tested).
    body = render_template(
        f"help/entra/{name}.svg",
        tenant_url=url,
        tenant_url_shown=fit_middle(url, TENANT_URL_MAX, KEEP_TAIL),
        masked_token=MASKED_TOKEN,
        width=WIDTH,
        height=HEIGHT,
    )
    response = make_response(body, 200, SVG_HEADERS)
    # no-cache revalidates: an unchanged picture costs a 304, a changed
    # PUBLIC_URL shows at once.
    response.add_etag()
    return response.make_conditional(request)
