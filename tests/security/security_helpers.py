"""Helpers for the security tests: every URL of the app, and what an HTML page may not hold."""

import itertools
from html.parser import HTMLParser

from flask import Flask
from werkzeug.routing import Rule

from unleash_wizard.help.illustrations import ILLUSTRATIONS
from unleash_wizard.wizard.steps import STEPS

PASSWORD = "Correct horse battery 9"
SCIM_JSON = "application/scim+json"


def candidates(app: Flask, known: dict[str, list]) -> dict[str, list]:
    """Return the values to try for each URL argument: known ids plus the app's own names."""
    return {
        "slug": [step.slug for step in STEPS],
        "kind": ["users", "groups"],
        "filename": ["css/app.css", "js/app.js", "js/live.js"],
        "schema_id": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        **known,
    }


def urls_of(rule: Rule, values: dict[str, list]) -> list[str]:
    """Return the URLs of rule for every combination of the candidate values."""
    names = sorted(rule.arguments)
    choices = []
    for name in names:
        if name == "name":
            pool = list(ILLUSTRATIONS) if rule.endpoint == "help.entra" else ["User", "Group"]
        else:
            pool = values.get(name) or ["unknown"]
        choices.append(pool)
    urls = []
    for combination in itertools.product(*choices):
        try:
            urls.append(rule.build(dict(zip(names, combination, strict=True)))[1])
        except Exception:  # a value the converter refuses, such as a word for an int
            continue
    return urls


def get_urls(app: Flask, known: dict[str, list], scim: bool = False) -> list[tuple[str, str]]:
    """Return (endpoint, url) for every GET route: the admin UI, or the SCIM API with scim."""
    values = candidates(app, known)
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/scim/v2") != scim:
            continue
        found.extend((rule.endpoint, url) for url in urls_of(rule, values))
    return found


class InlineCode(HTMLParser):
    """Collect what a strict Content-Security-Policy would block in an HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> block")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")


def inline_code(html: str) -> list[str]:
    """Return what in html a CSP without 'unsafe-inline' would refuse."""
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems
