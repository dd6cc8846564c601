"""The data-protection officer's workplace in Debian's chromium (issue 15, items 10-13): the case
list's filters and days-left column, a case's forms, and the response letter as a print page
and a PDF, each view with axe-core's WCAG 2.1 A/AA rules and 0 violations."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from tests.browser import dsr_scenes as scenes
from tests.browser.conftest import describe

pytestmark = pytest.mark.browser


@pytest.fixture
async def dsr(tmp_path):
    """The backend alone on loopback with the week's cases; yields (base URL, references)."""
    refs = await scenes.seed(tmp_path)
    server = TestServer(scenes.make_app(tmp_path, scenes.Clock(scenes.TODAY)), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")), refs
    await server.close()


async def rows(page) -> list[str]:
    return await page.locator("tbody tr th[scope=row]").all_inner_texts()


async def test_the_case_list_filters_and_days_left_pass_axe(dsr, page, axe_violations, shot):
    base, refs = dsr
    await scenes.log_in(page, base)
    assert await rows(page) == [refs["overdue"], refs["week"], refs["fresh"], refs["waiting"]]
    assert await axe_violations(page) == [], describe(await axe_violations(page))
    overdue_row = page.locator("tr", has_text=refs["overdue"])
    assert "28 dagar försenad" in await overdue_row.inner_text()
    assert "Anna Andersson" in await overdue_row.inner_text()
    await shot(page, "dsr-list")
    # Each filter by keyboard: focus the link, press Enter.
    for label, expected in (("Försenade (1)", ["overdue"]), ("Sista dag denna vecka (1)", ["week"]),
                            ("Mina ärenden (1)", ["week"]), ("Avslutade (1)", ["closed"]),
                            ("Alla (5)", ["overdue", "week", "fresh", "waiting", "closed"])):
        await page.get_by_role("link", name=label).focus()
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await rows(page) == [refs[name] for name in expected], label
        assert await page.get_by_role("link", name=label).get_attribute("aria-current") == "page"
        assert await axe_violations(page) == [], (label, describe(await axe_violations(page)))
    closed_row = page.locator("tr", has_text=refs["closed"])
    assert "Avslutad i tid" in await closed_row.inner_text()


async def test_the_list_and_a_case_reflow_at_320_px(dsr, browser):
    base, refs = dsr
    context = await browser.new_context(viewport={"width": 320, "height": 640}, locale="sv-SE")
    page = await context.new_page()
    try:
        await scenes.log_in(page, base)
        for path in ("cases", f"cases/{refs['closed']}", f"cases/{refs['closed']}/letter"):
            await page.goto(base + path)
            assert await page.evaluate(
                "() => document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    finally:
        await context.close()


async def test_every_case_view_passes_axe_and_labels_its_fields(dsr, page, axe_violations):
    base, refs = dsr
    await scenes.log_in(page, base)
    for name in ("overdue", "week", "waiting", "fresh", "closed"):
        await page.goto(f"{base}cases/{refs[name]}")
        assert await axe_violations(page) == [], (name, describe(await axe_violations(page)))
        unlabeled = await page.evaluate(
            "() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => !(e.labels && e.labels.length)).map(e => e.id || e.name)")
        assert unlabeled == [], name
    # The overdue case offers no extension; the open one on time does.
    await page.goto(f"{base}cases/{refs['overdue']}")
    assert await page.locator("#told-on").count() == 0
    await page.goto(f"{base}cases/{refs['fresh']}")
    assert await page.locator("#told-on").count() == 1


async def test_a_note_and_a_decision_part_by_keyboard(dsr, page, axe_violations):
    base, refs = dsr
    await scenes.log_in(page, base)
    await page.goto(f"{base}cases/{refs['fresh']}")
    await page.fill("#note", "Ringde Eve, hon skickar underlag.")
    await page.get_by_role("button", name="Spara anteckning").click()
    await page.wait_for_url("**done=note**")
    assert await page.get_by_role("status").inner_text() == "Anteckningen är sparad."
    assert "Ringde Eve" in await page.locator("main").inner_text()
    await page.fill("#part-text", "Invändning mot kontaktuppgifter")
    await page.select_option("#part-outcome", "refused")
    await page.get_by_role("button", name="Lägg till delen").click()     # no ground: refused
    assert "Välj den rättsliga grunden" in await page.get_by_role("alert").inner_text()
    assert await page.input_value("#part-text") == "Invändning mot kontaktuppgifter"
    assert await axe_violations(page) == [], describe(await axe_violations(page))
    await page.select_option("#part-ground", "art21_1")
    await page.get_by_role("button", name="Lägg till delen").click()
    await page.wait_for_url("**done=part**")
    parts = await page.locator("section[aria-labelledby=parts-heading]").inner_text()
    assert "Invändning mot kontaktuppgifter" in parts and "Art. 21.1" in parts


async def test_the_letter_prints_in_swedish_and_english(dsr, page, axe_violations, shot):
    base, refs = dsr
    await scenes.log_in(page, base)
    for lang, fields in (
            ("sv", ("Svar på din begäran enligt dataskyddsförordningen", "Hej Maria Berg!",
                    "Radering av frånvarouppgifter", "Avslås", "Artikel 17.3 b",
                    "Integritetsskyddsmyndigheten (IMY)", "överklaga")),
            ("en", ("Answer to your request under the General Data Protection Regulation",
                    "Dear Maria Berg,", "Refused", "Article 17(3)(b)",
                    "Swedish Authority for Privacy Protection", "appeal"))):
        await page.goto(f"{base}cases/{refs['closed']}/letter?lang={lang}")
        assert await page.get_attribute("html", "lang") == lang
        assert await axe_violations(page) == [], (lang, describe(await axe_violations(page)))
        letter = await page.locator("article.letter").inner_text()
        for field in fields:
            assert field in letter, (lang, field)
        await page.emulate_media(media="print")
        hidden = await page.evaluate(
            "() => [...document.querySelectorAll('header, .no-print')].every("
            "e => getComputedStyle(e).display === 'none')")
        assert hidden and await page.locator("article.letter").is_visible()
        pdf = await page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 5000
        await page.emulate_media(media="screen")
        await shot(page, f"dsr-letter-{lang}")
