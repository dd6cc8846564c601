"""The main menu and the command words come from knowledge/, where staff edit them, and a menu
button that cannot work is refused by the knowledge check (and so by a live reload)."""
from __future__ import annotations

import shutil

import pytest

from bot.clock import make_clock
from bot.engine import Engine
from bot.holder import KnowledgeHolder, load_checked
from bot.knowledge import KnowledgeError, default_knowledge_dir
from bot.store.memory import MemoryStore
from flows.registry import all_flows
from tests.conftest import Talk


@pytest.fixture
def knowledge_copy(tmp_path):
    root = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), root)
    return root


def engine_on(root) -> Engine:
    holder = KnowledgeHolder(root, all_flows())
    return Engine(source=holder, store=MemoryStore(), flows=holder.flows, clock=make_clock("2026-12-01T10:00"))


async def test_the_menu_shows_the_buttons_of_settings_in_their_order(talk):
    await talk("meny")
    assert [b.payload for b in talk.buttons] == ["flow:account", "flow:activation", "faq:hours-overview",
                                                 "flow:data_rights", "cmd:human"]


async def test_staff_reorder_the_menu_and_add_a_command_word_without_code(knowledge_copy):
    settings = knowledge_copy / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    text = text.replace('  - {label: menu.human, action: "cmd:human"}\n', "")
    text = text.replace("menu:\n", 'menu:\n  - {label: menu.human, action: "cmd:human"}\n')
    settings.write_text(text, encoding="utf-8")
    core = knowledge_copy / "texts" / "core.yaml"
    core.write_text(core.read_text(encoding="utf-8").replace(
        'sv: "avbryt|avbryt allt|', 'sv: "glöm det|avbryt|avbryt allt|'), encoding="utf-8")
    talk = Talk(engine_on(knowledge_copy))
    await talk("hur ansöker jag om konto?")
    await talk("glöm det")
    assert "avbrutit" in talk.text
    assert [b.payload for b in talk.buttons][0] == "cmd:human"


@pytest.mark.parametrize("button, problem", [
    ('{label: menu.account, action: "flow:no_such_flow"}', "cannot run"),
    ('{label: menu.nothing, action: "flow:account"}', "is not a text"),
    ('{label: menu.hours, action: "faq:no-such-entry"}', "cannot run"),
])
def test_a_menu_button_that_cannot_work_is_refused_with_its_place(knowledge_copy, button, problem):
    settings = knowledge_copy / "settings.yaml"
    text = settings.read_text(encoding="utf-8").replace("menu:\n", f"menu:\n  - {button}\n")
    settings.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as refused:
        load_checked(knowledge_copy, all_flows())
    messages = [str(p) for p in refused.value.problems]
    assert any("settings.yaml" in m and "menu button 1" in m and problem in m for m in messages), messages


def test_a_missing_menu_is_refused(knowledge_copy):
    settings = knowledge_copy / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text[:text.index("\n# The main menu's buttons")] + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as refused:
        load_checked(knowledge_copy, all_flows())
    assert any("'menu:' must list" in str(p) for p in refused.value.problems)
