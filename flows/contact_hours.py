"""Halmstad direkt's hours: "are you open now?", "when do you open?", phone or visiting, a day.

A one-step flow: it answers at once from `common.calendar` (holidays, the staff exceptions calendar,
Europe/Stockholm with DST) at the turn's clock, then ends. The FAQ entry that starts it says
which topic was asked (flow_args.topic); the words of the question refine it (today, tomorrow,
a weekday, phone or visiting).
"""
from __future__ import annotations

from dataclasses import replace

from common.calendar import HoursQuery
from flows.hours_questions import parse_question
from flows.machine import Flow, FlowContext, Step, end


def query_for(topic: str | None, text: str | None, lang: str, today) -> HoursQuery:
    """Combine the entry's topic with what the question's own words say."""
    query = parse_question(text or "", lang, today) if text else HoursQuery()
    if query.schedule:
        return query  # "när kan jag ringa er": the words ask for a schedule, whatever entry matched
    if topic == "open_now" and not (query.day not in (None, "today") or query.next_open):
        query = replace(query, open_now=True)
    elif topic == "next_open":
        query = replace(query, next_open=True)
    elif topic in ("phone", "visiting") and query.kind == "both":
        query = replace(query, kind=topic)
    return query


async def _answer(ctx: FlowContext) -> str:
    args = ctx.data.get("args") or {}
    calendar = ctx.knowledge.calendar
    local_now = ctx.now.astimezone(calendar.tz) if hasattr(calendar, "tz") else ctx.now
    query = query_for(args.get("topic"), ctx.data.get("text"), ctx.lang, local_now.date())
    ctx.say_text(calendar.answer(query, ctx.now, ctx.lang, ctx.t),
                 buttons=[ctx.button("hours.button_phone_hours", "faq:hours-phone"),
                          ctx.button("hours.button_visiting_hours", "faq:hours-visiting")]
                 if query.open_now or query.next_open else [])
    return "answered"


def reply_key(args: dict, text: str, lang: str, today) -> HoursQuery:
    """What decides the reply: the query made of the entry's topic and the question's words."""
    return query_for(args.get("topic"), text, lang, today)


FLOW = Flow(
    name="contact_hours",
    title="hours.title",
    start="contact_hours:answer",
    steps=[Step("contact_hours:answer", routes={"answered": end("answered")}, on_enter=_answer)],
    one_shot=True,
    reply_key=reply_key,
)
