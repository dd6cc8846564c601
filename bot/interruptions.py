"""Detours inside a flow: a question asked in the middle of a step is answered and the step asked
again; after three detours in a row the flow is set aside, to be resumed on request."""
from __future__ import annotations

import logging

from bot.knowledge import Entry
from bot.understanding import Match
from bot.turn import Dialogue, Turn
from common.messages import Button, Reply
from common.text import normalize
from flows.machine import Answer, Flow, Step


log = logging.getLogger("halmstad.engine")
MAX_DETOURS = 3
_QUESTION_WORDS = {"nar", "vad", "hur", "var", "vem", "vilka", "vilken", "varfor", "kan", "ar", "har",
                   "when", "what", "how", "where", "who", "which", "why", "can", "are", "is", "do", "does"}


def looks_like_question(text: str) -> bool:
    words = normalize(text).split()
    return text.strip().endswith("?") or bool(words and words[0] in _QUESTION_WORDS)


class Interruptions:
    """The engine's part for input at a step that is no choice of it."""

    def __init__(self, engine: Dialogue) -> None:
        self.engine = engine

    async def not_a_choice(self, turn: Turn, flow: Flow, step: Step, text: str, match: Match,
                           entry: Entry | None, reading) -> list[Reply]:
        """Typed text that chose nothing: a question on the side, a free answer, or no answer."""
        engine, state = self.engine, turn.state
        other_topic = match.outcome == "answer" and entry is not None and entry.flow != flow.name
        if step.free_text and other_topic and looks_like_question(text):
            return await self.interrupt(turn, entry, text, flow)
        replies = await engine.runner.run_step(turn, Answer(text=text))
        if replies is not None:
            state.detours = 0
            return replies
        if other_topic:
            return await self.interrupt(turn, entry, text, flow)
        if not reading.answered:  # a worded answer the step could not take is no detour
            state.detours += 1
        if match.outcome == "clarify":
            out = await engine.answering.understood(turn, text, match)
            return out + await engine.runner.prompt(turn, flow, flow.by_id[state.step])
        out = [Reply(engine.t("core.not_an_answer", state.lang))]
        if state.detours >= MAX_DETOURS:
            return out + self.pause(turn, flow)
        return out + await engine.runner.prompt(turn, flow, flow.by_id[state.step])

    async def interrupt(self, turn: Turn, entry: Entry, text: str, flow: Flow) -> list[Reply]:
        """Answer a question asked in the middle of a flow, then ask the step again."""
        engine, state = self.engine, turn.state
        position = state.position
        saved = (position.flow, position.step, dict(position.data))
        detours = state.detours  # a one-shot flow run on the side starts its own count
        out: list[Reply] = []
        if entry.flow and entry.flow != flow.name and engine.runner.is_one_shot(entry.flow):
            # A one-step flow (hours) answers and ends at once; run it on a scratch state.
            out += await engine.runner.start(turn, entry.flow, entry.flow_args, text, say_answer=entry)
        elif entry.flow and entry.flow != flow.name:
            title = engine.t(engine.flows[entry.flow].title, state.lang)
            out.append(Reply(engine.t("core.other_flow_offer", state.lang, title=title),
                             (Button(title, f"flow:{entry.flow}"),)))
        else:
            out += await engine.answering.answer_entry(turn, entry, text, resume=True)
        state.enter_flow(*saved)
        state.last_outcome = "interruption"
        state.detours = detours + 1
        if state.detours >= MAX_DETOURS:
            return out + self.pause(turn, flow)
        out.append(Reply(engine.t("core.resume", state.lang)))
        return out + await engine.runner.prompt(turn, flow, flow.by_id[state.step])

    def pause(self, turn: Turn, flow: Flow) -> list[Reply]:
        """Set the flow aside after repeated detours: the guardian has moved on; offer to resume."""
        engine, state = self.engine, turn.state
        state.pause()
        title = engine.t(flow.title, state.lang)
        log.info("flow paused flow=%s", flow.name)
        return [Reply(engine.t("core.flow_paused", state.lang, title=title),
                      (Button(engine.t("core.resume_button", state.lang, title=title), "cmd:resume"),
                       Button(engine.t("core.none_of_these_menu", state.lang), "cmd:menu")))]
