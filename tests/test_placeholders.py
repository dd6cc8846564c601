"""A retention decision marked as a placeholder in settings.yaml never reaches a guardian: the
privacy answer gives the retention period without the example's decision number, and the check
warns about it by name until staff fill it in (bot/placeholders.py, issue 15 "Also")."""
from __future__ import annotations

from bot.knowledge import default_knowledge_dir, load_knowledge
from bot.app import ServeConfig, build_app
from bot.placeholders import placeholder_problems, public_retention_decision
import aiohttp
from aiohttp import web

from tests.conftest import Talk, free_port
from tests.test_menu_and_commands import engine_on, knowledge_copy  # noqa: F401 - a fixture

REAL = "Barn- och utbildningsnämndens gallringsbeslut (dnr BUN 2026/123)"


def filled_in(root) -> None:
    """Do what staff do: write the decision and delete the placeholder line."""
    settings = root / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    text = text.replace("  retention_decision_placeholder: true\n", "")
    text = text.replace("Kommunstyrelsens gallringsbeslut för chattkonversationer (dnr KS 2026/000, "
                        "exempel – ersätt med ert beslut)", REAL)
    settings.write_text(text, encoding="utf-8")


async def test_the_shipped_placeholder_never_reaches_a_guardian(talk):
    english = Talk(talk.engine, session="en-session")
    for chat, word, lang, period in (
            (talk, "integritet", None, "sparas i 90 dagar enligt kommunens gallringsbeslut och gallras"),
            (english, "privacy", "en", "kept for 90 days under the municipality's disposal decision")):
        await chat(word, lang_hint=lang)
        assert period in chat.text
        assert "2026/000" not in chat.text and "exempel" not in chat.text and "example" not in chat.text


async def test_no_faq_answer_or_page_shows_the_placeholder(talk, tmp_path):
    """The FAQ answer about keeping chats renders {retention_decision} too, and so does the
    privacy page of the web chat."""
    for question in ("hur länge sparas chatten?", "how long do you keep my chat?"):
        await talk(question)
        assert "2026/000" not in talk.text, talk.text
    config = ServeConfig(port=free_port(), data_dir=tmp_path / "data", now="2026-12-01T10:00")
    runner = web.AppRunner(build_app(config))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.port).start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/integritet", "/integritet?lang=en"):
                async with http.get(f"http://127.0.0.1:{config.port}{path}") as resp:
                    page = await resp.text()
                assert resp.status == 200 and "90" in page and "2026/000" not in page, path
    finally:
        await runner.cleanup()


async def test_the_decision_staff_fill_in_is_said(knowledge_copy):
    filled_in(knowledge_copy)
    talk = Talk(engine_on(knowledge_copy))
    await talk("integritet")
    assert f"sparas i 90 dagar enligt {REAL} och gallras" in talk.text
    assert placeholder_problems(load_knowledge(knowledge_copy)) == []


def test_the_check_warns_about_the_placeholder_by_name_and_line():
    knowledge = load_knowledge(default_knowledge_dir())
    [warning] = placeholder_problems(knowledge)
    lines = (default_knowledge_dir() / "settings.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[warning.line - 1].strip() == "retention_decision_placeholder: true"
    assert warning.severity == "warning" and warning.path == "knowledge/settings.yaml"
    assert "privacy.retention_decision is a placeholder" in str(warning)
    assert "delete the line 'retention_decision_placeholder: true'" in str(warning)


def test_a_placeholder_without_the_unnamed_wording_or_a_bad_marker_is_refused(knowledge_copy):
    settings = knowledge_copy / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('    en: "the municipality\'s disposal decision"\n', ""),
                        encoding="utf-8")
    problems = placeholder_problems(load_knowledge(knowledge_copy))
    assert [p.severity for p in problems] == ["warning", "error"]
    assert "retention_decision_unnamed has no en text" in problems[1].message
    settings.write_text(text.replace("retention_decision_placeholder: true",
                                     "retention_decision_placeholder: ja"), encoding="utf-8")
    [problem] = placeholder_problems(load_knowledge(knowledge_copy))
    assert problem.severity == "error" and "must be true or false" in problem.message


def test_the_public_decision_follows_the_marker():
    decision = {"sv": "Beslut A (dnr 1)", "en": "Decision A (ref. 1)"}
    unnamed = {"sv": "kommunens gallringsbeslut", "en": "the municipality's disposal decision"}
    marked = {"privacy": {"retention_decision_placeholder": True, "retention_decision": decision,
                          "retention_decision_unnamed": unnamed}}
    assert public_retention_decision(marked, "sv") == "kommunens gallringsbeslut"
    marked["privacy"]["retention_decision_placeholder"] = False
    assert public_retention_decision(marked, "en") == "Decision A (ref. 1)"
    assert public_retention_decision({}, "sv") == ""
