"""The web page in a real browser (Debian's chromium, headless, driven by Playwright): enrol two people from
``gallery_dev`` through the page, identify a query photo, and check the names shown and drawn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="faceid[serve] is not installed")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _chromium(skip_or_fail) -> str:
    for name in (os.environ.get("FACEID_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    skip_or_fail("no chromium on PATH (apt-get install chromium, or set FACEID_CHROMIUM)")


@pytest.mark.slow
def test_enrol_two_people_and_identify_through_the_page(
    start_server, gallery_dev: Path, tmp_path: Path, skip_or_fail
) -> None:
    server = start_server(str(tmp_path / "gallery.db"))
    train = gallery_dev / "train"
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=_chromium(skip_or_fail), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(server.url + "/")
            for person in ("obama", "biden"):
                page.fill("#enrol-name", person)
                page.set_input_files("#enrol-files", [str(p) for p in sorted((train / person).iterdir())])
                page.click("#enrol-button")
                playwright.expect(page.locator("#enrol-result")).to_have_text(
                    f"{person}: 2 face(s) added", timeout=60_000
                )
            playwright.expect(page.locator(".subject-name")).to_have_text(["biden", "obama"], timeout=10_000)
            page.set_input_files("#identify-file", str(gallery_dev / "query/obama_and_biden.jpg"))
            page.click("#identify-button")
            playwright.expect(page.locator("#identify-result")).to_have_text("3 face(s)", timeout=60_000)
            names = sorted(text.split(" ")[0] for text in page.locator("li.identity").all_inner_texts())
            assert names == ["biden", "obama", "unknown"]
            size = page.evaluate("[document.getElementById('canvas').width, document.getElementById('canvas').height]")
            assert size == [2000, 1428]  # the photo drawn at its own size, boxes on top
            page.locator("#canvas").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "identify.png"), full_page=True)
            # Deleting a subject from the page removes it from the list.
            page.once("dialog", lambda dialog: dialog.accept())
            page.locator("tr", has_text="biden").get_by_role("button", name="Delete").click()
            playwright.expect(page.locator(".subject-name")).to_have_text(["obama"], timeout=10_000)
        finally:
            browser.close()
    assert (tmp_path / "identify.png").stat().st_size > 10_000
    if os.environ.get("FACEID_KEEP_SCREENSHOT"):
        shutil.copy(tmp_path / "identify.png", os.environ["FACEID_KEEP_SCREENSHOT"])
