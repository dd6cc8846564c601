"""Global commands, available at every step: a table of handlers; the words that call them are
texts in knowledge/ (`command.<name>`, Swedish and English words separated by "|"), and every
command also travels as a `cmd:<name>` button."""
from __future__ import annotations

from typing import Awaitable, Callable

from bot.knowledge import Knowledge
from bot.placeholders import public_retention_decision
from bot.state import ConversationState
from bot.turn import Dialogue, Turn
from common.messages import Reply
from common.text import normalize


# Each command and the text key of its words ("lang:en" → command.lang_en).
COMMAND_NAMES = ("cancel", "menu", "help", "language", "resume", "lang:en", "lang:sv", "privacy", "human")
TYPED = tuple(c for c in COMMAND_NAMES if c != "human")  # "a person" is understood, not a keyword
TEXT_KEYS = {f"command.{c.replace(':', '_')}" for c in TYPED}


class UnknownButton(ValueError):
    """Raised for a button payload the conversation never offered."""


def command_words(knowledge: Knowledge) -> dict[str, str]:
    """Return every typed command word (normalised, and as typed in lower case) → command."""
    out: dict[str, str] = {}
    for command in TYPED:
        for lang in ("sv", "en"):
            for word in knowledge.text(f"command.{command.replace(':', '_')}", lang).split("|"):
                word = word.strip().lower()
                if word:
                    out.setdefault(word, command)
                if normalize(word):
                    out.setdefault(normalize(word), command)
    return out


class Commands:
    """Carries out the global commands for the engine."""

    def __init__(self, engine: Dialogue) -> None:
        self.engine = engine
        self._words: tuple[Knowledge | None, dict[str, str]] = (None, {})
        self.table: dict[str, Callable[[Turn], Awaitable[list[Reply]]]] = {
            "cancel": self.cancel, "menu": self.menu, "help": self.help, "language": self.language,
            "lang:sv": self.language, "lang:en": self.language, "privacy": self.privacy,
            "human": self.human, "resume": self.resume,
        }

    def words(self) -> dict[str, str]:
        knowledge = self.engine.knowledge
        if self._words[0] is not knowledge:
            self._words = (knowledge, command_words(knowledge))
        return self._words[1]

    def lookup(self, text: str) -> str | None:
        """Return the command a whole typed message is one of the words of, if any."""
        words = self.words()
        return words.get(normalize(text)) or words.get(text.strip().lower())

    def is_word_for(self, command: str, text: str) -> bool:
        """True when `text` is one of the words of `command` (the handoff's "avbryt")."""
        return self.lookup(text) == command

    def command_of(self, text: str, state: ConversationState) -> str | None:
        """Return the command a whole typed message is, if any."""
        command = self.lookup(text)
        if command == "resume" and (state.flow or not state.paused):
            return None  # "fortsätt" is then an ordinary answer (e.g. a step's "Fortsätt" button)
        return command

    def check_payload(self, state: ConversationState, payload: str) -> None:
        """Refuse a button the conversation never offered (UnknownButton)."""
        kind, _, value = payload.partition(":")
        knowledge = self.engine.knowledge
        known = ((kind == "cmd" and value in self.table) or (kind == "flow" and value in self.engine.flows)
                 or (kind == "faq" and value in knowledge.entries and not knowledge.entries[value].out_of_scope)
                 or payload in state.offered_payloads())
        if not known:
            raise UnknownButton("this button is not offered in the conversation")

    async def run(self, turn: Turn, command: str) -> list[Reply]:
        """Carry out a global command."""
        handler = self.table.get(command)
        if handler is None:
            raise UnknownButton(f"unknown command {command!r}")
        turn.state.last_outcome = f"cmd:{command}"
        turn.command = command
        return await handler(turn)

    # The commands -------------------------------------------------------------------------------

    def _menu_reply(self, key: str, lang: str, **fmt) -> list[Reply]:
        return [Reply(self.engine.t(key, lang, **fmt), self.engine.menu_buttons(lang))]

    async def cancel(self, turn: Turn) -> list[Reply]:
        state = turn.state
        had_flow = state.flow is not None
        if not had_flow:  # a flow set aside counts too, and goes now
            had_flow, state.paused = state.paused is not None, None
        state.leave_flow()
        return self._menu_reply("core.cancelled" if had_flow else "core.nothing_to_cancel", state.lang)

    async def menu(self, turn: Turn) -> list[Reply]:
        turn.state.leave_flow()
        return self._menu_reply("core.menu", turn.state.lang)

    async def help(self, turn: Turn) -> list[Reply]:
        flow, step = self.engine.runner.active(turn.state)
        if step is not None and step.help:
            return [Reply(self.engine.t(step.help, turn.state.lang))] + await self.engine.runner.prompt(turn, flow, step)
        return self._menu_reply("core.help", turn.state.lang)

    async def language(self, turn: Turn) -> list[Reply]:
        state = turn.state
        command = turn.command
        state.lang = ("en" if state.lang == "sv" else "sv") if command == "language" else command.split(":")[1]
        return await self._then_step_again(turn, [Reply(self.engine.t("core.language_set", state.lang))],
                                           menu_if_no_flow=True)

    async def privacy(self, turn: Turn) -> list[Reply]:
        settings = self.engine.knowledge.settings
        lang = turn.state.lang
        decision = public_retention_decision(settings, lang)  # never a placeholder's example
        days = (settings.get("privacy") or {}).get("retention_days", 90)
        notice = Reply(self.engine.t("privacy.notice", lang, retention_days=days,
                                     retention_decision=decision))
        return await self._then_step_again(turn, [notice], menu_if_no_flow=False)

    async def human(self, turn: Turn) -> list[Reply]:
        return await self.engine.runner.start(turn, "handoff", {"reason": "asked"}, turn.text)

    async def resume(self, turn: Turn) -> list[Reply]:
        state = turn.state
        paused = state.paused
        flow = self.engine.flows.get(paused.flow) if paused else None
        if flow is None or paused.step not in flow.by_id:
            state.paused = None
            return self._menu_reply("core.nothing_to_resume", state.lang)
        state.resume()
        return [Reply(self.engine.t("core.resume", state.lang))] + await self.engine.runner.prompt(
            turn, flow, flow.by_id[paused.step])

    async def _then_step_again(self, turn: Turn, out: list[Reply], *, menu_if_no_flow: bool) -> list[Reply]:
        """After a side command, ask the active step again (or show the menu)."""
        flow, step = self.engine.runner.active(turn.state)
        if step is not None:
            return out + await self.engine.runner.prompt(turn, flow, step)
        if menu_if_no_flow:
            out[0] = Reply(out[0].text, self.engine.menu_buttons(turn.state.lang))
        return out
