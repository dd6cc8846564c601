"""Engine.t: a text without arguments is made once per knowledge version, and a new version's
texts are used as soon as it is in force."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from bot.engine import Engine
from bot.store.memory import MemoryStore
from flows.registry import all_flows


def test_texts_follow_the_knowledge_version_and_arguments_are_filled_every_time(holder):
    first = holder.knowledge
    source = SimpleNamespace(knowledge=first, understanding=holder.understanding)
    engine = Engine(source=source, store=MemoryStore(), flows=all_flows(), clock=None)
    said = engine.t("core.fallback", "sv")
    assert said == first.text("core.fallback", "sv")
    assert engine.t("core.fallback", "sv") is said, "made once for this version"

    texts = {key: dict(by_lang) for key, by_lang in first.texts.items()}
    texts["core.fallback"]["sv"] = "En ny version"
    source.knowledge = dataclasses.replace(first, texts=texts, cache={})
    assert engine.t("core.fallback", "sv") == "En ny version"
    assert engine.t("core.fallback", "en") == first.text("core.fallback", "en")

    texts["core.greeting_x"] = {"sv": "Hej {name}", "en": "Hi {name}"}
    assert engine.t("core.greeting_x", "sv", name="Åsa") == "Hej Åsa"
    assert engine.t("core.greeting_x", "sv", name="Bo") == "Hej Bo"


def test_an_answer_is_rendered_once_per_knowledge_version(holder):
    first = holder.knowledge
    source = SimpleNamespace(knowledge=first, understanding=holder.understanding)
    engine = Engine(source=source, store=MemoryStore(), flows=all_flows(), clock=None)
    entry = next(e for e in first.entries.values() if e.answer)
    reply = engine.answering.render_entry(entry, "sv")
    assert reply.text.startswith(first.render(entry.answer["sv"], "sv").strip()[:40])
    assert engine.answering.render_entry(entry, "sv") is reply

    changed = dataclasses.replace(entry, answer={"sv": "Nytt svar", "en": "New answer"})
    source.knowledge = dataclasses.replace(first, entries={**first.entries, entry.id: changed}, cache={})
    assert engine.answering.render_entry(changed, "sv").text.startswith("Nytt svar")
    assert engine.answering.render_entry(entry, "sv").text.startswith(reply.text[:40]), \
        "an entry not of the version in force is rendered, not taken from the cache"
