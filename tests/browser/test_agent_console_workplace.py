"""Issue 15, the agent console's acceptance in a real browser (Debian chromium), axe-core with
0 WCAG 2.1 A/AA violations on every new view: three chats with an unread one, alerts for a new
waiting guardian, wait times that move on an injected clock, a callback that survives a restart,
the history found by an M-… reference, transfer and internal notes between two agents, and hand
back to the assistant."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import describe
from tests.browser.console_scenes import (Guardians, accept, add_agents, chat_with_one, go_available,
                                          hold_three_chats, log_in)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium")]

SUNDAY = "2026-12-06T11:00"
TITLE = "Handläggarkonsol – Halmstad direkt"
# A page where desktop notifications are allowed, the tab's visibility is the test's to choose
# and the short sound is counted instead of played.
ALERT_STUBS = """
window.__notes = []; window.__beeps = 0; window.__hidden = false;
window.Notification = function (title, options) { window.__notes.push({title: title, body: options.body}); };
window.Notification.permission = "granted";
window.Notification.requestPermission = function () { return Promise.resolve("granted"); };
Object.defineProperty(document, "hidden", {configurable: true, get: function () { return window.__hidden; }});
window.AudioContext = function () {
  return {currentTime: 0, destination: {},
          createGain: function () { return {gain: {}, connect: function () {}}; },
          createOscillator: function () {
            return {frequency: {}, connect: function () {}, start: function () { window.__beeps += 1; },
                    stop: function () {}}; }};
};
"""


@pytest.fixture
async def guardians(server):
    people = Guardians(server.base)
    yield people
    await people.close()


async def console_page(browser, server, username="agent", **context_options):
    if not (Path(server.config.data_dir) / "agents.json").exists():
        add_agents(server.config.data_dir)  # once: a login written again ends its sessions
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE", **context_options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await log_in(page, server.base, username)
    return page


def service_of(server):
    return server.runtime.handoff.service


async def no_violations(page, axe_violations):
    violations = await axe_violations(page)
    assert violations == [], describe(violations)


async def test_an_agent_holding_three_chats_sees_which_one_has_an_unread_message(browser, server, guardians,
                                                                                   axe_violations):
    page = await console_page(browser, server)
    await go_available(page)
    held = await hold_three_chats(page, server.base, guardians, service_of(server))
    cards = page.locator("#mine-list li[data-id]")
    anna = cards.filter(has_text="Anna")
    await anna.filter(has_text="Personuppgifter – frågar efter kontaktuppgift").wait_for()
    await cards.filter(has_text="Aktivera appen – länken skickad").wait_for()
    assert await page.locator("#mine-list li.unread").count() == 0

    await guardians.say("app-link", "Jag har fortfarande inte fått något mejl")
    unread = page.locator("#mine-list li.unread")
    await unread.wait_for()
    assert await unread.get_attribute("data-id") == held["app-link"]
    assert "1 oläst" in await unread.inner_text()
    assert "Jag har fortfarande inte fått något mejl" in await unread.locator(".card-last").inner_text()
    assert await page.locator("#mine-list li.unread").count() == 1
    await page.wait_for_function(f"() => document.title === '(1) {TITLE}'")
    await no_violations(page, axe_violations)

    await unread.get_by_role("button", name="Visa").click()
    await page.locator("#transcript").get_by_text("Jag har fortfarande inte fått något mejl").wait_for()
    await page.wait_for_function(f"() => document.title === '{TITLE}'")
    assert await page.locator("#mine-list li.unread").count() == 0

    # A guardian who ends an active chat has not "left the queue".
    await guardians.say("child-missing", "avsluta")
    ended = cards.filter(has_text="Vårdnadshavaren har avslutat chatten")
    await ended.wait_for()
    assert "lämnade kön" not in (await page.locator("#mine-list").inner_text())
    assert page.errors == []


async def test_a_new_waiting_guardian_raises_the_title_count_and_the_live_announcement(browser, server, guardians,
                                                                                        axe_violations):
    page = await console_page(browser, server)
    await page.add_init_script(ALERT_STUBS)
    await page.reload()
    await go_available(page)
    assert await page.title() == TITLE
    assert await page.locator("#sound").is_checked()
    assert await page.locator("#queue-announcer").get_attribute("aria-live") == "polite"

    await guardians.say("first", "jag vill prata med en människa")
    await page.wait_for_function(f"() => document.title === '(1) {TITLE}'")
    announcer = page.locator("#queue-announcer")
    await page.wait_for_function("() => document.getElementById('queue-announcer').textContent.includes('1 väntar')")
    assert await announcer.text_content() == "En ny vårdnadshavare väntar i kön. 1 väntar nu."
    assert await page.evaluate("window.__beeps") == 1
    assert await page.evaluate("window.__notes") == []  # the tab is visible: no desktop notification

    await page.evaluate("window.__hidden = true")
    await guardians.say("second", "jag vill prata med en människa")
    await page.wait_for_function(f"() => document.title === '(2) {TITLE}'")
    await page.wait_for_function("() => document.getElementById('queue-announcer').textContent.includes('2 väntar')")
    notes = await page.evaluate("window.__notes")
    assert notes == [{"title": TITLE, "body": "En ny vårdnadshavare väntar i kön. 2 väntar nu."}]

    await page.locator("#sound").uncheck()  # the sound can be turned off, and stays off
    await page.evaluate("window.__hidden = false")
    await guardians.say("third", "jag vill prata med en människa")
    await page.wait_for_function(f"() => document.title === '(3) {TITLE}'")
    assert await page.evaluate("window.__beeps") == 2
    await page.reload()
    assert not await page.locator("#sound").is_checked()
    await no_violations(page, axe_violations)


async def test_the_wait_time_moves_after_a_minute_on_an_injected_clock(browser, server, guardians, axe_violations):
    page = await console_page(browser, server)
    await page.clock.install()
    await page.reload()
    await go_available(page)
    await guardians.say("waits", "jag vill prata med en människa")
    wait = page.locator("#waiting-list .card-wait")
    await wait.wait_for()
    assert await wait.text_content() == "har väntat 0 min"
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/agent/api/queue" in r.url else None)
    await page.clock.run_for(61_000)  # no server event, no request: only the browser's clock moves
    await page.wait_for_function(
        "() => document.querySelector('#waiting-list .card-wait').textContent === 'har väntat 1 min'")
    await page.clock.run_for(60_000)
    await page.wait_for_function(
        "() => document.querySelector('#waiting-list .card-wait').textContent === 'har väntat 2 min'")
    assert asked == []
    await no_violations(page, axe_violations)


async def test_closing_with_ringer_upp_makes_a_callback_task_that_survives_a_restart(browser, server, guardians,
                                                                                      axe_violations):
    page = await console_page(browser, server)
    await go_available(page)
    await chat_with_one(page, server.base, guardians, service_of(server), "calls")
    await page.get_by_label("Utfall").select_option("callback")
    await page.get_by_label("Telefonnummer (eller e-post)").fill("070-123 45 67")
    await page.get_by_label("Namn", exact=True).fill("Cecilia Carlsson")
    await page.get_by_label("När och om vad").fill("Efter kl. 15 om appen")
    await no_violations(page, axe_violations)
    await page.get_by_role("button", name="Avsluta samtalet").click()
    task = page.locator("#callbacks-list li[data-id]")
    await task.filter(has_text="Cecilia").wait_for()

    await server.stop()
    await server.start()
    await log_in(page, server.base)
    await task.filter(has_text="Cecilia").wait_for()  # kept across the restart
    await task.get_by_role("button", name="Visa").click()
    view = page.locator("#callback-view")
    await view.get_by_text("070-123 45 67").wait_for()
    await view.get_by_text("Efter kl. 15 om appen").wait_for()
    await no_violations(page, axe_violations)
    await page.get_by_label("Hur gick samtalet?").select_option("reached")
    await page.get_by_role("button", name="Markera som klar").click()
    await page.locator("#callbacks-list").get_by_text("Ingen att ringa upp.").wait_for()
    [done] = [i for i in service_of(server).queue.items.values() if i["kind"] == "callback"]
    assert done["status"] == "done" and done["result"] == "reached"


async def test_a_closed_conversation_is_found_by_its_m_reference(browser, make_server, tmp_path, axe_violations):
    data_dir = tmp_path / "shared"
    sunday = await make_server(data_dir=data_dir, now=SUNDAY)
    people = Guardians(sunday.base)
    try:
        for line in ("jag vill prata med en människa", "ja", "Anna Andersson", "070-765 43 21"):
            await people.say("m-ref", line)
        saved = (await people.say("m-ref", "Jag kommer inte in i appen"))["messages"][0]["text"]
        reference = next(w.strip("().,") for w in saved.split() if w.startswith("M-"))
        await sunday.stop()

        tuesday = await make_server(data_dir=data_dir)  # Tuesday: the guardian comes back and chats
        people.base = tuesday.base
        page = await console_page(browser, tuesday, timezone_id="UTC")  # Stockholm time whatever the browser's zone
        await go_available(page)
        # Left on Sunday at 11.00 Stockholm time (10.00 UTC, the browser's zone): shown as 11.00.
        await page.locator("#messages-list").get_by_text("2026-12-06 11:00").wait_for()
        await people.say("m-ref", "jag vill prata med en människa")
        item = tuesday.runtime.handoff.service.queue.open_for_session("m-ref")
        await accept(page, tuesday.base, item["id"])
        closing = await page.request.post(f"{tuesday.base}/agent/api/conversations/{item['id']}/close",
                                          data={"outcome": "resolved"})
        assert closing.status == 200
        await people.say("m-ref", button="handoff:csat:5")

        await page.get_by_role("link", name="Historik").click()
        await page.wait_for_url(f"{tuesday.base}/agent/history?lang=sv")
        await page.get_by_label("Referens, namn, telefon eller e-post").fill(reference)
        await page.get_by_role("button", name="Sök", exact=True).click()
        rows = page.locator("#result-rows tr")
        await page.get_by_text("2 träffar.").wait_for()
        assert await rows.filter(has_text=reference).filter(has_text="Lämnat meddelande").count() == 1
        chat = rows.filter(has_text="(samma chatt)")
        assert "Chatt" in await chat.inner_text() and "Löst" in await chat.inner_text()
        assert "2026-12-06 11:00" in await rows.filter(has_text=reference).inner_text()
        await no_violations(page, axe_violations)

        await chat.get_by_role("button").click()
        detail = page.locator("#detail")
        await detail.get_by_text("5 av 5").wait_for()  # the satisfaction answer on the closed conversation
        await detail.locator("#transcript").get_by_text("Jag kommer inte in i appen").wait_for()
        assert await detail.locator("textarea, input, form").count() == 0  # read-only
        assert await page.evaluate("document.activeElement.id") == "detail-heading"
        await no_violations(page, axe_violations)
        assert page.errors == []
    finally:
        await people.close()


async def test_transfer_and_internal_note_between_two_agents(browser, server, guardians, axe_violations):
    alex = await console_page(browser, server, "agent")
    bo = await console_page(browser, server, "agent2")
    await go_available(alex)
    await go_available(bo)
    await chat_with_one(alex, server.base, guardians, service_of(server), "passed-on")
    await alex.get_by_label("Ny intern anteckning").fill("Har redan provat att skicka länken två gånger")
    await alex.get_by_role("button", name="Spara anteckningen").click()
    await alex.locator("#notes").get_by_text("Har redan provat").wait_for()

    await alex.locator("#transfer-to").get_by_text("Bo Berg").wait_for(state="attached")
    await alex.get_by_label("Handläggare", exact=True).select_option("agent2")
    await alex.get_by_label("Anteckning till kollegan (syns inte för vårdnadshavaren)").fill("Kan du ta den här?")
    await no_violations(alex, axe_violations)
    await alex.get_by_role("button", name="Koppla över").click()
    await alex.locator("#mine-list").get_by_text("Du har inga samtal just nu.").wait_for()

    await bo.wait_for_function(
        "() => document.getElementById('queue-announcer').textContent === 'Ett samtal har kopplats över till dig.'")
    await bo.locator("#mine-list li[data-id]").get_by_role("button", name="Visa").click()
    notes = bo.locator("#notes")
    await notes.get_by_text("Har redan provat att skicka länken två gånger").wait_for()
    await notes.get_by_text("Alex Andersson kopplade över till Bo Berg").wait_for()
    await notes.get_by_text("Kan du ta den här?").wait_for()
    await bo.get_by_label("Ditt svar till vårdnadshavaren").fill("Hej, Bo här!")
    await bo.get_by_label("Ditt svar till vårdnadshavaren").press("Control+Enter")
    said = await guardians.told("passed-on", "Hej, Bo här!")
    assert said["from"] == "agent"
    texts = [m["text"] for m in await guardians.messages("passed-on")]
    assert any("Alex har kopplat dig vidare till Bo" in t for t in texts)
    assert not any("provat" in t or "ta den här" in t for t in texts)  # notes never reach the guardian
    await no_violations(bo, axe_violations)
    assert alex.errors == [] and bo.errors == []


async def test_hand_back_to_the_assistant_tells_the_guardian(browser, server, guardians, axe_violations):
    page = await console_page(browser, server)
    await go_available(page)
    await chat_with_one(page, server.base, guardians, service_of(server), "back")

    search = page.get_by_label("Sök färdigt svar från kunskapsbanken")
    await search.fill("öppettider telefon")
    results = page.locator("#canned-results")
    await results.locator("h4").first.wait_for()
    assert await results.locator("h4").all_text_contents()  # grouped by topic, in words
    await search.press("Enter")
    assert (await page.get_by_label("Ditt svar till vårdnadshavaren").input_value()).strip()
    await no_violations(page, axe_violations)

    await page.get_by_role("button", name="Lämna tillbaka till assistenten").click()
    await page.get_by_text("Samtalet är tillbaka hos assistenten.").wait_for(state="attached")
    told = await guardians.told("back", "har lämnat tillbaka samtalet till mig, chattboten")
    assert told["text"].startswith("Alex har lämnat tillbaka")
    reply = await guardians.say("back", "när öppnar ni?")
    assert reply["handoff"] is False and "Telefonen" in reply["messages"][0]["text"]


async def test_the_console_and_the_history_in_english(browser, server, guardians, axe_violations):
    page = await console_page(browser, server)
    await page.goto(f"{server.base}/agent/?lang=en")
    await go_available(page)
    await chat_with_one(page, server.base, guardians, service_of(server), "english")
    await page.get_by_label("Outcome").select_option("callback")
    await page.get_by_text("To call back").first.wait_for()
    await no_violations(page, axe_violations)
    await page.get_by_role("link", name="History").click()
    await page.wait_for_url(f"{server.base}/agent/history?lang=en")
    await page.get_by_text("1 result.").wait_for()  # everything kept, the ongoing chat too
    await page.get_by_label("Outcome").select_option("resolved")
    await page.get_by_role("button", name="Search", exact=True).click()
    await page.get_by_text("0 results.").wait_for()
    await no_violations(page, axe_violations)
    assert page.errors == []
