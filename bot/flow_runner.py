"""Runs the guided conversations (flows/): starts a flow, gives a step its answer, follows the
transition the step's table allows, and asks the next step.

Typed text at a step is read once by flows/answers.py (a choice in words, a change of mind, a
correction, a person); what answers nothing and clearly asks something else is handed to
`bot/interruptions.py`.
"""
from __future__ import annotations

import logging

from bot.knowledge import Entry
from bot.state import ConversationState
from bot.understanding import Match
from bot.turn import Dialogue, Turn
from common.logtally import LogTally
from common.messages import Button, Reply
from flows import answers
from flows.machine import (
    Answer, Escalate, Finish, Flow, FlowContext, FlowDefinitionError, Goto, NotAnAnswer, Stay, Step,
    choice_payload,
)


log = logging.getLogger("halmstad.engine")
MAX_HOPS = 12
FLOW_SUMMARY_SECONDS = 60.0


class FlowRunner:
    """The engine's part that moves conversations through flows."""

    def __init__(self, engine: Dialogue) -> None:
        self.engine = engine
        # Flows started and finished: a DEBUG line each, an INFO summary a minute.
        self.flow_log = LogTally(log, "flows", FLOW_SUMMARY_SECONDS)

    def _flow_event(self, event: str, name: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("flow %s flow=%s", event, name)
        self.flow_log.add(f"{event} {name}")

    def active(self, state: ConversationState) -> tuple[Flow | None, Step | None]:
        """Return the active flow and the step waiting for an answer (None, None outside one)."""
        flow = self.engine.flows.get(state.flow or "")
        step = flow.by_id.get(state.step or "") if flow else None
        return flow, step

    def is_one_shot(self, name: str) -> bool:
        flow = self.engine.flows.get(name)
        return flow is not None and flow.one_shot

    def context(self, turn: Turn) -> FlowContext:
        state, engine = turn.state, self.engine
        return FlowContext(session=turn.inbound.session, channel=turn.inbound.channel, lang=state.lang,
                           data=state.data, now=turn.now, texts=engine.t, services=engine.services,
                           knowledge=engine.knowledge, client=turn.inbound.client)

    async def start(self, turn: Turn, name: str, args: dict, text: str | None, *,
                    say_answer: Entry | None = None) -> list[Reply]:
        """Start flow `name` (leaving any other), optionally after an entry's answer."""
        engine, state = self.engine, turn.state
        flow = engine.flows.get(name)
        out: list[Reply] = []
        if say_answer is not None and say_answer.answer:
            out.append(engine.answering.render_entry(say_answer, state.lang))
        if flow is None:
            return out or [Reply(engine.t("core.fallback", state.lang), engine.menu_buttons(state.lang))]
        state.enter_flow(name, flow.start, {"args": dict(args or {}), "text": text})
        if name != "handoff" and not self.is_one_shot(name):
            state.paused = None
        state.topic = state.topic or name
        state.last_outcome = f"flow:{name}"
        self._flow_event("start", name)
        return out + await self.enter(turn, flow, flow.start)

    async def run_step(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        """Give the answer to the active step; None when it is not an answer to it."""
        flow, step = self.active(turn.state)
        ctx = self.context(turn)
        transition = await step.on_answer(ctx, answer)
        if isinstance(transition, NotAnAnswer):
            return ctx.out or None
        return ctx.out + await self.follow(turn, flow, step, transition)

    async def follow(self, turn: Turn, flow: Flow, step: Step, transition, hops: int = 0) -> list[Reply]:
        """Carry out a step's transition (checked against the step's declared routes)."""
        flow.check_transition(step, transition)
        state, engine = turn.state, self.engine
        if hops > MAX_HOPS:
            raise FlowDefinitionError(f"flow {flow.name!r} moved more than {MAX_HOPS} times in one turn")
        if isinstance(transition, Goto):
            return await self.enter(turn, flow, transition.step, hops + 1)
        if isinstance(transition, Stay):
            return await self.prompt(turn, flow, step) if transition.reprompt else []
        if isinstance(transition, Finish):
            state.leave_flow()
            self._flow_event("end", flow.name)
            if transition.menu:
                return [Reply(engine.t("core.anything_else", state.lang), engine.menu_buttons(state.lang))]
            return []
        if isinstance(transition, Escalate):
            log.info("flow escalate flow=%s reason=%s", flow.name, transition.reason)
            return await self.start(turn, "handoff", {"reason": transition.reason, "from": flow.name}, None)
        raise FlowDefinitionError(f"flow {flow.name!r}: unknown transition {transition!r}")

    async def enter(self, turn: Turn, flow: Flow, step_id: str, hops: int = 0) -> list[Reply]:
        """Move to a step: run its on_enter (which may move on at once), then ask it."""
        step = flow.by_id[step_id]
        turn.state.move_to(step_id)
        out: list[Reply] = []
        if step.on_enter is not None:
            ctx = self.context(turn)
            transition = await step.on_enter(ctx)
            out += ctx.out
            if transition is not None and not isinstance(transition, Stay):
                return out + await self.follow(turn, flow, step, transition, hops)
            if isinstance(transition, Stay) and not transition.reprompt:
                return out
        return out + await self.prompt(turn, flow, step)

    async def prompt(self, turn: Turn, flow: Flow, step: Step) -> list[Reply]:
        """Ask the step's question with its choices as buttons."""
        if step.prompt is None and not step.choices:
            return []
        lang = turn.state.lang
        data = {k: v for k, v in turn.state.data.items() if isinstance(v, (str, int, float))}
        text = self.engine.t(step.prompt, lang, **data) if step.prompt else ""
        return [Reply(text, self.choice_buttons(turn, step))]

    def choice_buttons(self, turn: Turn, step: Step) -> tuple[Button, ...]:
        lang = turn.state.lang
        return tuple(Button(self.engine.t(c.label, lang), choice_payload(c.value)) for c in step.choices)

    # Typed text at a step -----------------------------------------------------------------------

    async def in_flow(self, turn: Turn, text: str, match: Match) -> list[Reply]:
        """Give typed text to the active step, read by the one interpreter of flows/answers.py:
        a change of mind, a choice (typed or in words), a person, a correction, an age; only input
        that answers nothing and clearly asks something else is a detour to the FAQ."""
        engine, state = self.engine, turn.state
        flow, step = self.active(state)
        if step is None:
            state.leave_flow()
            return await engine.answering.understood(turn, text, match)
        reading = answers.read(text, step, flow, engine.knowledge, state.data)
        if reading.cancel:
            return await engine.commands.run(turn, "cancel")
        replies = (await self._answer(turn, Answer(text=text, choice=reading.exact))
                   if reading.exact is not None else None)
        if replies is not None:
            return replies
        entry = engine.knowledge.entries.get(match.best.entry_id) if match.best else None
        if flow.name != "handoff" and (reading.human or (
                match.outcome == "answer" and entry and entry.flow == "handoff")):
            return await self.start(turn, "handoff", {"reason": "asked"}, text)
        if reading.correction:
            state.detours = 0
            return await self.correct(turn, flow, step, reading.field, text)
        if reading.unsure:
            state.detours = 0
            return [Reply(engine.t(reading.unsure, state.lang), self.choice_buttons(turn, step))]
        if reading.choice is not None:
            replies = await self._answer(turn, Answer(text=text, choice=reading.choice))
            if replies is not None:
                return engine.answering.also_answer(turn, reading.question) + replies
        return await engine.interruptions.not_a_choice(turn, flow, step, text, match, entry, reading)

    async def _answer(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        """Run the step with the answer; a taken answer ends the run of detours."""
        replies = await self.run_step(turn, answer)
        if replies is not None:
            turn.state.detours = 0
        return replies

    async def correct(self, turn: Turn, flow: Flow, step: Step, field_name: str | None, text: str) -> list[Reply]:
        """Go back to the field a correction names ("oj, fel adress"), taking a new value typed with
        it ("fel nummer, det är 070-765 43 21"); with no field named, the step's "change" choice."""
        state, engine = turn.state, self.engine
        fld = next((f for f in flow.fields if f.name == field_name), None) if field_name else None
        if fld is None:
            replies = await self.run_step(turn, Answer(text=text, choice="change"))
            if replies is not None:
                return replies
            return [Reply(engine.t("core.not_an_answer", state.lang))] + await self.prompt(turn, flow, step)
        flow.check_transition(step, Goto(fld.step))
        for key in fld.keys:
            state.data.pop(key, None)
        target = flow.by_id[fld.step]
        state.move_to(fld.step)
        if target.choices:  # "fel, det gäller ett nytt konto": the sentence may answer it again
            again = answers.read(text, target, flow, engine.knowledge, state.data)
            value = again.exact or again.choice
            answer = Answer(text=text, choice=value) if value else None
        else:
            value = answers.find_contact(text).value if target.expects in ("contact", "email") else None
            answer = Answer(text=value) if value else None
        if answer is not None:
            replies = await self.run_step(turn, answer)
            if replies is not None:
                return replies
        return await self.enter(turn, flow, fld.step)
