"""The staff pages in a real browser (Debian chromium): 320 px reflow, keyboard focus, labels."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from backends.dsr.app import DsrConfig, add_staff, create_app, load_texts

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs chromium")]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-token"
PASSWORD = "browser password 123"


@pytest.fixture
async def server(tmp_path):
    add_staff(tmp_path, "handlaggare", PASSWORD)
    config = DsrConfig(data_dir=tmp_path, token=TOKEN, texts=load_texts(ROOT / "knowledge"),
                       clock=lambda: datetime(2026, 12, 30, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")))
    srv = TestServer(create_app(config), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def test_the_staff_pages_reflow_at_320_px_and_work_by_keyboard(server):
    playwright_api = pytest.importorskip("playwright.async_api")
    import aiohttp

    base = str(server.make_url("/"))
    async with aiohttp.ClientSession() as http:
        for i, right in enumerate(("access", "erasure")):
            body = {"right": right, "on_behalf_of": "child",
                    "requester": {"name": "Anna Andersson-Långnamnsdotter",
                                  "email": "anna.andersson.langnamn@example.com"},
                    "child": {"name": "Bo", "school": "Söndrumsskolan"},
                    "description": "x" * 300 + " <b>inte fetstil</b>", "language": "sv",
                    "channel": "web"}
            async with http.post(base + "api/requests", json=body,
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Idempotency-Key": f"b{i}"}) as resp:
                assert resp.status == 201

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 320, "height": 640}, locale="sv-SE")
            await page.goto(base + "cases")
            assert "/login" in page.url
            # Keyboard only: the first Tab reaches the skip link, which is visible when focused.
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "() => { const e = document.activeElement; const s = getComputedStyle(e);"
                " return {cls: e.className, outline: s.outlineStyle, width: e.getBoundingClientRect().width}; }")
            assert focused["cls"] == "skip" and focused["outline"] != "none" and focused["width"] > 0
            await page.fill("#username", "handlaggare")
            await page.fill("#password", PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/cases**")
            for path in ("cases", "cases/DSR-2026-00001"):
                await page.goto(base + path)
                no_scroll = await page.evaluate(
                    "() => document.documentElement.scrollWidth <= window.innerWidth + 1")
                assert no_scroll, f"{path} scrolls sideways at 320 px"
                unlabeled = await page.evaluate(
                    "() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
                    ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)")
                assert unlabeled == []
            assert await page.get_attribute("html", "lang") == "sv"    # from Accept-Language
            assert await page.locator("b").count() == 0     # the description stayed text
        finally:
            await browser.close()
