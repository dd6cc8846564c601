"""Handing the conversation to a person at Halmstad direkt.

Until the live handoff (queue and agent console) is wired in, this gives Halmstad direkt's phone,
e-mail and whether they are open now.
"""
from __future__ import annotations

from bot.hours import HoursQuery
from flows.contact_hours import calendar_for
from flows.machine import END, Answer, Finish, Flow, FlowContext, NotAnAnswer, Step


async def _contact(ctx: FlowContext):
    calendar = calendar_for(ctx.knowledge)
    status = calendar.answer(HoursQuery(kind="phone", open_now=True), ctx.now, ctx.lang, ctx.t)
    ctx.say("handoff.contact_details", status=status)
    return Finish()


async def _never(ctx: FlowContext, answer: Answer):
    return NotAnAnswer()


FLOW = Flow(
    name="handoff",
    title="handoff.title",
    start="handoff:contact",
    steps=[Step("handoff:contact", _never, (END,), on_enter=_contact)],
)
FLOW.one_shot = True
