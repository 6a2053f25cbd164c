"""The drawn Entra screens: served to signed-in users, well-formed, self-contained,
filled with this instance's Tenant URL and never with a real token."""

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from apps import add_local
from apps import sign_in
from flask import render_template_string

from unleash_wizard.extensions import db
from unleash_wizard.help.illustrations import ENTRA_FLAG
from unleash_wizard.help.illustrations import HEIGHT
from unleash_wizard.help.illustrations import ILLUSTRATIONS
from unleash_wizard.help.illustrations import MASKED_TOKEN
from unleash_wizard.help.illustrations import TENANT_URL_MAX
from unleash_wizard.help.illustrations import WIDTH
from unleash_wizard.help.illustrations import fit_middle
from unleash_wizard.help.illustrations import for_step
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.wizard import steps

SVG = "{http://www.w3.org/2000/svg}"
NAMES = list(ILLUSTRATIONS)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "help" / "entra"
PUBLIC_URL = "https://wizard.example.com"  # as tests/conftest.py configures the app
TENANT_URL = PUBLIC_URL + "/scim/v2" + ENTRA_FLAG
LABEL = "Illustration — your Entra admin center may look slightly different"
# The widest common monospace fonts (DejaVu Sans Mono, Menlo, SF Mono) advance
# 0.6em per character; 0.62 leaves a margin. The box pads its text by 8px a side.
MONO_ADVANCE = 0.62
URL_FONT_SIZE = 12
BOX_PADDING = 16


def parse(body: bytes) -> ET.Element:
    """Return the root of an SVG body, which must be well-formed XML."""
    return ET.fromstring(body)


def text_of(root: ET.Element, element_id: str) -> str:
    found = root.find(f".//*[@id='{element_id}']")
    assert found is not None, element_id
    return "".join(found.itertext())


def all_text(root: ET.Element) -> str:
    return " ".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


@pytest.mark.parametrize("name", NAMES)
def test_illustration_renders_for_a_signed_in_admin(signed_in, name):
    response = signed_in.get(f"/help/entra/{name}.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    root = parse(response.data)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text.startswith("Illustration: ")
    assert desc is not None and len(desc.text) > 80
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert LABEL in all_text(root)
    assert "font-family: system-ui" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", NAMES)
def test_illustration_has_no_external_reference_and_no_script(signed_in, name):
    body = signed_in.get(f"/help/entra/{name}.svg").get_data(as_text=True)
    root = parse(body.encode())

    for element in root.iter():
        tag = element.tag.removeprefix(SVG)
        assert tag not in {"script", "image", "foreignObject", "use", "a", "iframe"}, tag
        for attribute, value in element.attrib.items():
            assert not attribute.lower().startswith("on"), attribute
            if attribute.endswith("href"):
                assert value.startswith("#"), value
            assert "url(" not in value or "url(#" in value, value
    style = "".join(node.text or "" for node in root.iter(f"{SVG}style"))
    assert "@import" not in style and "url(" not in style and "@font-face" not in style
    # Only the SVG namespace and this instance's own URL may look like a URL.
    rest = body.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(PUBLIC_URL, "")
    assert not re.search(r"https?:|//[a-z]", rest, re.IGNORECASE)


def test_credentials_show_this_instances_tenant_url_and_a_masked_token(signed_in):
    root = parse(signed_in.get("/help/entra/provisioning-credentials.svg").data)

    assert text_of(root, "tenant-url") == TENANT_URL
    assert text_of(root, "secret-token") == MASKED_TOKEN
    assert TENANT_URL in root.find(f"{SVG}desc").text
    assert MASKED_TOKEN.startswith("uwz_") and set(MASKED_TOKEN[4:]) == {"\u2022"}


def test_special_characters_in_public_url_are_escaped(signed_in_with):
    public_url = "https://wizard.example.com/a&b<c>\"d'"
    client = signed_in_with(PUBLIC_URL=public_url)

    response = client.get("/help/entra/provisioning-credentials.svg")

    body = response.get_data(as_text=True)
    assert "a&amp;b&lt;c&gt;" in body
    assert "a&b<c" not in body
    root = parse(response.data)  # still well-formed
    assert text_of(root, "tenant-url") == public_url + "/scim/v2" + ENTRA_FLAG


def test_long_tenant_url_is_shortened_in_the_middle_to_fit_its_box(signed_in_with):
    host = "https://" + "provisioning-" * 4 + "example.com"
    public_url = host + "/" + "x" * (120 - len(host) - len("/scim/v2" + ENTRA_FLAG) - 1)
    full = public_url + "/scim/v2" + ENTRA_FLAG
    assert len(full) == 120
    client = signed_in_with(PUBLIC_URL=public_url)

    root = parse(client.get("/help/entra/provisioning-credentials.svg").data)

    shown = text_of(root, "tenant-url")
    assert len(shown) == TENANT_URL_MAX
    assert shown.startswith("https://provisioning-")
    assert shown.endswith("/scim/v2" + ENTRA_FLAG)
    assert "\u2026" in shown
    box = root.find(".//*[@id='tenant-url-box']")
    assert TENANT_URL_MAX * MONO_ADVANCE * URL_FONT_SIZE + BOX_PADDING <= float(box.get("width"))
    # The full URL stays in the description, for screen readers.
    assert full in root.find(f"{SVG}desc").text


def test_fit_middle_keeps_short_text_and_the_tail_of_long_text():
    assert fit_middle("short", 10) == "short"
    assert fit_middle("a" * 10, 10) == "a" * 10
    shortened = fit_middle("h" * 50 + "/scim/v2" + ENTRA_FLAG, 30, keep_tail=25)
    assert len(shortened) == 30
    assert shortened == "hhhh\u2026/scim/v2" + ENTRA_FLAG
    assert fit_middle("abcdefghij", 5) == "ab\u2026ij"


def test_pictures_never_contain_a_token_issued_in_the_database(app, signed_in):
    with app.app_context():
        settings.put(db.session, settings.SCIM_ENABLED, True)
        issued = tokens.issue(db.session, "entra")
        db.session.commit()
        secret, prefix, stored = issued.secret, issued.token.prefix, issued.token.token_hash

    for name in NAMES:
        body = signed_in.get(f"/help/entra/{name}.svg").get_data(as_text=True)
        assert secret not in body
        assert secret[len("uwz_") :] not in body
        assert prefix not in body
        assert stored not in body


def test_anonymous_visitor_is_sent_to_sign_in(client, admin):
    response = client.get("/help/entra/mappings.svg")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_viewer_may_see_the_pictures(app, client, admin):
    add_local(app, "viewer", role="viewer")
    sign_in(client, "viewer")

    assert client.get("/help/entra/mappings.svg").status_code == 200


@pytest.mark.parametrize("name", ["nope", "_frame", "_parts", "Mappings"])
def test_unknown_picture_is_404(signed_in, name):
    assert signed_in.get(f"/help/entra/{name}.svg").status_code == 404


def test_unchanged_picture_answers_not_modified(signed_in):
    first = signed_in.get("/help/entra/enterprise-apps.svg")

    again = signed_in.get(
        "/help/entra/enterprise-apps.svg", headers={"If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304


def test_every_entra_step_of_the_wizard_has_a_picture():
    entra_steps = {step.number for step in steps.STEPS if step.where == steps.ENTRA}

    assert entra_steps
    for number in entra_steps:
        assert for_step(number), f"wizard step {number} has no picture"
    assert {item.step for item in ILLUSTRATIONS.values()} <= entra_steps
    for name, item in ILLUSTRATIONS.items():
        assert (TEMPLATES / f"{name}.svg").is_file(), name
        assert item.caption and item.alt


class FigureParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_figure_macro_links_the_picture_full_size(app):
    template = (
        '{% from "help/_figure.html" import figure, step_figures %}'
        '{{ figure("mappings", caption, alt) }}|{{ step_figures(3) }}'
    )
    with app.test_request_context():
        html = render_template_string(template, caption="Keep <four>", alt='Say "hi" & go')

    one, step_three = html.split("|")
    parser = FigureParser()
    parser.feed(one)
    tags = dict(parser.tags)
    assert tags["figure"] == {"class": "help-figure"}
    assert tags["a"] == {
        "href": "/help/entra/mappings.svg",
        "target": "_blank",
        "rel": "noopener",
    }
    assert tags["img"] == {
        "src": "/help/entra/mappings.svg",
        "alt": 'Say "hi" & go',
        "loading": "lazy",
        "width": str(WIDTH),
        "height": str(HEIGHT),
    }
    assert "".join(parser.text).strip().endswith("Keep <four> · Illustration")
    assert "Keep &lt;four&gt;" in one
    assert "style=" not in one
    assert step_three.count('class="help-figure"') == len(for_step(3)) == 2
    assert step_three.index("enterprise-apps.svg") < step_three.index("app-provisioning-nav.svg")
