"""The agent console in a real browser (Debian chromium): log in, accept, reply, close; user text inert."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.handoff.conftest import AGENT_PASSWORD, TUESDAY, running

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium")]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACT = ROOT / "tests" / "artifacts" / "agent-console.png"
HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


async def chat(http: aiohttp.ClientSession, base: str, session: str, text: str) -> dict:
    async with http.post(f"{base}/api/chat", json={"session": session, "text": text}) as resp:
        assert resp.status == 200
        return await resp.json()


async def transcript(http: aiohttp.ClientSession, base: str, session: str) -> list[dict]:
    async with http.get(f"{base}/api/chat/{session}/messages") as resp:
        return (await resp.json())["messages"]


async def run_axe(page) -> list[dict]:
    """Return axe-core's WCAG 2.1 A/AA violations of the page as it is now."""
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


async def test_console_login_accept_reply_close_with_inert_user_text(tmp_path):
    playwright_api = pytest.importorskip("playwright.async_api")
    async with running(tmp_path, TUESDAY) as srv, aiohttp.ClientSession() as http:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                # bypass_csp: the page must stay safe by rendering with textContent, not thanks to the CSP.
                context = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                dialogs: list[str] = []
                page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))

                await page.goto(f"{srv.base}/agent/")
                assert "/agent/login" in page.url
                await page.get_by_label("Användarnamn").fill("agent")
                await page.get_by_label("Lösenord").fill(AGENT_PASSWORD)
                await page.get_by_label("Lösenord").press("Enter")
                await page.wait_for_url(f"{srv.base}/agent/?lang=sv")
                await page.get_by_text("Inloggad som Alex").wait_for()

                switch = page.get_by_role("switch", name="Tillgänglig för chattar")
                await switch.focus()
                outline = await switch.evaluate("el => getComputedStyle(el).outlineStyle")
                assert outline != "none"  # visible keyboard focus
                await page.keyboard.press("Space")
                await page.wait_for_function("() => document.getElementById('available').checked")
                await page.get_by_text("Kön uppdateras direkt.").wait_for()  # the WebSocket is up
                asked = await chat(http, srv.base, "browser-guardian", "jag vill prata med en människa")
                assert "nummer 1 i kön" in asked["messages"][0]["text"]

                waiting = page.locator("#waiting-list li")
                await waiting.first.get_by_role("button", name="Ta emot").wait_for()
                await waiting.first.get_by_role("button", name="Ta emot").click()
                await page.locator("#reply").wait_for(state="visible")
                await page.get_by_text("Du pratar nu med Alex på Halmstad direkt.").wait_for()

                reply = await chat(http, srv.base, "browser-guardian", HOSTILE)
                assert reply["handoff"] is True
                hostile = page.locator("#transcript .text", has_text=HOSTILE)
                await hostile.wait_for(timeout=10_000)
                assert await hostile.is_visible()
                assert await page.locator("#transcript img").count() == 0
                assert dialogs == []

                await page.get_by_label("Färdiga svar från kunskapsbanken").select_option(index=1)
                await page.get_by_role("button", name="Infoga i svaret").click()
                inserted = await page.get_by_label("Ditt svar till vårdnadshavaren").input_value()
                assert inserted.strip()
                await page.get_by_label("Ditt svar till vårdnadshavaren").fill("Hej! Jag hjälper dig med appen.")
                await page.get_by_role("button", name="Skicka").click()

                async def agent_reply_arrived():
                    for _ in range(100):
                        lines = await transcript(http, srv.base, "browser-guardian")
                        if any(m["from"] == "agent" and m["text"] == "Hej! Jag hjälper dig med appen." for m in lines):
                            return True
                        await asyncio.sleep(0.05)
                    return False
                assert await agent_reply_arrived()

                if AXE.exists():
                    assert await run_axe(page) == []
                await page.screenshot(path=str(ARTIFACT), full_page=True)

                await page.get_by_label("Utfall").select_option("resolved")
                await page.get_by_role("button", name="Avsluta samtalet").click()
                await page.get_by_text("Samtalet är avslutat.").wait_for(state="attached")
                lines = await transcript(http, srv.base, "browser-guardian")
                assert [b["payload"] for b in lines[-1]["buttons"]] == [f"handoff:csat:{n}" for n in range(1, 6)]
                after = await chat(http, srv.base, "browser-guardian", "när öppnar ni?")
                assert after["handoff"] is False and after["messages"]

                await page.goto(f"{srv.base}/agent/login?lang=sv")
                if AXE.exists():
                    assert await run_axe(page) == []
                assert dialogs == [] and errors == []
            finally:
                await browser.close()
