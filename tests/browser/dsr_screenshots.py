"""Screenshots of the data-protection officer's views for docs/screenshots/ (issue 15):
`python -m tests.browser.dsr_screenshots` from the repository root (needs /usr/bin/chromium).

It seeds the week of cases of `dsr_scenes.py` in a temporary directory, serves the data-rights
backend on a loopback port and saves, at 1280 px wide: the case list (open cases, the default),
the closed case's page, and its response letter in Swedish and in English (whole pages). Look at
each image after running it: a test cannot tell whether a page looks right.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from tests.browser import dsr_scenes as scenes
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

OUT = scenes.ROOT / "docs" / "screenshots"


async def shoot(out: Path = OUT) -> list[Path]:
    """Save the screenshots into `out` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp:
        refs = await scenes.seed(Path(tmp))
        server = TestServer(scenes.make_app(Path(tmp), scenes.Clock(scenes.TODAY)), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("/"))
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="sv-SE")
                await scenes.log_in(page, base)
                for name, path, whole in (
                        ("dsr-list", "cases", False),
                        ("dsr-case", f"cases/{refs['closed']}", True),
                        ("dsr-letter-sv", f"cases/{refs['closed']}/letter?lang=sv", True),
                        ("dsr-letter-en", f"cases/{refs['closed']}/letter?lang=en", True)):
                    await page.goto(base + path)
                    target = out / f"{name}.png"
                    await page.screenshot(path=str(target), full_page=whole)
                    saved.append(target)
                await browser.close()
        finally:
            await server.close()
    return saved


def main() -> int:
    if not CHROMIUM.exists():
        print(f"needs chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    for path in asyncio.run(shoot()):
        print(path.relative_to(scenes.ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
