"""`flask help screenshots` end to end, and the parts of it that keep a token out of pictures.

The end-to-end test runs the real command in a subprocess, as an operator does:
it starts the app under gunicorn on its own throwaway SQLite database, drives
Debian's chromium and writes every picture into a temporary folder.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from help_helpers import read_png

from unleash_wizard.help.illustrations import MASKED_TOKEN
from unleash_wizard.help.screenshots import MANIFEST
from unleash_wizard.help.screenshots import SHOTS
from unleash_wizard.help.screenshots import ScreenshotError
from unleash_wizard.help.screenshots import Written
from unleash_wizard.help.screenshots import mask_secret
from unleash_wizard.help.screenshots import png_dimensions
from unleash_wizard.help.screenshots import write_manifest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "uwz_Zq3v9PnR2kLx8TbW4yHc6MdJ1sFg7AeU5oNiQrYt0E"
# What a token looks like: the prefix, then more than a few URL-safe characters.
TOKEN = re.compile(r"uwz_[A-Za-z0-9_-]{6,}")
PAGE = f"""<!doctype html>
<main>
  <p>New token</p>
  <code id="new-token-secret">{SECRET}</code>
  <button data-copy-value="{SECRET}">Copy</button>
  <input id="field" value="{SECRET}">
  <p>Paste {SECRET} into Entra, then {SECRET} again.</p>
</main>"""


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


def test_mask_replaces_the_token_everywhere_in_the_page(page):
    page.set_content(PAGE)

    places = mask_secret(page, SECRET)

    assert places == 4  # the code, the attribute, the input, the sentence (twice in it)
    assert SECRET not in page.content()
    assert page.locator("#new-token-secret").inner_text() == MASKED_TOKEN
    assert page.locator("#field").input_value() == MASKED_TOKEN
    assert page.locator("button").get_attribute("data-copy-value") == MASKED_TOKEN
    assert page.locator("p").nth(1).inner_text() == (
        f"Paste {MASKED_TOKEN} into Entra, then {MASKED_TOKEN} again."
    )
    assert MASKED_TOKEN == "uwz_" + "\u2022" * 12 and not TOKEN.search(MASKED_TOKEN)


def test_mask_refuses_an_empty_secret(page):
    page.set_content(PAGE)

    with pytest.raises(ScreenshotError):
        mask_secret(page, "")


def test_manifest_keeps_the_other_pictures_when_one_is_taken_again(tmp_path):
    names = list(SHOTS)
    first = [Written(name, tmp_path / f"{name}.png", 600, 300, 1000) for name in names]
    write_manifest(tmp_path, list(reversed(first)))

    write_manifest(tmp_path, [Written(names[2], tmp_path / f"{names[2]}.png", 640, 320, 900)])

    entries = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert list(entries) == names
    assert (entries[names[2]]["width"], entries[names[2]]["height"]) == (640, 320)
    assert all(entries[name]["width"] == 600 for name in names if name != names[2])


def test_png_dimensions_read_the_header():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + (633).to_bytes(4) + (240).to_bytes(4)
    assert png_dimensions(header + b"\x08\x02\x00\x00\x00") == (633, 240)
    with pytest.raises(ValueError):
        png_dimensions(b"GIF89a" + bytes(30))


def run_flask(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run `flask --app app ARGS` from the repository root, as an operator would."""
    env = {
        **os.environ,
        # The command's own app: nothing of it may land in the repository's instance/.
        "SECRET_KEY": "screenshots-test",
        "DATABASE_URL": "sqlite://",
    }
    env.pop("TEST_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_unknown_picture_name_is_refused_before_anything_starts(runner, tmp_path):
    out = tmp_path / "help"

    result = runner.invoke(args=["help", "screenshots", "--out", str(out), "--only", "nope"])

    assert result.exit_code == 2
    assert "step-2-token" in result.output
    assert not out.exists()


def test_command_makes_every_picture_from_a_fresh_database(tmp_path):
    out = tmp_path / "help"
    committed = (ROOT / "static" / "help" / MANIFEST).read_bytes()

    result = run_flask("help", "screenshots", "--out", str(out), timeout=120)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    entries = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert list(entries) == list(SHOTS)
    for name, entry in entries.items():
        width, height = read_png(out / entry["file"])
        assert (width, height) == (entry["width"], entry["height"])
        assert 300 <= width <= 1000 and 100 <= height <= 1000, (name, width, height)
        assert f"{entry['file']}  {width}x{height}" in result.stdout
    assert {path.name for path in out.iterdir()} == {f"{name}.png" for name in SHOTS} | {MANIFEST}
    # The token was shown once on the SCIM tab and masked before its picture.
    assert "Token masked in the page before its picture (1 place)" in result.stdout
    assert "every step done in the demo: 7 of 7" in result.stdout
    assert not TOKEN.search(output)
    # The demo database was thrown away; the committed pictures were not touched.
    folder = re.search(r"database in (\S+)", result.stdout).group(1)
    assert not Path(folder).exists()
    assert (ROOT / "static" / "help" / MANIFEST).read_bytes() == committed
