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
from tests.browser.staff_page_scenes import Guardian, log_in, log_out, open_view, staff_server, status_says

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
