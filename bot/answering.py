"""Answering without a flow: an FAQ entry's answer, a clarification, the fallback, the main menu.

The main menu's buttons come from `knowledge/settings.yaml` (`menu:`), in the order staff list
them; every reply is rendered here from knowledge texts.
"""
from __future__ import annotations

from datetime import date

from bot.clock import STOCKHOLM
from bot.knowledge import Entry, Knowledge, Problem, VersionCache
from bot.understanding import Match
from bot.turn import Dialogue, Turn
from common.messages import Button, Reply


MENU_ACTIONS = ("flow:", "faq:", "cmd:human")


def _menu_lines(knowledge: Knowledge) -> list[int]:
    """Return the line of `menu:` in settings.yaml, then of each of its buttons (best effort)."""
    try:
        lines = (knowledge.root / "settings.yaml").read_text(encoding="utf-8").splitlines()
    except OSError:
        return [1]
    start = next((i for i, line in enumerate(lines) if line.startswith("menu:")), None)
    if start is None:
        return [1]
    items = [i + 1 for i, line in enumerate(lines[start + 1:], start + 1) if line.lstrip().startswith("- ")
             and not line.startswith("- ")]
    return [start + 1] + items


def menu_problems(knowledge: Knowledge, flows) -> list[Problem]:
    """Check settings.yaml's `menu:` (a knowledge check): labels exist, actions can run."""
    where = f"{knowledge.root.name}/settings.yaml"
    menu = knowledge.settings.get("menu")
    at = _menu_lines(knowledge)
    if menu is None and len(at) > 1:
        return []  # the file has a menu the loader could not read: it reports that root problem
    if not isinstance(menu, list) or not menu:
        return [Problem(where, at[0], "'menu:' must list the main menu's buttons",
                        "give each button a label (a text key) and an action (flow:NAME, faq:ENTRY-ID or cmd:human)")]
    problems = []
    for n, item in enumerate(menu, 1):
        label = item.get("label") if isinstance(item, dict) else None
        action = item.get("action") if isinstance(item, dict) else None
        if not isinstance(label, str) or label not in knowledge.texts:
            problems.append(Problem(where, at[min(n, len(at) - 1)], f"menu button {n}: the label {label!r} is not a text",
                                    "name a text key from knowledge/texts/, e.g. menu.account"))
        kind, _, value = str(action).partition(":")
        if not ((kind == "flow" and value in flows) or (kind == "faq" and value in knowledge.entries)
                or action == "cmd:human"):
            problems.append(Problem(where, at[min(n, len(at) - 1)], f"menu button {n}: the action {action!r} cannot run",
                                    "use flow:NAME, faq:ENTRY-ID or cmd:human"))
    return problems


class Answering:
    """What the bot says when no flow is waiting for an answer."""

    def __init__(self, engine: Dialogue) -> None:
        self.engine = engine
        self._rendered = VersionCache()

    def menu_buttons(self, lang: str) -> tuple[Button, ...]:
        engine = self.engine  # its texts without arguments are made once per knowledge version
        return tuple(Button(engine.t(item["label"], lang), item["action"])
                     for item in engine.knowledge.settings.get("menu") or ())

    async def understood(self, turn: Turn, text: str, match: Match) -> list[Reply]:
        """Act on the understanding's decision: answer, offer the likeliest topics, or fall back."""
        state, engine = turn.state, self.engine
        lang = state.lang
        state.last_outcome = match.outcome
        if match.outcome == "answer":
            state.misses = 0
            entry = engine.knowledge.entries[match.best.entry_id]
            state.topic = entry.id
            return await self.answer_entry(turn, entry, text)
        if match.outcome == "clarify":
            state.misses = 0
            alike = alike_answer(engine.knowledge, engine.flows, match, text, lang,
                                 turn.now.astimezone(STOCKHOLM).date())
            if alike is not None:
                # "är ni öppna på juldagen?" between three hours entries that all give that day's
                # hours: nothing to choose between, so answer.
                return await self.answer_entry(turn, alike, text)
            return [self.clarification(match, lang)]
        state.misses += 1
        buttons = self.menu_buttons(lang)
        if state.misses >= 2:
            human = Button(engine.t("menu.human", lang), "cmd:human")
            return [Reply(engine.t("core.fallback_twice", lang),
                          (human,) + tuple(b for b in buttons if b.payload != "cmd:human"))]
        return [Reply(engine.t("core.fallback", lang), buttons)]

    def clarification(self, match: Match, lang: str) -> Reply:
        """Offer the two or three likeliest entries as buttons, and 'none of these'."""
        entries = self.engine.knowledge.entries
        buttons = []
        for cand in match.candidates[:3]:
            entry = entries[cand.entry_id]
            label = entry.phrasings.get(lang, entry.phrasings["sv"])[0]
            buttons.append(Button(_sentence(label), f"faq:{entry.id}"))
        buttons.append(Button(self.engine.t("core.none_of_these", lang), "cmd:menu"))
        return Reply(self.engine.t("core.clarify", lang), tuple(buttons))

    async def answer_entry(self, turn: Turn, entry: Entry, text: str | None, *,
                           resume: bool = False) -> list[Reply]:
        """Say an FAQ entry's answer (and start its flow, if it has one and no flow is active)."""
        state = turn.state
        state.topic = entry.id
        state.last_outcome = "answer"
        if entry.flow and not resume:
            return await self.engine.runner.start(turn, entry.flow, entry.flow_args, text, say_answer=entry)
        return [self.render_entry(entry, state.lang)] if entry.answer else []

    def render_entry(self, entry: Entry, lang: str) -> Reply:
        """Render an entry's answer with its links and follow-up buttons (once per knowledge
        version for its own entries: the same every time, and a frozen `Reply`)."""
        knowledge = self.engine.knowledge
        if knowledge.entries.get(entry.id) is not entry:
            return self._render(knowledge, entry, lang)
        made = self._rendered.made(knowledge)
        reply = made.get((entry.id, lang))
        if reply is None:
            reply = made[(entry.id, lang)] = self._render(knowledge, entry, lang)
        return reply

    @staticmethod
    def _render(knowledge: Knowledge, entry: Entry, lang: str) -> Reply:
        body = knowledge.render(entry.answer[lang], lang) if entry.answer else ""
        if entry.links:
            body += "\n" + "\n".join(f"{link['label'][lang]}: {link['url']}" for link in entry.links)
        buttons = tuple(Button(b["label"][lang], b["payload"]) for b in entry.buttons)
        return Reply(body.strip(), buttons)

    def also_answer(self, turn: Turn, question: str | None) -> list[Reply]:
        """Answer a question typed after a yes or no ("ja men hur gör jag om …?") when the FAQ
        knows it clearly and it needs no guided conversation of its own."""
        if not question:
            return []
        match = self.engine.understanding.match(question)
        entry = self.engine.knowledge.entries.get(match.best.entry_id) if match.best else None
        if match.outcome != "answer" or entry is None or entry.flow or not entry.answer:
            return []
        return [self.render_entry(entry, turn.state.lang)]


def alike_answer(knowledge: Knowledge, flows, match: Match, text: str, lang: str, today: date) -> Entry | None:
    """The entry to answer with instead of a clarification whose offered entries (the first
    three candidates) all give the same reply; None when there is a real choice."""
    offered = [knowledge.entries[c.entry_id] for c in match.candidates[:3]]
    return offered[0] if replies_alike(flows, offered, text, lang, today) else None


def replies_alike(flows, entries: list[Entry], text: str, lang: str, today: date) -> bool:
    """Whether two or more entries give `text` the very same reply: they start the same one-shot
    flow, and its `reply_key` (what decides the reply) is equal for the question."""
    if len(entries) < 2 or len({e.flow for e in entries}) != 1 or not entries[0].flow:
        return False
    flow = flows.get(entries[0].flow)
    if flow is None or flow.reply_key is None:
        return False
    keys = [flow.reply_key(e.flow_args, text, lang, today) for e in entries]
    return all(key == keys[0] for key in keys)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
