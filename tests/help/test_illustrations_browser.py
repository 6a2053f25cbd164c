"""The drawn Entra screens in a real browser: they render offline, and text stays inside.

Each picture is saved as served, opened from a file in Debian's chromium with
every other request refused, measured, and kept as a PNG under the test's tmp
folder for a person to look at.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from unleash_wizard.help.illustrations import ENTRA_FLAG
from unleash_wizard.help.illustrations import HEIGHT
from unleash_wizard.help.illustrations import ILLUSTRATIONS
from unleash_wizard.help.illustrations import WIDTH

LONG_PUBLIC_URL = "https://" + "provisioning-" * 4 + "example.com/" + "x" * 23
MEASURE = """() => {
  const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  const url = document.getElementById("tenant-url");
  return {
    texts: [...document.querySelectorAll("text")].map((t) => [t.textContent, box(t)]),
    url: url && box(url),
    urlBox: url && box(document.getElementById("tenant-url-box")),
  };
}"""


def render(browser: Browser, svg: bytes, path: Path) -> dict:
    """Open svg from a file with the network refused; return text boxes and save a PNG."""
    path.write_bytes(svg)
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    others = []

    def route(request_route):
        if request_route.request.url == path.as_uri():
            request_route.continue_()
        else:
            others.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    try:
        page.goto(path.as_uri())
        measured = page.evaluate(MEASURE)
        page.screenshot(path=str(path.with_suffix(".png")))
    finally:
        page.close()
    assert others == [], f"{path.name} asked for {others}"
    return measured


@pytest.mark.parametrize("public_url", [None, LONG_PUBLIC_URL], ids=["short", "long"])
def test_pictures_render_offline_with_text_inside(browser, signed_in_with, tmp_path, public_url):
    overrides = {"PUBLIC_URL": public_url} if public_url else {}
    client = signed_in_with(**overrides)

    for name in ILLUSTRATIONS:
        response = client.get(f"/help/entra/{name}.svg")
        assert response.status_code == 200
        measured = render(browser, response.data, tmp_path / f"{name}.svg")

        assert len(measured["texts"]) > 20
        for text, (left, top, right, bottom) in measured["texts"]:
            assert 0 <= left and right <= WIDTH and 0 <= top and bottom <= HEIGHT, (name, text)
        if measured["url"]:
            url_left, _, url_right, _ = measured["url"]
            box_left, _, box_right, _ = measured["urlBox"]
            assert box_left < url_left and url_right < box_right, (name, measured)
    assert (tmp_path / "provisioning-credentials.png").stat().st_size > 10_000


def test_long_url_fits_in_the_tenant_url_box(browser, signed_in_with, tmp_path):
    assert len(LONG_PUBLIC_URL + "/scim/v2" + ENTRA_FLAG) == 120
    client = signed_in_with(PUBLIC_URL=LONG_PUBLIC_URL)

    body = client.get("/help/entra/provisioning-credentials.svg").data
    measured = render(browser, body, tmp_path / "long.svg")

    (_, _, url_right, _), (_, _, box_right, _) = measured["url"], measured["urlBox"]
    assert url_right <= box_right - 8
