"""Make the agent console's screenshots in docs/screenshots/ (issue 15):

    python -m tests.browser.console_screenshot [DIR]      (default: docs/screenshots)

writes `agent-console-three-chats.png` (an agent holding three chats, one with an unread message,
one guardian waiting, Anna's chat open) and `agent-history.png` (the history found by a
reference). It runs the whole `serve` app on a loopback port with a fresh data directory at
Tuesday 1 December 2026 10:00 and drives Debian's chromium with Playwright.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from bot.app import ServeConfig
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Served, free_port
from tests.browser.console_scenes import Guardians, add_agents, go_available, hold_three_chats, log_in

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1440, "height": 1000}
SHOTS = ("agent-console-three-chats.png", "agent-history.png")


async def console_with_three_chats(page, served: Served, guardians: Guardians, out: Path) -> dict[str, str]:
    await log_in(page, served.base)
    await go_available(page)
    held = await hold_three_chats(page, served.base, guardians, served.runtime.handoff.service)
    await guardians.say("app-link", "Jag har fortfarande inte fått något mejl, vad gör jag?")
    await guardians.say("waiting-one", "jag vill prata med en människa")
    await page.locator("#mine-list li.unread").wait_for()
    await page.locator("#waiting-list li[data-id]").wait_for()
    await page.locator(f'#mine-list li[data-id="{held["anna-dsr"]}"]').get_by_role("button").first.click()
    await page.locator("#context").get_by_text("Personuppgifter – frågar efter kontaktuppgift").wait_for()
    await page.locator("#mine-list li.unread").wait_for()
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(out / SHOTS[0]))
    return held


async def history(page, served: Served, held: dict[str, str], out: Path) -> None:
    item_id = held["child-missing"]
    await page.request.post(f"{served.base}/agent/api/conversations/{item_id}/notes",
                            data={"text": "Skolan behöver göra kopplingen; vårdnadshavaren ringer skolan."})
    await page.request.post(f"{served.base}/agent/api/conversations/{item_id}/close", data={"outcome": "referred"})
    await page.goto(f"{served.base}/agent/history?lang=sv&q={item_id.upper()}")
    await page.locator("#result-rows tr").first.get_by_role("button").click()
    await page.locator("#notes").get_by_text("Skolan behöver").wait_for()
    await page.screenshot(path=str(out / SHOTS[1]), full_page=True)


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        add_agents(data_dir)
        served = Served(ServeConfig(port=free_port(), data_dir=Path(data_dir), now="2026-12-01T10:00",
                                    rate_limit_per_address=0, rate_limit_per_session=0))
        await served.start()
        guardians = Guardians(served.base)
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await (await browser.new_context(viewport=VIEWPORT, locale="sv-SE")).new_page()
                held = await console_with_three_chats(page, served, guardians, out)
                await history(page, served, held, out)
                await browser.close()
        finally:
            await guardians.close()
            await served.stop()
    for name in SHOTS:  # `serve` sets a private umask for its data; these are for everyone to read
        (out / name).chmod(0o644)
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
