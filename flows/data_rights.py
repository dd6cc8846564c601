"""A guardian's data-subject request (GDPR): explain the rights honestly, collect what the case
officer needs, and file it with the data-rights backend without ever losing or doubling it.

Order (DOMAIN.md, "Data-subject rights"): which right (buttons or own words, "ta bort mina
uppgifter" → erasure); the honest limits before going on (erasure is assessed and may be refused
because absence data is kept by law; portability does not apply to official-authority processing,
so an access request is offered instead; objection is assessed case by case); for whom (self or
a child under 18); the requester's name; an e-mail address or phone number; the child's name and
(optional) school; a description (optional for access); a summary to confirm or change. Then the
request is stored durably (`bot.pending`) *before* the guardian hears anything, and delivered
with its idempotency key. A personnummer is never asked for: the engine masks one if typed and
the flow says identity is verified later by the case officer.

Each step stores its field in `ctx.data` and moves to the first field still missing (`_next`),
so "change" only has to forget one field and the same path fills it in again.
"""
from __future__ import annotations

import logging
import re
from datetime import date

from rapidfuzz import fuzz

from common.calendar import format_date
from common.privacy import PNR_TOKEN
from common.text import normalize
from flows.answers import Lexicon, find_contact, find_name
from flows.machine import (
    END, HANDOFF, Answer, Choice, Escalate, Field, Finish, Flow, FlowContext, Goto, NotAnAnswer, Stay,
    Step,
)

log = logging.getLogger("halmstad.flows.data_rights")

RIGHTS = ("access", "rectification", "erasure", "restriction", "portability", "objection")
LIMITED = {"erasure": "data_rights:erasure_limits", "portability": "data_rights:portability_limits",
           "objection": "data_rights:objection_limits"}
MAX_NAME = 120
MAX_DESCRIPTION = 2000
_FUZZY_MIN = 85

START = "data_rights:start"
CHOOSE = "data_rights:choose"
FOR_WHOM = "data_rights:for_whom"
NAME = "data_rights:name"
CONTACT = "data_rights:contact"
CHILD_NAME = "data_rights:child_name"
SCHOOL = "data_rights:school"
DESCRIPTION = "data_rights:description"
DESCRIPTION_OPTIONAL = "data_rights:description_optional"
SUMMARY = "data_rights:summary"
CHANGE_SELF = "data_rights:change_self"
CHANGE_CHILD = "data_rights:change_child"
FILE = "data_rights:file"
STATUS = "data_rights:status"
# Every step `_next` may lead to, declared by every step that calls it.
FORWARD = (CHOOSE, *LIMITED.values(), FOR_WHOM, NAME, CONTACT, CHILD_NAME, SCHOOL, DESCRIPTION,
           DESCRIPTION_OPTIONAL, SUMMARY)

_CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_TOKEN_RE = re.compile(r"\[(?:PNR|PASSWORD|EMAIL|PHONE)\]")


# Helpers -----------------------------------------------------------------------------------


def _note_pnr(ctx: FlowContext, answer: Answer) -> None:
    """Say that identity is verified later when the guardian typed a personnummer (masked)."""
    if answer.text and PNR_TOKEN in answer.text:
        ctx.say("data_rights.pnr_note")


def _clean(text: str) -> str:
    """Drop masking tokens and extra spaces: a masked token is never stored as a value."""
    return " ".join(_TOKEN_RE.sub(" ", text).split())


def _set_right(ctx: FlowContext, right: str) -> None:
    data = ctx.data
    data["right"] = right
    data["right_name"] = ctx.t(f"data_rights.name_{right}")
    data.pop("limits_ok", None)
    if right != "access" and not data.get("description"):
        data.pop("description", None)  # a skipped description is only fine for access


def _next(ctx: FlowContext) -> Goto:
    """Go to the first field still missing, or to the summary when all are there."""
    d = ctx.data
    if d.get("right") not in RIGHTS:
        return Goto(CHOOSE)
    if not d.get("limits_ok"):
        if d["right"] in LIMITED:
            return Goto(LIMITED[d["right"]])
        d["limits_ok"] = True
    if d.get("on_behalf_of") not in ("self", "child"):
        return Goto(FOR_WHOM)
    if not d.get("req_name"):
        return Goto(NAME)
    if not (d.get("req_email") or d.get("req_phone")):
        return Goto(CONTACT)
    if d["on_behalf_of"] == "child":
        if not d.get("child_name"):
            return Goto(CHILD_NAME)
        if "school" not in d:
            return Goto(SCHOOL)
    if "description" not in d:
        if d["right"] == "access":
            return Goto(DESCRIPTION_OPTIONAL)
        d["description_hint"] = ctx.t(f"data_rights.describe_{d['right']}")
        return Goto(DESCRIPTION)
    return Goto(SUMMARY)


def _words(ctx: FlowContext, key: str) -> list[str]:
    """Return a words text key's entries in both languages, normalised."""
    words = []
    for lang in ("sv", "en"):
        words += [normalize(w) for w in ctx.knowledge.text(key, lang).split("|") if normalize(w)]
    return words


def _cue_hits(text: str, cues: list[str]) -> int:
    """Count the cues a normalised text contains: phrases as phrases, words at a word's start,
    and misspelt words (rapidfuzz ratio) so "radra" still means erasure."""
    tokens = text.split()
    padded = f" {text} "
    hits = 0
    for cue in cues:
        if " " in cue:
            if f" {cue} " in padded or f" {cue}" in padded:
                hits += 1
            continue
        for token in tokens:
            if token.startswith(cue) or (len(cue) >= 5 and len(token) >= 4
                                         and fuzz.ratio(token, cue) >= _FUZZY_MIN):
                hits += 1
                break
    return hits


def right_from_text(ctx: FlowContext, text: str) -> str | None:
    """Return the right a guardian's own words name, or None when it is unclear."""
    norm = normalize(text)
    if not norm:
        return None
    scores = {right: _cue_hits(norm, _words(ctx, f"data_rights.{right}_words")) for right in RIGHTS}
    best = max(scores.values())
    winners = [r for r, s in scores.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _channel(ctx: FlowContext) -> str:
    channel = (ctx.channel or "chat").lower()
    return channel if _CHANNEL_RE.match(channel) else "chat"


def build_body(ctx: FlowContext) -> dict:
    """Return the request in the backend's schema (CONTRACT.md, "Data-rights backend")."""
    d = ctx.data
    requester = {"name": d["req_name"]}
    if d.get("req_email"):
        requester["email"] = d["req_email"]
    if d.get("req_phone"):
        requester["phone"] = d["req_phone"]
    body = {"right": d["right"], "on_behalf_of": d["on_behalf_of"], "requester": requester,
            "description": d.get("description") or "", "language": ctx.lang, "channel": _channel(ctx)}
    if d["on_behalf_of"] == "child":
        body["child"] = {"name": d["child_name"], "school": d.get("school") or None}
    return body


def due_text(ctx: FlowContext, due: str) -> str:
    """Write the due date out with weekday and year ("måndag 28 december 2026")."""
    return format_date(date.fromisoformat(due), ctx.lang, ctx.t, with_year=True)


def _say_filed(ctx: FlowContext, item: dict) -> None:
    delivered = item["delivered"]
    ctx.say("data_rights.filed", reference=delivered["reference"], due_date=due_text(ctx, delivered["due_date"]))
    ctx.say("data_rights.identity")
    ctx.say("data_rights.imy")


# Steps -------------------------------------------------------------------------------------


async def _start(ctx: FlowContext):
    args = ctx.data.get("args") or {}
    if args.get("status"):
        return Goto(STATUS)
    if args.get("right") in RIGHTS:
        _set_right(ctx, args["right"])
        return _next(ctx)
    return Goto(CHOOSE)


async def _choose(ctx: FlowContext, answer: Answer):
    if answer.choice == "other":
        ctx.say("data_rights.to_person")
        return Escalate("data_rights_question")
    right = answer.choice if answer.choice in RIGHTS else None
    if right is None and answer.text:
        right = right_from_text(ctx, answer.text)
    if right is None:
        return NotAnAnswer()
    _set_right(ctx, right)
    return _next(ctx)


async def _limits(ctx: FlowContext, answer: Answer):
    if answer.choice == "continue":
        ctx.data["limits_ok"] = True
        return _next(ctx)
    if answer.choice == "access":
        _set_right(ctx, "access")
        ctx.data["limits_ok"] = True
        return _next(ctx)
    if answer.choice == "cancel":
        ctx.say("data_rights.cancelled", buttons=[ctx.button("data_rights.back_to_menu", "cmd:menu")])
        return Finish()
    return NotAnAnswer()


async def _for_whom(ctx: FlowContext, answer: Answer):
    choice = answer.choice
    if choice is None and answer.text:
        norm = normalize(answer.text)
        child = _cue_hits(norm, _words(ctx, "data_rights.child_words"))
        self_ = _cue_hits(norm, _words(ctx, "data_rights.self_words"))
        choice = "child" if child > self_ else "self" if self_ > child else None
    if choice not in ("self", "child"):
        return NotAnAnswer()
    ctx.data["on_behalf_of"] = choice
    if choice == "self":
        ctx.data.pop("child_name", None)
        ctx.data.pop("school", None)
    return _next(ctx)


def _valid_name(ctx: FlowContext, text: str) -> str | None:
    name = find_name(_clean(text), ctx.knowledge)
    letters = sum(ch.isalpha() for ch in name)
    if letters < 2 or len(name) > MAX_NAME or "@" in name or any(ch.isdigit() for ch in name):
        return None
    return name


def _name_step(field: str, invalid_key: str):
    """Build the handler of a step that asks for a person's name and keeps it in `field`."""
    async def handle(ctx: FlowContext, answer: Answer):
        text = answer.text or ""
        _note_pnr(ctx, answer)
        if text.strip().endswith("?"):
            return NotAnAnswer()
        name = _valid_name(ctx, text)
        if name is None:
            ctx.say(invalid_key)
            return Stay()
        ctx.data[field] = name
        return _next(ctx)
    return handle


_name = _name_step("req_name", "data_rights.name_invalid")
_child_name = _name_step("child_name", "data_rights.child_name_invalid")


async def _contact(ctx: FlowContext, answer: Answer):
    text = answer.text or ""
    if text.strip().endswith("?") and "@" not in text:
        return NotAnAnswer()
    found = find_contact(_TOKEN_RE.sub(" ", text), Lexicon.of(ctx.knowledge).contact_lead)
    if not found.email and not found.phone:
        ctx.say("data_rights.contact_masked" if PNR_TOKEN in text else "data_rights.contact_invalid")
        return Stay()
    _note_pnr(ctx, answer)
    for key in ("req_email", "req_phone", "contact_note"):
        ctx.data.pop(key, None)
    if found.email:
        ctx.data["req_email"] = found.email
    if found.phone:
        ctx.data["req_phone"] = found.phone
    if found.note:
        ctx.data["contact_note"] = found.note  # "helst eftermiddag": kept with the request's data
    return _next(ctx)


async def _school(ctx: FlowContext, answer: Answer):
    if answer.choice == "skip":
        ctx.data["school"] = ""
        return _next(ctx)
    text = answer.text or ""
    _note_pnr(ctx, answer)
    if text.strip().endswith("?"):
        return NotAnAnswer()
    school = _clean(text).strip(" .,;:")
    if sum(ch.isalpha() for ch in school) < 2 or len(school) > 200:
        ctx.say("data_rights.school_invalid")
        return Stay()
    ctx.data["school"] = school
    return _next(ctx)


async def _description(ctx: FlowContext, answer: Answer):
    if answer.choice == "skip" and ctx.data.get("right") == "access":
        ctx.data["description"] = ""
        return _next(ctx)
    text = (answer.text or "").strip()
    _note_pnr(ctx, answer)
    if sum(ch.isalpha() for ch in text) < 2:
        ctx.say("data_rights.description_invalid")
        return Stay()
    ctx.data["description"] = text[:MAX_DESCRIPTION]
    return _next(ctx)


async def _summary_enter(ctx: FlowContext):
    d = ctx.data
    lines = [ctx.t("data_rights.summary_right", value=ctx.t(f"data_rights.name_{d['right']}")),
             ctx.t("data_rights.summary_for", value=ctx.t(f"data_rights.for_{d['on_behalf_of']}")),
             ctx.t("data_rights.summary_name", value=d["req_name"])]
    if d.get("req_email"):
        lines.append(ctx.t("data_rights.summary_email", value=d["req_email"]))
    if d.get("req_phone"):
        lines.append(ctx.t("data_rights.summary_phone", value=d["req_phone"]))
    if d["on_behalf_of"] == "child":
        lines.append(ctx.t("data_rights.summary_child", value=d["child_name"]))
        lines.append(ctx.t("data_rights.summary_school",
                           value=d.get("school") or ctx.t("data_rights.summary_none")))
    lines.append(ctx.t("data_rights.summary_description",
                       value=d.get("description") or ctx.t("data_rights.summary_none")))
    d["summary"] = "\n".join(lines)
    return None


async def _summary(ctx: FlowContext, answer: Answer):
    if answer.choice == "confirm":
        return Goto(FILE)
    if answer.choice == "change":
        return Goto(CHANGE_CHILD if ctx.data.get("on_behalf_of") == "child" else CHANGE_SELF)
    if answer.choice == "cancel":
        ctx.say("data_rights.cancelled", buttons=[ctx.button("data_rights.back_to_menu", "cmd:menu")])
        return Finish()
    return NotAnAnswer()


_FORGET = {
    "right": ("right", "right_name", "limits_ok"),
    "for_whom": ("on_behalf_of",),
    "name": ("req_name",),
    "contact": ("req_email", "req_phone", "contact_note"),
    "child_name": ("child_name",),
    "school": ("school",),
    "description": ("description",),
}


async def _change(ctx: FlowContext, answer: Answer):
    field = answer.choice
    if field not in _FORGET:
        return NotAnAnswer()
    for key in _FORGET[field]:
        ctx.data.pop(key, None)
    return _next(ctx)


async def _file(ctx: FlowContext):
    """Store the request durably first, then try to deliver it once; the worker does the rest."""
    services = ctx.services
    queue = getattr(services, "pending", None)
    client = getattr(services, "dsr", None)
    if queue is None or client is None:
        ctx.say("data_rights.unavailable")
        return Escalate("data_rights_unavailable")
    item = await queue.enqueue(session=ctx.session, channel=_channel(ctx), body=build_body(ctx))
    try:
        result = await queue.deliver(item["id"], client, announced=True)
    except Exception:  # stored already: the worker delivers it, the guardian hears it is saved
        log.exception("dsr inline delivery failed id=%s", item["id"])
        result = None
    outcome = result.outcome if result else "unavailable"
    if outcome == "delivered":
        _say_filed(ctx, result.item)
        return Finish(menu=True)
    if outcome == "rejected":
        ctx.say("data_rights.rejected")
        return Escalate("data_rights_rejected")
    ctx.say("data_rights.queued")
    ctx.say("data_rights.identity")
    ctx.say("data_rights.imy")
    return Finish(menu=True)


async def _status(ctx: FlowContext):
    """Tell the guardian what became of the requests made in this conversation."""
    from bot.clients.dsr import DsrError

    queue = getattr(ctx.services, "pending", None)
    client = getattr(ctx.services, "dsr", None)
    items = await queue.for_session(ctx.session) if queue is not None else []
    if not items:
        ctx.say("data_rights.status_none", buttons=[ctx.button("data_rights.make_request", "flow:data_rights")])
        return Finish()
    for item in items[-3:]:
        right_name = ctx.t(f"data_rights.name_{item.get('right')}") if item.get("right") in RIGHTS else ""
        if not (item.get("delivered") or item.get("rejected")) and client is not None:
            result = await queue.deliver(item["id"], client, announced=True)
            item = result.item if result else item
        if item.get("delivered"):
            delivered = item["delivered"]
            status = None
            if client is not None:
                try:
                    case = await client.status(delivered["reference"])
                except DsrError:
                    case = None
                status = (case or {}).get("status")
            key = f"data_rights.status_name_{status}" if status in (
                "received", "identity_verified", "in_progress", "answered", "refused") else None
            ctx.say("data_rights.status_delivered", reference=delivered["reference"], right_name=right_name,
                    due_date=due_text(ctx, delivered["due_date"]))
            if key:
                ctx.say("data_rights.status_case", status=ctx.t(key))
            if not item.get("announced"):
                await queue.mark_announced(item["id"])
        elif item.get("rejected"):
            ctx.say("data_rights.rejected")
            if not item.get("announced"):
                await queue.mark_announced(item["id"])
        else:
            ctx.say("data_rights.status_pending", right_name=right_name)
    return Finish()


async def _never(ctx: FlowContext, answer: Answer):
    return NotAnAnswer()


def _right_choices() -> tuple[Choice, ...]:
    return tuple(Choice(r, f"data_rights.choice_{r}", f"data_rights.{r}_words") for r in RIGHTS) + (
        Choice("other", "data_rights.choice_other"),)


CONTINUE = Choice("continue", "data_rights.continue", "data_rights.continue_words")
CANCEL = Choice("cancel", "data_rights.cancel")
SKIP = Choice("skip", "data_rights.skip", "data_rights.skip_words")
_CHANGE_COMMON = (Choice("right", "data_rights.field_right", "data_rights.field_right_words"),
                  Choice("for_whom", "data_rights.field_for_whom", "data_rights.field_for_whom_words"),
                  Choice("name", "data_rights.field_name", "answers.field_name_words"),
                  Choice("contact", "data_rights.field_contact", "answers.field_contact_words"))
_CHANGE_DESCRIPTION = Choice("description", "data_rights.field_description",
                             "data_rights.field_description_words")
# What a correction at the summary may name ("oj, fel adress", "ändra namnet", "wrong email").
FIELDS = (Field("name", NAME, "answers.field_name_words", ("req_name",)),
          Field("contact", CONTACT, "answers.field_contact_words", ("req_email", "req_phone", "contact_note")),
          Field("child_name", CHILD_NAME, "data_rights.field_child_name_words", ("child_name",)),
          Field("school", SCHOOL, "data_rights.field_school_words", ("school",)),
          Field("description", DESCRIPTION, "data_rights.field_description_words", ("description",)))

class DataRightsFlow(Flow):
    """The flow, plus the text keys it builds at run time, so `knowledge check` sees them all."""

    def text_keys(self) -> set[str]:
        return super().text_keys() | runtime_text_keys()


FLOW = DataRightsFlow(
    name="data_rights",
    title="data_rights.title",
    start=START,
    fields=FIELDS,
    steps=[
        Step(START, _never, FORWARD + (STATUS,), on_enter=_start),
        Step(CHOOSE, _choose, FORWARD + (HANDOFF,), prompt="data_rights.ask_right",
             choices=_right_choices(), help="data_rights.help"),
        Step(LIMITED["erasure"], _limits, FORWARD + (END,), prompt="data_rights.limits_erasure",
             choices=(CONTINUE, CANCEL), help="data_rights.help"),
        Step(LIMITED["portability"], _limits, FORWARD + (END,), prompt="data_rights.limits_portability",
             choices=(Choice("access", "data_rights.choice_access_instead"),
                      Choice("continue", "data_rights.continue_anyway", "data_rights.continue_words"), CANCEL),
             help="data_rights.help"),
        Step(LIMITED["objection"], _limits, FORWARD + (END,), prompt="data_rights.limits_objection",
             choices=(CONTINUE, CANCEL), help="data_rights.help"),
        Step(FOR_WHOM, _for_whom, FORWARD, prompt="data_rights.ask_for_whom",
             choices=(Choice("self", "data_rights.for_self", "data_rights.self_words"),
                      Choice("child", "data_rights.for_child", "data_rights.child_words")),
             help="data_rights.help_for_whom"),
        Step(NAME, _name, FORWARD, prompt="data_rights.ask_name", free_text=True, help="data_rights.help_name",
             expects="name"),
        Step(CONTACT, _contact, FORWARD, prompt="data_rights.ask_contact", free_text=True,
             help="data_rights.help_contact", expects="contact"),
        Step(CHILD_NAME, _child_name, FORWARD, prompt="data_rights.ask_child_name", free_text=True,
             help="data_rights.help_name", expects="name"),
        Step(SCHOOL, _school, FORWARD, prompt="data_rights.ask_school", choices=(SKIP,), free_text=True,
             help="data_rights.help", expects="text"),
        # Not `free_text`: a description such as "varför sparar ni allt om mitt barn?" is the
        # description itself, not a question to interrupt the flow with.
        Step(DESCRIPTION, _description, FORWARD, prompt="data_rights.ask_description",
             help="data_rights.help_description", expects="text"),
        Step(DESCRIPTION_OPTIONAL, _description, FORWARD, prompt="data_rights.ask_description_access",
             choices=(Choice("skip", "data_rights.nothing_to_add", "data_rights.skip_words"),),
             help="data_rights.help_description", expects="text"),
        # A correction naming a field ("oj, fel adress") goes straight to that field's step.
        Step(SUMMARY, _summary, (FILE, CHANGE_SELF, CHANGE_CHILD, END) + tuple(f.step for f in FIELDS),
             prompt="data_rights.summary",
             on_enter=_summary_enter, confirms=True,
             choices=(Choice("confirm", "data_rights.confirm", "data_rights.confirm_words"),
                      Choice("change", "data_rights.change", "data_rights.change_words"), CANCEL),
             help="data_rights.help_summary"),
        Step(CHANGE_SELF, _change, FORWARD, prompt="data_rights.ask_change",
             choices=_CHANGE_COMMON + (_CHANGE_DESCRIPTION,), help="data_rights.help"),
        Step(CHANGE_CHILD, _change, FORWARD, prompt="data_rights.ask_change",
             choices=_CHANGE_COMMON + (Choice("child_name", "data_rights.field_child_name"),
                                       Choice("school", "data_rights.field_school"), _CHANGE_DESCRIPTION),
             help="data_rights.help"),
        Step(FILE, _never, (END, HANDOFF), on_enter=_file),
        Step(STATUS, _never, (END,), on_enter=_status),
    ],
)


def runtime_text_keys() -> set[str]:
    """Return the text keys the flow (and `bot.pending`) build at run time, not named by a step."""
    keys = {f"data_rights.name_{r}" for r in RIGHTS} | {f"data_rights.describe_{r}" for r in RIGHTS}
    keys |= {f"data_rights.status_name_{s}" for s in ("received", "identity_verified", "in_progress",
                                                       "answered", "refused")}
    keys |= {"data_rights.for_self", "data_rights.for_child", "data_rights.pnr_note", "data_rights.filed",
             "data_rights.identity", "data_rights.imy", "data_rights.queued", "data_rights.rejected",
             "data_rights.unavailable", "data_rights.to_person", "data_rights.cancelled",
             "data_rights.back_to_menu", "data_rights.make_request", "data_rights.status_none",
             "data_rights.status_delivered", "data_rights.status_case", "data_rights.status_pending",
             "data_rights.late_reference", "data_rights.late_rejected", "data_rights.name_invalid",
             "data_rights.child_name_invalid", "data_rights.school_invalid", "data_rights.contact_invalid",
             "data_rights.contact_masked", "data_rights.description_invalid"}
    keys |= {f"data_rights.summary_{k}" for k in ("right", "for", "name", "email", "phone", "child", "school",
                                                   "description", "none")}
    return keys
