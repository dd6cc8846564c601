"""The staff knowledge page /staff/ in chromium (issue 16's acceptance): an editor adds an entry in
both languages and tries it in the test chat on a chosen date, a publisher publishes it and a
guardian's chat on the same process answers it within 5 s; the history shows who and what and
"restore" brings the old answer back; a broken field shows its message next to the field and
nothing is published; axe-core finds no WCAG 2.1 A/AA violation on any view, in Swedish and English.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import describe
from tests.browser.staff_page_scenes import (Guardian, fill, log_in, log_out, make_overdue, open_view,
                                             staff_server, status_says)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium")]


async def no_violations(page, axe_violations, where: str) -> None:
    found = await axe_violations(page)
    assert found == [], f"{where}: {describe(found)}"


async def test_login_form_list_and_wrong_password(make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path)
    await page.goto(f"{srv.base}/staff/")
    await page.get_by_role("heading", name="Logga in på kunskapssidan").wait_for()
    await no_violations(page, axe_violations, "login sv")
    await page.get_by_label("Användarnamn").fill("editor")
    await page.get_by_label("Lösenord").fill("not the password")
    await page.get_by_role("button", name="Logga in").click()
    error = page.locator("#login-error")
    await error.wait_for()
    assert "Fel användarnamn eller lösenord" in await error.text_content()
    assert await page.get_by_label("Lösenord").get_attribute("aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "password"
    await no_violations(page, axe_violations, "login error sv")

    await log_in(page, srv.base, "editor")
    await page.get_by_text("Inloggad som editor (redaktör)").wait_for()
    assert await page.locator("#entries-body tr").count() > 40
    await no_violations(page, axe_violations, "list sv")


async def test_login_form_works_without_javascript(make_server, tmp_path, browser):
    srv = await staff_server(make_server, tmp_path)
    context = await browser.new_context(java_script_enabled=False, locale="sv-SE")
    try:
        page = await context.new_page()
        await page.goto(f"{srv.base}/staff/")
        # The server fills the form's words in, so it reads right without the script.
        assert await page.locator("label[for=username]").text_content() == "Användarnamn"
        await page.locator("#username").fill("publisher")
        await page.locator("#password").fill("demo-publisher-password")
        await page.locator("#login-form button[type=submit]").click()
        await page.wait_for_url(f"{srv.base}/staff/?lang=sv")
        cookies = {c["name"]: c for c in await context.cookies()}
        assert cookies["staff_page"]["httpOnly"] and cookies["staff_page"]["sameSite"] == "Strict"
    finally:
        await context.close()


NEW_ENTRY = {
    "id": "skollov", "topic": "skola", "owner": "Utbildningsförvaltningen", "review_by": "2027-06-30",
    "sv": ["när är det lov", "när har skolan lov", "vilka dagar är det höstlov", "lovdagar i skolan",
           "när börjar sommarlovet", "höstlov"],
    "en": ["when are the school holidays", "when is the autumn break", "school holiday dates",
           "when does summer break start", "which days are school holidays"],
    "answer_sv": "Loven står i läsårets kalender på skolans webbplats.",
    "answer_en": "The holidays are in the school year's calendar on the school's website.",
}
SHORTER_SV = "Loven står i läsårets kalender. Fråga skolan."


async def fill_new_entry(page) -> None:
    """Fill the new-entry form (the first five phrasing boxes are there; one more is added)."""
    await page.get_by_role("link", name="Ny fråga").click()
    await page.get_by_role("heading", name="Ny fråga", level=1).wait_for()
    await page.get_by_label("Id", exact=True).fill(NEW_ENTRY["id"])
    await page.get_by_label("Fil", exact=True).select_option("app.yaml")
    for name, label in (("topic", "Ämne"), ("owner", "Ansvarig"), ("review_by", "Granskas senast")):
        await page.locator("#entry-form").get_by_label(label, exact=True).fill(NEW_ENTRY[name])
    for lang in ("sv", "en"):
        for index, text in enumerate(NEW_ENTRY[lang]):
            if index >= 5:
                add = "Lägg till en svensk formulering" if lang == "sv" else "Lägg till en engelsk formulering"
                await page.get_by_role("button", name=add).click()
                assert await page.evaluate("document.activeElement.id") == f"f-phrasings-{lang}-{index}"
            await page.locator(f"#f-phrasings-{lang}-{index}").fill(text)
    await page.get_by_label("Svar på svenska").fill(NEW_ENTRY["answer_sv"])
    await page.get_by_label("Svar på engelska").fill(NEW_ENTRY["answer_en"])


async def test_editor_adds_previews_publisher_publishes_guardian_gets_it_history_restore(
        make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path)
    guardian = Guardian(srv.base)
    try:
        # The editor adds an entry with phrasings in both languages and saves it to the draft.
        await log_in(page, srv.base, "editor")
        await fill_new_entry(page)
        await page.get_by_role("button", name="Spara i utkastet").click()
        await status_says(page, "Frågan skollov är sparad i utkastet")
        await page.get_by_role("heading", name="Redigera frågan skollov").wait_for()
        await page.locator("#draft-changes").get_by_text("skollov").wait_for()
        publish = page.get_by_role("button", name="Publicera")
        assert await publish.is_disabled()  # an editor may not publish while review is needed
        assert "En publicerare granskar" in await page.locator("#publish-hint").text_content()

        # The test chat on a chosen date: the new answer from the draft, and Christmas Day's
        # out-of-hours handoff reply for that moment.
        await page.get_by_label("Datum och tid i testet").fill("2026-12-25T10:00")
        await page.get_by_label("Skriv som en vårdnadshavare").fill("vilka dagar är det höstlov")
        await page.get_by_label("Skriv som en vårdnadshavare").press("Enter")
        await page.locator("#chat-log li.from-bot", has_text=NEW_ENTRY["answer_sv"]).wait_for()
        await page.get_by_label("Skriv som en vårdnadshavare").fill("jag vill prata med en människa")
        await page.get_by_role("button", name="Skicka").click()
        await page.locator("#chat-log li.from-bot", has_text="har stängt just nu").wait_for()
        assert "28 december" in await page.locator("#chat-log li.from-bot", has_text="har stängt").text_content()
        await page.locator("#chat-log").get_by_role("button", name="Nej").wait_for()
        await no_violations(page, axe_violations, "editor with test chat sv")
        # Not live yet: a guardian still gets no answer about school holidays.
        assert NEW_ENTRY["answer_sv"] not in await guardian.ask("before", "vilka dagar är det höstlov")

        # The publisher publishes; a guardian on the same process gets the answer without a restart.
        await log_out(page)
        await log_in(page, srv.base, "publisher")
        assert "editor" in await page.locator("#draft-summary").text_content()
        await page.get_by_label("Vad har ändrats?").fill("Ny fråga om skollov")
        await page.get_by_role("button", name="Publicera").click()
        await status_says(page, "Publicerat")
        await guardian.answered("vilka dagar är det höstlov", NEW_ENTRY["answer_sv"], within=5)
        assert "Utkastet är tomt" in await page.locator("#draft-summary").text_content()

        # A second version with a shorter answer, published too.
        await page.get_by_role("link", name="när är det lov").click()
        await page.get_by_label("Svar på svenska").fill(SHORTER_SV)
        await page.get_by_role("button", name="Spara i utkastet").click()
        await status_says(page, "sparad i utkastet")
        await page.get_by_label("Vad har ändrats?").fill("Kortare svar")
        await page.get_by_role("button", name="Publicera").click()
        await status_says(page, "Publicerat")
        await guardian.answered("vilka dagar är det höstlov", SHORTER_SV, within=5)

        # The history shows who and what, the change in words, and restores the first answer.
        await page.get_by_role("heading", name="Redigera frågan skollov").wait_for()  # still in the editor
        await page.get_by_role("link", name="Historik").click()
        rows = page.locator("#history-body tr")
        await rows.first.wait_for()
        assert "publisher" in await rows.nth(0).text_content()
        assert "Kortare svar" in await rows.nth(0).text_content()
        assert "Ny fråga om skollov" in await rows.nth(1).text_content()
        assert "Utgångsläget" in await rows.last.text_content()  # the starting point, in Swedish
        await rows.nth(0).get_by_role("button", name="Visa ändringen").click()
        await page.locator("#version-diff del").first.wait_for()
        removed = " ".join(await page.locator("#version-diff del").all_text_contents())
        added = " ".join(await page.locator("#version-diff ins").all_text_contents())
        assert "webbplats" in removed and "skolan" in added
        assert "borttaget:" in removed and "tillagt:" in added  # said in words, not by colour alone
        await no_violations(page, axe_violations, "history sv")
        await rows.nth(1).get_by_role("button", name="Visa ändringen").click()
        await page.locator("#version-message", has_text="Ny fråga om skollov").wait_for()
        await page.get_by_role("button", name="Återställ den här versionen").click()
        await status_says(page, "är publicerad igen")
        await guardian.answered("vilka dagar är det höstlov", NEW_ENTRY["answer_sv"], within=5)
    finally:
        await guardian.close()


async def test_broken_fields_show_next_to_the_field_and_nothing_is_published(
        make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path)
    live = srv.config.knowledge_dir / "faq" / "contact.yaml"
    before = live.read_text("utf-8")
    await log_in(page, srv.base, "publisher")
    await page.get_by_role("link", name="vad är ert telefonnummer?").click()
    await page.get_by_role("heading", name="Redigera frågan contact-phone").wait_for()
    await page.get_by_label("Svar på engelska").fill("")
    await page.get_by_role("button", name="Lägg till en länk").click()
    link = page.locator('[data-field="links.0"]')
    await fill(link, {"Text på svenska": "Telefon", "Text på engelska": "Phone", "Webbadress": "www.halmstad.se/telefon"})
    await page.get_by_role("button", name="Spara i utkastet").click()
    await status_says(page, "Inget sparades")

    answer_en = page.get_by_label("Svar på engelska")
    assert await answer_en.get_attribute("aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "f-answer-en"  # the first problem has the focus
    note = page.locator("#p-answer-en")
    assert "engelsk" in await note.text_content()
    assert "p-answer-en" in (await answer_en.get_attribute("aria-describedby")).split()
    url = link.get_by_label("Webbadress")
    assert await url.get_attribute("aria-invalid") == "true"
    assert "webbadress" in (await page.locator("#p-links-0-url").text_content())
    summary = page.locator("#entry-problems")
    assert await summary.get_by_role("link").count() >= 2  # each problem links to its field
    await no_violations(page, axe_violations, "editor with problems sv")

    # Nothing saved, nothing published: the draft is empty and the live file as it was.
    assert "Utkastet är tomt" in await page.locator("#draft-summary").text_content()
    assert live.read_text("utf-8") == before
    guardian = Guardian(srv.base)
    try:
        assert "035-13 70 00" in await guardian.ask("phone", "vad är ert telefonnummer?")
    finally:
        await guardian.close()

    # Fixed, the problems go away and the draft has the change.
    await answer_en.fill("You can reach {name} on {phone}.")
    await url.fill("https://www.halmstad.se/telefon")
    await page.get_by_role("button", name="Spara i utkastet").click()
    await status_says(page, "sparad i utkastet")
    assert await answer_en.get_attribute("aria-invalid") is None
    assert await note.is_hidden()
    await page.locator("#draft-changes").get_by_text("contact-phone").wait_for()

    # Leaving an editor with unsaved changes asks first; "cancel" keeps them.
    await answer_en.fill("Not saved yet.")
    asked: list[str] = []

    async def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda dialog: answer(dialog, False))
    await page.get_by_role("link", name="Öppettider").click()
    await page.wait_for_function("() => location.hash.startsWith('#/entry/')")
    assert "inte är sparade" in asked[0]
    assert await answer_en.input_value() == "Not saved yet."
    page.once("dialog", lambda dialog: answer(dialog, True))
    await page.get_by_role("link", name="Öppettider").click()
    await page.locator("#f-hours-phone-mon").wait_for()


async def test_fridays_in_december_as_one_rule_with_the_christmas_warning(make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path)
    await log_in(page, srv.base, "editor")
    await open_view(page, "#/hours", "#f-hours-phone-mon")
    assert await page.get_by_label("Telefon, måndag").input_value() == "07:00-17:00"
    # Hours that close before they open: the message in the day's cell, nothing saved.
    friday = page.get_by_label("Telefon, fredag")
    await friday.fill("16:00-07:00")
    await page.get_by_role("button", name="Spara i utkastet").click()
    await status_says(page, "Inget sparades")
    assert await friday.get_attribute("aria-invalid") == "true"
    assert "stänger innan de öppnar" in await page.locator("#p-hours-phone-fri").text_content()
    assert await page.evaluate("document.activeElement.id") == "f-hours-phone-fri"
    assert "Utkastet är tomt" in await page.locator("#draft-summary").text_content()
    await friday.fill("07:00-16:00")
    await page.get_by_role("button", name="Lägg till ett undantag").click()
    rule = page.locator('[data-field="exceptions.4"]')
    await rule.get_by_label("Gäller").select_option("rule")
    await rule.get_by_label("Veckodag").select_option("fri")
    await fill(rule, {"Första dagen": "2026-12-01", "Sista dagen": "2026-12-31", "Telefon": "07:00-15:00",
                      "Anledning på svenska": "Fredag i december", "Anledning på engelska": "A Friday in December"})
    await page.get_by_role("button", name="Spara i utkastet").click()
    await status_says(page, "Öppettiderna är sparade i utkastet")

    warnings = page.locator("#hours-warnings")
    await warnings.wait_for()
    said = await warnings.text_content()
    assert "2026-12-25" in said and "Juldagen" in said
    # The calendar opens at the month of the first warning: the rule's Fridays, and the warning on
    # Christmas Day.
    assert (await page.locator("#calendar caption").text_content()).lower() == "december 2026"
    christmas = page.locator("#calendar td.warned")
    assert await christmas.count() == 1
    assert (await christmas.locator(".day-num").text_content()) == "25"
    assert "Varning" in await christmas.text_content()
    assert "Helgdag: stängt" in await christmas.text_content()  # the holiday wins over the rule
    fridays = page.locator("#calendar td.has-exception", has_text="Fredag i december")
    assert await fridays.count() == 4  # 4, 11, 18 and 25 December
    # Every closed holiday is marked, named, not only the one a warning names.
    boxing_day = page.locator("#calendar td", has=page.locator(".day-num", has_text="26"))
    assert "Annandag jul" in await boxing_day.first.text_content()
    await page.locator("#draft-changes").get_by_text("contact.yaml").wait_for()
    await no_violations(page, axe_violations, "hours sv")


async def gap_cards(page, count: int):
    """The gaps view once it lists `count` groups (the conversations reach their files within a second or two)."""
    cards = page.locator("#gaps-list li.gap")
    for _ in range(60):
        await page.get_by_role("button", name="Visa", exact=True).click()
        await status_says(page, "grupper av obesvarade frågor")
        if await cards.count() >= count:
            return cards
        await page.wait_for_timeout(500)
    raise AssertionError(f"the gaps list never had {count} groups")


async def test_gaps_add_as_phrasing_new_entry_and_handled(make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path)
    guardian = Guardian(srv.base)
    try:
        for session, text in (("g1", "när är det studiedag"), ("g2", "när är det studiedag"),
                              ("g3", "hur bokar jag utvecklingssamtal med läraren"),
                              ("g4", "vad blir det för skolmat på fredag, svara till anna@example.com")):
            await guardian.ask(session, text)
    finally:
        await guardian.close()
    await log_in(page, srv.base, "editor")
    await open_view(page, "#/gaps", "#gaps-form")
    cards = await gap_cards(page, 3)
    shown = " ".join(await cards.all_text_contents())
    assert "anna@example.com" not in shown and "[EMAIL]" in shown  # masked as `knowledge gaps` masks
    await no_violations(page, axe_violations, "gaps sv")

    studiedag = cards.filter(has_text="studiedag")
    assert "Ställd 2 gång(er)" in await studiedag.text_content()
    await studiedag.get_by_label("Lägg till som formulering av").select_option("capabilities")
    await studiedag.get_by_role("button", name="Lägg till som formulering").click()
    await status_says(page, "tillagd som formulering av capabilities")
    await page.locator("#draft-changes").get_by_text("capabilities").wait_for()

    await studiedag.get_by_role("button", name="Markera som hanterad").click()
    await status_says(page, "Markerad som hanterad")
    assert await cards.filter(has_text="studiedag").count() == 0
    await page.get_by_role("button", name="Visa", exact=True).click()
    await status_says(page, "2 grupper")
    assert await cards.filter(has_text="studiedag").count() == 0  # handled groups stay out

    talk = cards.filter(has_text="utvecklingssamtal")
    await talk.get_by_role("button", name="Ny fråga av detta").click()
    await page.get_by_role("heading", name="Ny fråga", level=1).wait_for()
    assert await page.locator("#f-phrasings-sv-0").input_value() == "hur bokar jag utvecklingssamtal med läraren"


VIEWS_EN = (("#/entries", "#entries-body tr", "list"), ("#/entry/greeting", "#f-answer-sv", "editor"),
            ("#/hours", "#f-hours-phone-mon", "hours"), ("#/history/greeting", "#history-body tr", "history"),
            ("#/gaps", "#gaps-list li", "gaps"), ("#/reviews", "#reviews-body tr", "reviews"))


async def test_every_view_in_english_axe_reflow_and_overdue(make_server, tmp_path, page, axe_violations):
    srv = await staff_server(make_server, tmp_path, prepare=make_overdue)
    await page.goto(f"{srv.base}/staff/?lang=en")
    await page.get_by_role("heading", name="Log in to the knowledge page").wait_for()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await no_violations(page, axe_violations, "login en")
    # Keyboard only: the username has the focus; before it come the language link and the skip
    # link, which is visible when focused.
    assert await page.evaluate("document.activeElement.id") == "username"
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate("document.activeElement.id") == "lang-link"
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    assert (await page.locator(".skip-link").bounding_box())["x"] >= 0
    await log_in(page, srv.base, "editor", lang="en")
    await page.get_by_text("Logged in as editor (editor)").wait_for()

    greeting = page.locator("#entries-body tr", has=page.locator("code", has_text="greeting"))
    assert "overdue" in await greeting.text_content()  # in words, not by colour alone
    await page.get_by_label("Only overdue reviews").check()
    await page.wait_for_function("() => document.querySelectorAll('#entries-body tr').length === 1")

    for hash_, ready, name in VIEWS_EN:
        await open_view(page, hash_, ready)
        if name == "history":
            await page.locator("#history-body tr").first.get_by_role("button", name="Show the change").click()
            await page.locator("#version-diff").get_by_role("heading").first.wait_for()
        if name == "reviews":
            assert "greeting" in await page.locator("#reviews-body").text_content()
        await no_violations(page, axe_violations, f"{name} en")
        await page.set_viewport_size({"width": 320, "height": 800})
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{name} en does not reflow at 320 px: {width}"
        await page.set_viewport_size({"width": 1280, "height": 800})
    await page.locator("#lang-link").focus()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "logout"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # visible keyboard focus
