"""Handing the conversation to a person at Halmstad direkt, or leaving them a message.

Staffed (within the staffed hours, an agent available, a short enough wait): the conversation
joins the queue and the flow ends at once, so the guardian may keep asking the bot while waiting;
the handoff service (`ctx.services.handoff`) tells them their place as it changes and connects
them when an agent accepts. Not staffed (closed, a holiday, nobody available, a long wait): the
bot says why and offers to take a message: name, phone or e-mail, the message, saved durably
before the guardian is told when Halmstad direkt opens next. Without a handoff service (the
terminal chat) it gives Halmstad direkt's phone, e-mail and hours.
"""
from __future__ import annotations

import re

from common.calendar import HoursQuery, format_datetime
from flows.answers import Lexicon, find_contact, find_name
from flows.contact_hours import calendar_for
from flows.machine import (
    END, Answer, Choice, Field, Finish, Flow, FlowContext, Goto, NotAnAnswer, Stay, Step,
)

YES = Choice("yes", "common.yes", "common.yes_words")
NO = Choice("no", "common.no", "common.no_words")
MAX_NAME = 100
MAX_MESSAGE = 2000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-()]+$")


def contact_kind(text: str) -> str | None:
    """Return "email" or "phone" when `text` is a usable address or number, else None."""
    value = text.strip()
    if len(value) > 254:
        return None
    if _EMAIL.match(value):
        return "email"
    digits = re.sub(r"\D", "", value)
    if _PHONE_CHARS.match(value) and 7 <= len(digits) <= 15:
        return "phone"
    return None


def _contact_details(ctx: FlowContext) -> None:
    calendar = calendar_for(ctx.knowledge)
    status = calendar.answer(HoursQuery(kind="phone", open_now=True), ctx.now, ctx.lang, ctx.t)
    ctx.say("handoff.contact_details", status=status)


def _when_open(ctx: FlowContext, moment) -> str:
    calendar = calendar_for(ctx.knowledge)
    return format_datetime(moment.astimezone(calendar.tz), ctx.lang, ctx.t, now=ctx.now)


async def _start(ctx: FlowContext):
    service = ctx.services.handoff
    args = ctx.data.get("args") or {}
    if service is None:
        _contact_details(ctx)
        return Finish()
    existing = service.queue.open_for_session(ctx.session)
    if existing is not None:
        if existing["status"] == "assigned":
            ctx.say("handoff.already_connected", agent=existing.get("agent_name") or "")
        else:
            position = service.queue.position(existing["id"]) or 1
            ctx.say("handoff.already_waiting", position=str(position),
                    minutes=str(service.estimate_minutes(position)),
                    buttons=[ctx.button("handoff.leave_queue", "cmd:cancel")])
        return Finish()
    availability = service.availability(ctx.now, ctx.knowledge)
    if availability.staffed:
        _, position, minutes, _ = await service.join(
            ctx.session, lang=ctx.lang, channel=ctx.channel, reason=args.get("reason") or "asked",
            from_flow=args.get("from"))
        ctx.say("handoff.queued", position=str(position), minutes=str(minutes),
                buttons=[ctx.button("handoff.leave_queue", "cmd:cancel")])
        return Finish()
    ctx.data["reason"] = args.get("reason") or "asked"
    if availability.reason == "closed":
        when = _when_open(ctx, availability.next_open) if availability.next_open else ""
        ctx.say("handoff.not_staffed_closed", next_open=when)
    elif availability.reason == "wait":
        ctx.say("handoff.not_staffed_wait", minutes=str(availability.minutes))
    else:
        ctx.say("handoff.not_staffed_nobody")
    return Goto("handoff:offer")


async def _offer(ctx: FlowContext, answer: Answer):
    if answer.choice == "yes":
        privacy = ctx.knowledge.settings.get("privacy") or {}
        ctx.data["retention_days"] = int(privacy.get("retention_days", 90))
        return Goto("handoff:ask_name")
    if answer.choice == "no":
        _contact_details(ctx)
        return Finish()
    return NotAnAnswer()


def _next(ctx: FlowContext) -> Goto:
    """Go to the first of name, contact and message still missing (a correction forgets one)."""
    if not ctx.data.get("person"):
        return Goto("handoff:ask_name")
    if not ctx.data.get("contact"):
        return Goto("handoff:ask_contact")
    return Goto("handoff:ask_message")


async def _name(ctx: FlowContext, answer: Answer):
    raw = " ".join((answer.text or "").split())
    if not raw or "?" in raw or "[" in raw:
        return NotAnAnswer()
    name = find_name(raw, ctx.knowledge)  # "jag heter Anna Andersson" → "Anna Andersson"
    if not name or len(name) > MAX_NAME or sum(ch.isdigit() for ch in name) > 0:
        ctx.say("handoff.bad_name")
        return Stay()
    ctx.data["person"] = name
    return _next(ctx)


async def _contact(ctx: FlowContext, answer: Answer):
    value = (answer.text or "").strip()
    kind = contact_kind(value) if value else None
    if kind is not None:  # just the number or address
        contact, note = value, ""
    else:  # in a sentence: "ni kan ringa mig på 070 123 45 67 helst eftermiddag"
        found = find_contact(value, Lexicon.of(ctx.knowledge).contact_lead) if value else None
        contact, note = (found.value, found.note) if found and found.value else (None, "")
        kind = contact_kind(contact) if contact else None
    if kind is None:
        if not value or value.endswith("?"):
            return NotAnAnswer()
        ctx.say("handoff.bad_contact")
        return Stay()
    ctx.data["contact"] = contact
    ctx.data["contact_kind"] = kind
    # What else the sentence said ("helst eftermiddag") goes to the agent with the message.
    ctx.data["contact_note"] = note
    return _next(ctx)


async def _message(ctx: FlowContext, answer: Answer):
    text = (answer.text or "").strip()
    if not text:
        return NotAnAnswer()
    if len(text) > MAX_MESSAGE:
        ctx.say("handoff.bad_message", max=str(MAX_MESSAGE))
        return Stay()
    service = ctx.services.handoff
    if ctx.data.get("contact_note"):
        text += "\n\n" + ctx.t("handoff.contact_note", note=ctx.data["contact_note"])
    try:
        item = await service.leave_message(
            ctx.session, name=ctx.data["person"], contact=ctx.data["contact"],
            contact_kind=ctx.data["contact_kind"], text=text, lang=ctx.lang, channel=ctx.channel,
            reason=ctx.data.get("reason"))
    except Exception:
        ctx.say("handoff.message_failed")
        return Finish()
    status = calendar_for(ctx.knowledge).status("staffed", ctx.now)
    reference = item["id"].upper()
    if status.is_open:
        ctx.say("handoff.message_saved_open", person=ctx.data["person"], contact=ctx.data["contact"],
                reference=reference)
    else:
        when = _when_open(ctx, status.next_open) if status.next_open else ""
        ctx.say("handoff.message_saved", person=ctx.data["person"], contact=ctx.data["contact"],
                reference=reference, next_open=when)
    return Finish(menu=True)


async def _never(ctx: FlowContext, answer: Answer):
    return NotAnAnswer()


# The steps that take a name, a contact and a message are not `free_text`: a message such as
# "Hur aktiverar jag appen? Jag har försökt allt" is the message, not a question to interrupt with.
FLOW = Flow(
    name="handoff",
    title="handoff.title",
    start="handoff:start",
    steps=[
        Step("handoff:start", _never, ("handoff:offer", END), on_enter=_start),
        Step("handoff:offer", _offer, ("handoff:ask_name", END), prompt="handoff.offer_message",
             choices=(YES, NO), help="handoff.help_offer"),
        Step("handoff:ask_name", _name, ("handoff:ask_contact", "handoff:ask_message"),
             prompt="handoff.ask_name", help="handoff.help_message", expects="name"),
        Step("handoff:ask_contact", _contact, ("handoff:ask_message", "handoff:ask_name"),
             prompt="handoff.ask_contact", help="handoff.help_message", expects="contact"),
        Step("handoff:ask_message", _message, (END, "handoff:ask_name", "handoff:ask_contact"),
             prompt="handoff.ask_message", help="handoff.help_message", expects="text"),
    ],
    # "oj, fel nummer" while leaving the message goes back to the number (flows/answers.py).
    fields=(Field("name", "handoff:ask_name", "answers.field_name_words", ("person",)),
            Field("contact", "handoff:ask_contact", "answers.field_contact_words",
                  ("contact", "contact_kind", "contact_note"))),
)
