"""The agent console in a real browser (Debian chromium): log in, accept, reply, close; user text inert."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.handoff.console import CONSOLE_KEY
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
                await page.locator("#transcript").get_by_text("Du pratar nu med Alex på Halmstad direkt.").wait_for()

                reply = await chat(http, srv.base, "browser-guardian", HOSTILE)
                assert reply["handoff"] is True
                hostile = page.locator("#transcript .text", has_text=HOSTILE)
                await hostile.wait_for(timeout=10_000)
                assert await hostile.is_visible()
                assert await page.locator("#transcript img").count() == 0
                assert dialogs == []

                await page.get_by_label("Sök färdigt svar från kunskapsbanken").fill("aktivera appen")
                await page.locator("#canned-results button").first.click()
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


class FrozenClock:
    """Seconds for the console's login throttle that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_throttled_login_says_how_long_to_wait_not_wrong_password(tmp_path, browser, axe_violations):
    """Issue 13: during a login delay the right password is answered 429; the agent must read
    that they should wait (with the seconds from Retry-After), in an alert, not "wrong password"."""
    playwright_api = pytest.importorskip("playwright.async_api")
    expect = playwright_api.expect
    async with running(tmp_path, TUESDAY) as srv:
        clock = FrozenClock()
        srv.app[CONSOLE_KEY].login_guard.clock = clock
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        error = page.locator("#login-error")

        async def log_in(password: str):
            await page.get_by_label("Användarnamn" if "lang=sv" in page.url else "Username").fill("agent")
            field = page.get_by_label("Lösenord" if "lang=sv" in page.url else "Password")
            await field.fill(password)
            async with page.expect_response(lambda r: r.url.endswith("/agent/api/login")) as answer:
                await field.press("Enter")
            return await answer.value

        try:
            await page.goto(f"{srv.base}/agent/login?lang=sv")
            for i in range(5):
                assert (await log_in(f"fel lösenord {i}")).status == 401
                await expect(error).to_have_text("Fel användarnamn eller lösenord.")

            held = await log_in(AGENT_PASSWORD)  # the right password, during the delay
            assert held.status == 429 and held.headers["retry-after"] == "2"
            await expect(error).to_have_text("För många försök. Vänta 2 sekunder och försök igen.")
            await expect(error).to_be_visible()
            assert await error.get_attribute("role") == "alert"  # announced by screen readers
            assert "/agent/login" in page.url
            violations = await axe_violations(page)
            assert violations == [], violations

            clock.now += 2
            assert (await log_in("fel igen")).status == 401
            await page.goto(f"{srv.base}/agent/login?lang=en")
            held = await log_in(AGENT_PASSWORD)
            assert held.status == 429 and held.headers["retry-after"] == "4"  # it grows: 2, 4, 8 …
            await expect(error).to_have_text("Too many attempts. Wait 4 seconds and try again.")
            violations = await axe_violations(page)
            assert violations == [], violations

            clock.now += 4
            await log_in(AGENT_PASSWORD)
            await page.wait_for_url(f"{srv.base}/agent/?lang=en")
            assert errors == []
        finally:
            await context.close()
