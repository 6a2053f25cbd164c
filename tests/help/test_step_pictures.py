"""Every wizard step has pictures: screenshots of this app (static/help/, listed in
screenshots.json) or drawings of Entra's screens, and the wizard shows them.

The screenshots are made by `flask help screenshots` and committed; these tests
fail when a step has none, when a listed file is missing or is not a valid PNG,
or when the manifest no longer matches what the command describes.
"""

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import render_template_string
from help_helpers import read_png

from unleash_wizard.extensions import db
from unleash_wizard.help.illustrations import ILLUSTRATIONS
from unleash_wizard.help.screenshots import MANIFEST
from unleash_wizard.help.screenshots import MAX_BYTES
from unleash_wizard.help.screenshots import SHOTS
from unleash_wizard.help.screenshots import Picture
from unleash_wizard.help.screenshots import read_manifest
from unleash_wizard.store import settings
from unleash_wizard.store import tokens
from unleash_wizard.store.models import utcnow
from unleash_wizard.wizard import checks
from unleash_wizard.wizard.steps import ENTRA
from unleash_wizard.wizard.steps import HERE
from unleash_wizard.wizard.steps import STEPS

HELP = Path(__file__).resolve().parents[2] / "static" / "help"
ENTRIES = json.loads((HELP / MANIFEST).read_text(encoding="utf-8"))
STEP_NUMBERS = [step.number for step in STEPS]
# Steps that happen in this app, and steps 4 to 6, whose result this app shows.
NEED_OURS = [step.number for step in STEPS if step.where == HERE or step.number >= 4]


def ours(number: int) -> list[str]:
    return [name for name, entry in ENTRIES.items() if entry["step"] == number]


def theirs(number: int) -> list[str]:
    return [name for name, item in ILLUSTRATIONS.items() if item.step == number]


def test_the_steps_are_the_seven_of_the_guide():
    assert STEP_NUMBERS == list(range(7))
    assert NEED_OURS == [0, 1, 2, 4, 5, 6]
    assert {step.where for step in STEPS} == {HERE, ENTRA}


@pytest.mark.parametrize("number", STEP_NUMBERS)
def test_every_step_has_a_picture(number):
    assert ours(number) or theirs(number), f"step {number} has no picture"


@pytest.mark.parametrize("number", NEED_OURS)
def test_step_has_a_screenshot_of_this_app(number):
    assert ours(number), f"step {number} has no screenshot in static/help/{MANIFEST}"


def test_manifest_lists_every_picture_the_command_takes():
    assert list(ENTRIES) == list(SHOTS), "run `flask help screenshots` again"
    for name, entry in ENTRIES.items():
        shot = SHOTS[name]
        assert entry["file"] == f"{name}.png"
        assert (entry["step"], entry["caption"], entry["alt"]) == tuple(shot), name
        assert entry["step"] in STEP_NUMBERS
        assert len(entry["alt"]) > 60 and entry["alt"].startswith("Screenshot of ")


@pytest.mark.parametrize("name", list(ENTRIES))
def test_manifest_file_is_a_valid_png_of_its_size(name):
    entry = ENTRIES[name]
    path = HELP / entry["file"]
    assert path.is_file(), f"static/help/{entry['file']} is missing"

    width, height = read_png(path)

    assert (width, height) == (entry["width"], entry["height"])
    assert 300 <= width <= 1000 and 100 <= height <= 1000, (width, height)
    assert path.stat().st_size < MAX_BYTES


def test_help_folder_holds_only_what_the_manifest_lists():
    listed = {entry["file"] for entry in ENTRIES.values()} | {MANIFEST}
    assert {path.name for path in HELP.iterdir()} == listed


def test_app_reads_the_manifest(app):
    with app.app_context():
        pictures = read_manifest(HELP)
    assert list(pictures) == list(ENTRIES)
    assert all(isinstance(picture, Picture) for picture in pictures.values())
    assert read_manifest(HELP / "nowhere") == {}


@pytest.mark.parametrize("body", ["{not json", '{"x": {"file": "x.png"}}', "[1, 2]"])
def test_broken_manifest_costs_the_pictures_not_the_pages(tmp_path, body):
    (tmp_path / MANIFEST).write_text(body, encoding="utf-8")

    assert read_manifest(tmp_path) == {}


class Figures(HTMLParser):
    """Collect each <figure>: its link, its image's attributes and its caption."""

    def __init__(self):
        super().__init__()
        self.figures: list[dict] = []
        self.in_figure = False
        self.in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.figures.append({"class": attrs.get("class"), "caption": ""})
            self.in_figure = True
        elif self.in_figure and tag in ("a", "img"):
            self.figures[-1][tag] = attrs
        elif tag == "figcaption":
            self.in_caption = True

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self.in_caption = False
        elif tag == "figure":
            self.in_figure = False

    def handle_data(self, data):
        if self.in_caption:
            self.figures[-1]["caption"] += data


def figures_in(html: str) -> list[dict]:
    parser = Figures()
    parser.feed(html)
    for figure in parser.figures:
        figure["caption"] = " ".join(figure["caption"].split())
    return parser.figures


def test_screenshot_macro_links_the_picture_full_size_without_an_illustration_label(app):
    picture = Picture("step-9-x.png", 9, "Copy <this>", 'Say "hi" & go', 633, 240)
    template = '{% from "help/_figure.html" import screenshot %}{{ screenshot(picture) }}'
    with app.test_request_context():
        html = render_template_string(template, picture=picture)

    (figure,) = figures_in(html)
    assert figure["class"] == "help-figure help-screenshot"
    assert figure["a"] == {
        "href": "/static/help/step-9-x.png",
        "target": "_blank",
        "rel": "noopener",
    }
    assert figure["img"] == {
        "src": "/static/help/step-9-x.png",
        "alt": 'Say "hi" & go',
        "loading": "lazy",
        "width": "633",
        "height": "240",
    }
    assert figure["caption"] == "Copy <this>"
    assert "Copy &lt;this&gt;" in html and "style=" not in html


def test_step_page_shows_its_screenshots(signed_in):
    html = signed_in.get("/setup/lockout").get_data(as_text=True)

    figures = figures_in(html)
    assert [figure["img"]["src"] for figure in figures] == [
        f"/static/help/{ENTRIES[name]['file']}" for name in ours(0)
    ]
    for figure, name in zip(figures, ours(0), strict=True):
        entry = ENTRIES[name]
        assert figure["a"]["href"] == figure["img"]["src"]
        assert figure["img"]["alt"] == entry["alt"]
        assert (figure["img"]["width"], figure["img"]["height"]) == (
            str(entry["width"]),
            str(entry["height"]),
        )
        assert figure["caption"] == entry["caption"]
        assert "Illustration" not in figure["caption"]
    assert "What it looks like" in html


def reach_step_four(app) -> None:
    """Record steps 1 to 3 as done, so step 4 is the one to do."""
    with app.app_context():
        now = utcnow().isoformat()
        settings.put(db.session, settings.SCIM_TAB_SEEN_AT, now)
        settings.put(db.session, settings.SCIM_ENABLED, True)
        tokens.issue(db.session, "entra")
        settings.put(db.session, checks.ENTRA_APP_CONFIRMED_AT, now)
        db.session.commit()


def test_entra_step_shows_drawings_labelled_and_screenshots_not(app, signed_in):
    reach_step_four(app)

    html = signed_in.get("/setup/connect").get_data(as_text=True)

    figures = figures_in(html)
    drawn = [figure for figure in figures if figure["class"] == "help-figure"]
    shot = [figure for figure in figures if figure["class"] == "help-figure help-screenshot"]
    assert len(drawn) == len(theirs(4)) and len(shot) == len(ours(4))
    assert all(figure["caption"].endswith("· Illustration") for figure in drawn)
    assert all("Illustration" not in figure["caption"] for figure in shot)
    # Entra first (what to do there), then this app (what it shows afterwards).
    assert html.index("In Microsoft Entra") < html.index("/help/entra/") < html.index("In this app")
    assert html.index("In this app") < html.index("/static/help/step-4-")
