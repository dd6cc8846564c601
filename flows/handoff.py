"""Handing the conversation to a person at Halmstad direkt, or leaving them a message.

Staffed (within the staffed hours, an agent available, a short enough wait): the conversation
joins the queue and the flow ends at once, so the guardian may keep asking the bot while waiting;
the handoff service (`ctx.services.handoff`) tells them their place as it changes and connects
them when an agent accepts. Not staffed (closed, a holiday, nobody available, a long wait): the
bot says why and offers to take a message: a form of name, phone or e-mail and the message,
saved durably before the guardian is told when Halmstad direkt opens next. Without a handoff
service (the terminal chat) it gives Halmstad direkt's phone, e-mail and hours.
"""
from __future__ import annotations

import re

from common.calendar import HoursQuery, format_datetime
from flows.answers import Lexicon, find_contact, find_name
from flows.form import Ask, Form
from flows.machine import NO, YES, Answer, Flow, FlowContext, Stay, Step, end, to

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
    calendar = ctx.knowledge.calendar
    status = calendar.answer(HoursQuery(kind="phone", open_now=True), ctx.now, ctx.lang, ctx.t)
    ctx.say("handoff.contact_details", status=status)


def _when_open(ctx: FlowContext, moment) -> str:
    calendar = ctx.knowledge.calendar
    return format_datetime(moment.astimezone(calendar.tz), ctx.lang, ctx.t, now=ctx.now)


async def _start(ctx: FlowContext) -> str:
    service = ctx.services.handoff
    args = ctx.data.get("args") or {}
    if service is None:
        _contact_details(ctx)
        return "no_service"
    existing = service.queue.open_for_session(ctx.session)
    if existing is not None:
        if existing["status"] == "assigned":
            ctx.say("handoff.already_connected", agent=existing.get("agent_name") or "")
        else:
            position = service.queue.position(existing["id"]) or 1
            ctx.say("handoff.already_waiting", position=str(position),
                    minutes=str(service.estimate_minutes(position)),
                    buttons=[ctx.button("handoff.leave_queue", "cmd:cancel")])
        return "already_there"
    availability = service.availability(ctx.now, ctx.knowledge)
    if availability.staffed:
        _, position, minutes, _ = await service.join(
            ctx.session, lang=ctx.lang, channel=ctx.channel, reason=args.get("reason") or "asked",
            from_flow=args.get("from"))
        ctx.say("handoff.queued", position=str(position), minutes=str(minutes),
                buttons=[ctx.button("handoff.leave_queue", "cmd:cancel")])
        return "queued"
    ctx.data["reason"] = args.get("reason") or "asked"
    if availability.reason == "closed":
        when = _when_open(ctx, availability.next_open) if availability.next_open else ""
        ctx.say("handoff.not_staffed_closed", next_open=when)
    elif availability.reason == "wait":
        ctx.say("handoff.not_staffed_wait", minutes=str(availability.minutes))
    else:
        ctx.say("handoff.not_staffed_nobody")
    return "not_staffed"


async def _offer(ctx: FlowContext, answer: Answer) -> str | None:
    if answer.choice == "no":
        _contact_details(ctx)
    return answer.choice  # "yes": the message form; "no": the end


async def _retention(ctx: FlowContext) -> None:
    """Put how long messages are kept into the data, for the name question's prompt."""
    privacy = ctx.knowledge.settings.get("privacy") or {}
    ctx.data["retention_days"] = int(privacy.get("retention_days", 90))


async def _read_name(ctx: FlowContext, answer: Answer):
    raw = " ".join((answer.text or "").split())
    if not raw or "?" in raw or "[" in raw:
        return None
    name = find_name(raw, ctx.knowledge)  # "jag heter Anna Andersson" → "Anna Andersson"
    if not name or len(name) > MAX_NAME or sum(ch.isdigit() for ch in name) > 0:
        ctx.say("handoff.bad_name")
        return Stay()
    return {"person": name}


async def _read_contact(ctx: FlowContext, answer: Answer):
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
            return None
        ctx.say("handoff.bad_contact")
        return Stay()
    # What else the sentence said ("helst eftermiddag") goes to the agent with the message.
    return {"contact": contact, "contact_kind": kind, "contact_note": note}


async def _read_message(ctx: FlowContext, answer: Answer):
    text = (answer.text or "").strip()
    if not text:
        return None
    if len(text) > MAX_MESSAGE:
        ctx.say("handoff.bad_message", max=str(MAX_MESSAGE))
        return Stay()
    return {"message": text}


async def _send(ctx: FlowContext) -> str:
    """Store the message durably, then tell the guardian when Halmstad direkt will answer."""
    service = ctx.services.handoff
    d = ctx.data
    text = d["message"]
    if d.get("contact_note"):
        text += "\n\n" + ctx.t("handoff.contact_note", note=d["contact_note"])
    try:
        if service is None:
            raise RuntimeError("no handoff service")
        item = await service.leave_message(
            ctx.session, name=d["person"], contact=d["contact"], contact_kind=d["contact_kind"], text=text,
            lang=ctx.lang, channel=ctx.channel, reason=d.get("reason"))
    except Exception:  # noqa: BLE001 - the guardian hears it failed, never a crash
        ctx.say("handoff.message_failed")
        return "failed"
    status = ctx.knowledge.calendar.status("staffed", ctx.now)
    reference = item["id"].upper()
    if status.is_open:
        ctx.say("handoff.message_saved_open", person=d["person"], contact=d["contact"], reference=reference)
    else:
        when = _when_open(ctx, status.next_open) if status.next_open else ""
        ctx.say("handoff.message_saved", person=d["person"], contact=d["contact"], reference=reference,
                next_open=when)
    return "saved"


# The questions are not `free_text`: a message such as "Hur aktiverar jag appen? Jag har försökt
# allt" is the message, not a question to interrupt with. "Oj, fel nummer" while leaving the
# message goes back to the number (flows/answers.py).
MESSAGE = Form("message", [
    Ask("handoff:ask_name", _read_name, ("person",), "handoff.ask_name", field="name",
        words="answers.field_name_words", help="handoff.help_message", expects="name", enter=_retention),
    Ask("handoff:ask_contact", _read_contact, ("contact", "contact_kind", "contact_note"), "handoff.ask_contact",
        field="contact", words="answers.field_contact_words", help="handoff.help_message", expects="contact"),
    Ask("handoff:ask_message", _read_message, ("message",), "handoff.ask_message", field="message",
        help="handoff.help_message", expects="text"),
], exits={"done": to("handoff:send", "message written")})

FLOW = Flow(
    name="handoff",
    title="handoff.title",
    start="handoff:start",
    steps=[
        Step("handoff:start", routes={"not_staffed": to("handoff:offer", "nobody can take the chat now"),
                                      "queued": end("queued for a person"),
                                      "already_there": end("already waiting or connected"),
                                      "no_service": end("no handoff here, phone and e-mail")},
             on_enter=_start),
        Step("handoff:offer", _offer, {"yes": to(MESSAGE, "leave a message"), "no": end("no message")},
             prompt="handoff.offer_message", choices=(YES, NO), help="handoff.help_offer"),
        MESSAGE,
        Step("handoff:send", routes={"saved": end("message saved", menu=True), "failed": end("not saved")},
             on_enter=_send),
    ],
)
