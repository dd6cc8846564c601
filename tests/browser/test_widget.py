"""The web chat widget in a real browser (Debian chromium): keyboard-only conversations, reload,
live agent messages, a server outage with retry, rate limits, and accessibility (axe-core, 320 px,
200 % text)."""
from __future__ import annotations

import asyncio
import json

import pytest

from common.messages import Reply

pytestmark = pytest.mark.browser

LOG = ".hsw-log"
INPUT = "#hsw-input"


# Helpers ---------------------------------------------------------------------------------


async def focused(page) -> dict:
    return await page.evaluate(
        "() => { const e = document.activeElement; return {tag: e.tagName, id: e.id, text: e.textContent.trim(),"
        " cls: e.className, disabled: !!e.disabled}; }")


async def open_by_keyboard(page, base: str) -> None:
    """Load the demo page and reach the launcher with Tab only, then open it with Enter."""
    await page.goto(base + "/")
    for _ in range(15):
        await page.keyboard.press("Tab")
        if "hsw-launcher" in (await focused(page))["cls"]:
            break
    else:
        raise AssertionError("Tab never reached the chat launcher")
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "hsw-input", "opening the chat must move focus to the text field"


async def say(page, text: str) -> None:
    """Type into the focused text field and send with Enter; wait until the answer is shown."""
    before = await page.locator(f"{LOG} .hsw-msg").count()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "(n) => document.querySelectorAll('.hsw-log .hsw-msg').length > n + 1", arg=before)


async def choose(page, label: str, key: str = "Space") -> None:
    """From the text field, go back with Shift+Tab to the offered button `label` and press it."""
    assert (await focused(page))["id"] == "hsw-input", "focus should stay in the text field"
    before = await page.locator(f"{LOG} .hsw-msg").count()
    for _ in range(12):
        await page.keyboard.press("Shift+Tab")
        now = await focused(page)
        if now["tag"] == "BUTTON" and now["text"] == label:
            break
    else:
        raise AssertionError(f"no button {label!r} reachable by keyboard")
    await page.keyboard.press(key)
    await page.wait_for_function(
        "(n) => document.querySelectorAll('.hsw-log .hsw-msg').length > n + 1", arg=before)
    assert (await focused(page))["id"] == "hsw-input", "after a choice focus returns to the text field"


async def last_bot_text(page) -> str:
    return (await page.locator(f"{LOG} .hsw-bot .hsw-text").last.inner_text()).strip()


async def log_text(page) -> str:
    return await page.locator(LOG).inner_text()


async def no_sideways_scroll(page) -> bool:
    return await page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")


async def session_of(page) -> str:
    return await page.evaluate("() => sessionStorage.getItem('hsw.session')")


# Tests -----------------------------------------------------------------------------------


async def test_the_account_flow_by_keyboard_only(server, page, shot):
    await open_by_keyboard(page, server.base)
    assert await page.get_attribute(".hsw-panel", "role") == "dialog"
    assert await page.get_attribute(LOG, "role") == "log"
    assert await page.get_attribute(LOG, "aria-live") == "polite"
    # The field has a visible label, not just a placeholder.
    label = page.locator("label[for='hsw-input']")
    assert await label.is_visible() and (await label.inner_text()).strip()

    await say(page, "hur ansöker jag om konto")
    assert "nytt konto" in (await last_bot_text(page)).lower()
    await choose(page, "Nytt konto", "Space")
    assert "under 18" in await last_bot_text(page)
    await choose(page, "Ja", "Enter")
    assert "skyddade personuppgifter" in await last_bot_text(page)
    await choose(page, "Nej", "Space")
    assert "e-legitimation" in await last_bot_text(page)
    await choose(page, "Ja", "Enter")
    assert "e-tjänst" in await log_text(page)
    # Older choices are disabled; only the last message's buttons can be pressed.
    enabled = await page.evaluate(
        "() => [...document.querySelectorAll('.hsw-choice:not(:disabled)')].map(b => b.textContent)")
    assert enabled == ["Tillbaka till menyn"]
    # Links in the bot's answers are real links.
    assert await page.locator(f"{LOG} a[href='https://www.halmstad.se/skola24']").count() >= 1
    await shot(page, "widget-account-flow-1280")

    # Escape closes the panel and focus goes back to the launcher.
    await page.keyboard.press("Escape")
    assert await page.locator(".hsw-panel").is_hidden()
    assert "hsw-launcher" in (await focused(page))["cls"]
    # The close button does the same, by keyboard.
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "hsw-input"
    for _ in range(20):
        await page.keyboard.press("Shift+Tab")
        if "hsw-close" in (await focused(page))["cls"]:
            break
    await page.keyboard.press("Space")
    assert await page.locator(".hsw-panel").is_hidden()
    assert "hsw-launcher" in (await focused(page))["cls"]


async def test_reload_restores_the_conversation_and_the_flow_continues(server, page):
    await open_by_keyboard(page, server.base)
    await say(page, "hur ansöker jag om konto")
    await choose(page, "Nytt konto")
    assert "under 18" in await last_bot_text(page)
    session = await session_of(page)
    assert session and len(session) >= 22  # 128+ bits in base64url

    # Something typed but not sent survives the reload too.
    await page.keyboard.type("halvskrivet")
    await page.reload()
    await page.wait_for_selector(f"{LOG} .hsw-user")
    assert await page.locator(".hsw-panel").is_visible(), "an open chat stays open after a reload"
    assert await session_of(page) == session
    text = await log_text(page)
    assert "hur ansöker jag om konto" in text and "under 18" in text
    assert await page.input_value(INPUT) == "halvskrivet"
    await page.fill(INPUT, "")
    await page.focus(INPUT)
    await choose(page, "Ja")
    assert "skyddade personuppgifter" in await last_bot_text(page)


async def test_an_agent_message_appears_live_over_the_websocket(server, page):
    """The guardian asks for a person in the widget; an agent accepts and writes through the agent
    API; the reply shows up in the open widget without a reload."""
    import aiohttp

    from bot.channels.push import HUB_KEY
    from bot.handoff.agents import add_agent

    add_agent(server.config.data_dir, "agent", "agent password 123", display_name="Alex Andersson")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent:
        api = server.base + "/agent/api"
        async with agent.post(api + "/login", json={"username": "agent", "password": "agent password 123"}) as r:
            assert r.status == 200
        async with agent.post(api + "/availability", json={"available": True}) as r:
            assert r.status == 200

        await open_by_keyboard(page, server.base)
        await say(page, "jag vill prata med en människa")
        session = await session_of(page)
        hub = server.app[HUB_KEY]
        for _ in range(50):
            if hub.sessions.get(session):
                break
            await asyncio.sleep(0.1)
        assert hub.sessions.get(session), "the widget should hold a WebSocket for its session"

        async with agent.get(api + "/queue") as r:
            queue = await r.json()
        [item] = [i for i in queue["waiting"] if i.get("kind") == "conversation"]
        async with agent.post(api + f"/conversations/{item['id']}/accept", json={}) as r:
            assert r.status == 200
        async with agent.post(api + f"/conversations/{item['id']}/messages",
                              json={"text": "Hej, jag heter Alex. Vad kan jag hjälpa dig med?"}) as r:
            assert r.status == 200

    agent_line = page.locator(f"{LOG} .hsw-agent")
    # The WebSocket is up, so the widget is not polling: only a push brings the message this fast.
    await agent_line.wait_for(timeout=3000)
    assert "Vad kan jag hjälpa dig med?" in await agent_line.inner_text()
    assert "Handläggare" in await agent_line.inner_text()  # who wrote it, for screen readers
    # The guardian answers in the widget; the text reaches the agent, not the bot.
    await page.keyboard.type("Jag kommer inte in i appen")
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => document.querySelector('#hsw-input').value === ''")
    entries = await server.runtime.store.transcript(session)
    assert entries[-1]["from"] == "user" and entries[-1]["text"] == "Jag kommer inte in i appen"
    assert "Jag kommer inte in i appen" in await log_text(page)


async def test_a_message_posted_by_the_system_reaches_a_closed_widget(server, page):
    """A late message (e.g. a data-rights reference) arrives while the chat is closed: the
    launcher says so, and opening the chat shows it."""
    await open_by_keyboard(page, server.base)
    await say(page, "hej")
    await page.keyboard.press("Escape")
    await server.runtime.engine.post(await session_of(page), [Reply("Ditt ärende har nummer DSR-2026-00001.")],
                                     sender="system")
    await page.wait_for_function("() => document.querySelector('.hsw-launcher').textContent.includes('1')")
    await page.keyboard.press("Enter")
    assert "DSR-2026-00001" in await page.locator(f"{LOG} .hsw-system").inner_text()


async def test_without_websocket_the_widget_falls_back_to_polling(server, browser):
    context = await browser.new_context(locale="sv-SE")
    try:
        page = await context.new_page()
        await page.add_init_script("window.WebSocket = undefined;")
        await page.goto(server.base + "/")
        await page.click(".hsw-launcher")
        await say(page, "hej")
        await server.runtime.engine.post(await session_of(page), [Reply("Ett meddelande från en handläggare.")],
                                         sender="agent")
        await page.locator(f"{LOG} .hsw-agent").wait_for(timeout=9000)
    finally:
        await context.close()


async def test_server_down_shows_error_and_retry_sends_the_kept_text(server, page, shot):
    await open_by_keyboard(page, server.base)
    await say(page, "hej")
    await server.stop()

    await page.keyboard.type("hur aktiverar jag appen")
    await page.keyboard.press("Enter")
    error = page.locator(".hsw-error")
    await error.wait_for(state="visible")
    texts = server.runtime.holder.knowledge
    assert texts.text("widget.error_unreachable", "sv") in await error.inner_text()
    assert await page.input_value(INPUT) == "hur aktiverar jag appen"
    assert await page.evaluate("() => sessionStorage.getItem('hsw.draft')") == "hur aktiverar jag appen"
    assert await page.get_attribute(".hsw-error", "role") == "alert"
    await shot(page, "widget-server-down-1280")

    await server.start()
    # The retry button is reachable by keyboard from the text field.
    for _ in range(5):
        await page.keyboard.press("Shift+Tab")
        if "hsw-retry" in (await focused(page))["cls"]:
            break
    else:
        raise AssertionError("the retry button is not reachable by keyboard")
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => document.querySelector('#hsw-input').value === ''")
    await error.wait_for(state="hidden")
    assert "hur aktiverar jag appen" in await log_text(page)
    entries = await server.runtime.store.transcript(await session_of(page))
    assert [e["text"] for e in entries if e["from"] == "user"] == ["hej", "hur aktiverar jag appen"]


async def test_rate_limited_input_shows_the_servers_message_and_keeps_the_text(make_server, page):
    server = await make_server(rate_limit_per_session=2)
    await open_by_keyboard(page, server.base)
    await say(page, "hej")
    await say(page, "meny")
    await page.keyboard.type("öppettider")
    await page.keyboard.press("Enter")
    error = page.locator(".hsw-error")
    await error.wait_for(state="visible")
    assert server.runtime.holder.knowledge.text("core.rate_limited", "sv") in await error.inner_text()
    assert await page.input_value(INPUT) == "öppettider"


async def test_language_follows_the_browser_and_switches_on_request(server, browser):
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(server.base + "/")
        assert (await page.inner_text(".hsw-launcher")).strip() == "Chat about Skola24"
        await page.click(".hsw-launcher")
        assert (await page.inner_text("label[for='hsw-input']")).strip() == "Your message"
        await say(page, "hello")
        assert await page.get_attribute(".hsw", "lang") == "en"
        # Switch to Swedish: the UI changes and the bot is told (it answers in Swedish).
        switch = page.locator(".hsw-lang")
        assert await switch.get_attribute("lang") == "sv"
        await switch.click()
        await page.wait_for_function("() => document.querySelector('.hsw').lang === 'sv'")
        assert (await page.inner_text("label[for='hsw-input']")).strip() == "Ditt meddelande"
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.hsw-bot .hsw-text')].pop().lang === 'sv'")
        posted = json.loads(await page.evaluate("() => JSON.stringify(sessionStorage)"))
        assert posted.get("hsw.lang") == "sv"
    finally:
        await context.close()


async def test_axe_finds_no_wcag_a_or_aa_violations(server, page, axe_violations, shot):
    await page.goto(server.base + "/")
    assert await axe_violations(page) == [], "demo page, chat closed"
    await page.click(".hsw-launcher")
    assert await axe_violations(page) == [], "chat open, empty"
    await say(page, "hej")
    await say(page, "hur ansöker jag om konto")
    await page.click(".hsw-choice:text-is('Nytt konto')")
    await page.wait_for_function("() => document.querySelectorAll('.hsw-choice:not(:disabled)').length === 2")
    await page.fill(INPUT, "")
    await page.click(".hsw-send")  # an empty send shows a hint, not a request
    await page.locator(".hsw-error").wait_for(state="visible")
    await server.runtime.engine.post(await session_of(page), [Reply("Hej från Halmstad direkt.")], sender="agent")
    await page.locator(".hsw-agent").wait_for()
    violations = await axe_violations(page)
    assert violations == [], violations
    await shot(page, "widget-open-1280")

    for path in ("/tillganglighet", "/tillganglighet?lang=en", "/integritet"):
        await page.goto(server.base + path)
        violations = await axe_violations(page)
        assert violations == [], (path, violations)
    await shot(page, "page-integritet-1280")


async def test_the_statement_page_follows_the_dos_model(server, page):
    await page.goto(server.base + "/tillganglighet")
    text = await page.inner_text("main")
    facts = server.runtime.holder.knowledge.facts
    for needed in ("delvis förenlig", "Myndigheten för digital förvaltning", facts["email"]["sv"],
                   facts["phone"]["sv"], "2026", "Innehåll som inte är tillgängligt"):
        assert needed in text, needed
    assert await page.get_attribute("html", "lang") == "sv"
    await page.click("a[hreflang='en']")
    assert await page.get_attribute("html", "lang") == "en"
    assert "Agency for Digital Government" in await page.inner_text("main")


async def test_reflow_at_320_px_and_text_at_200_percent(server, browser, shot, axe_violations):
    context = await browser.new_context(viewport={"width": 320, "height": 640}, locale="sv-SE")
    try:
        page = await context.new_page()
        await page.goto(server.base + "/")
        assert await no_sideways_scroll(page)
        await shot(page, "widget-closed-320")
        await page.click(".hsw-launcher")
        await say(page, "hur ansöker jag om konto")
        await say(page, "https://halmstad.skola24.se/en/mycket/lang/adress/som/inte/far/bryta/layouten/alls")
        assert await no_sideways_scroll(page)
        assert await page.evaluate(
            "() => { const l = document.querySelector('.hsw-log'); return l.scrollWidth <= l.clientWidth; }")
        assert await axe_violations(page) == []
        await shot(page, "widget-open-320")
        for path in ("/tillganglighet", "/integritet"):
            await page.goto(server.base + path)
            assert await no_sideways_scroll(page), path
            await shot(page, f"page{path.replace('/', '-')}-320")

        # 200 % text: every control of the open chat is still on screen and usable.
        await page.goto(server.base + "/")
        # Like a browser's text-size setting (the page's CSP forbids inline style tags).
        await page.evaluate("() => document.documentElement.style.setProperty('font-size', '200%', 'important')")
        assert await page.locator(".hsw-panel").is_visible(), "the chat stays open from page to page"
        for selector in (INPUT, ".hsw-send", ".hsw-close", ".hsw-lang"):
            await page.locator(selector).scroll_into_view_if_needed()
            hit = await page.evaluate(
                "(sel) => { const e = document.querySelector(sel); const r = e.getBoundingClientRect();"
                " const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
                " return top === e || e.contains(top); }", selector)
            assert hit, f"{selector} is hidden or covered at 200 % text"
        assert await no_sideways_scroll(page)
        await shot(page, "widget-open-320-text-200")
    finally:
        await context.close()


async def test_focus_is_visible_and_motion_can_be_reduced(server, browser):
    context = await browser.new_context(reduced_motion="reduce", locale="sv-SE")
    try:
        page = await context.new_page()
        await page.goto(server.base + "/")
        for _ in range(15):
            await page.keyboard.press("Tab")
            if "hsw-launcher" in (await focused(page))["cls"]:
                break
        style = await page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}; }")
        assert style["style"] == "solid" and style["width"] >= 2
        # The outline colour against the white page: at least 3:1.
        assert _contrast(style["color"], "rgb(255, 255, 255)") >= 3
        await page.keyboard.press("Enter")
        await page.keyboard.type("hej")
        await page.keyboard.press("Enter")
        animation = await page.evaluate("() => getComputedStyle(document.querySelector('.hsw-typing')).animationName")
        assert animation == "none"
    finally:
        await context.close()


def _contrast(a: str, b: str) -> float:
    def lum(rgb: str) -> float:
        parts = [int(x) for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
        chans = [(c / 255) / 12.92 if c / 255 <= 0.03928 else (((c / 255) + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * chans[0] + 0.7152 * chans[1] + 0.0722 * chans[2]
    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def test_what_people_type_stays_text(server, page):
    """Text from the guardian (and from agents) is shown as text, never run as markup."""
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await open_by_keyboard(page, server.base)
    await say(page, "<b>fet</b> <img src=x onerror=alert(1)>")
    await server.runtime.engine.post(await session_of(page), [Reply("<i>kursiv</i> https://www.halmstad.se/")],
                                     sender="agent")
    await page.locator(f"{LOG} .hsw-agent").wait_for()
    assert await page.locator(f"{LOG} b, {LOG} img, {LOG} i").count() == 0
    assert "<b>fet</b>" in await log_text(page)
    assert await page.locator(f"{LOG} .hsw-agent a[href='https://www.halmstad.se/']").count() == 1
    assert dialogs == []
