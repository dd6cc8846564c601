"""A guardian's data-subject request (GDPR): explain the rights honestly, collect what the case
officer needs, and file it with the data-rights backend without ever losing or doubling it.

Order (DOMAIN.md, "Data-subject rights"): which right (buttons or own words, "ta bort mina
uppgifter" → erasure); the honest limits before going on (erasure is assessed and may be refused
because absence data is kept by law; portability does not apply to official-authority processing,
so an access request is offered instead; objection is assessed case by case); for whom (self or
a child under 18); the requester's name; an e-mail address or phone number; the child's name and
(optional) school; a description (optional for access); a summary to confirm or change. Then the
request is stored durably (the port `ctx.services.pending`) *before* the guardian hears anything,
and delivered with its idempotency key. A personnummer is never asked for: the engine masks one
if typed and the flow says identity is verified later by the case officer.

All of that is one form (flows/form.py): each question stores its values in `ctx.data` and the
form goes on to the first question still needed, so "change" only forgets one field and the same
path asks it again.
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
from flows.form import Ask, ChangeMenu, Form, Summary
from flows.machine import Answer, Choice, Flow, FlowContext, Stay, Step, end, person, to
from flows.ports import DsrError

log = logging.getLogger("halmstad.flows.data_rights")

RIGHTS = ("access", "rectification", "erasure", "restriction", "portability", "objection")
CASE_STATUSES = ("received", "identity_verified", "in_progress", "answered", "refused")
MAX_NAME = 120
MAX_DESCRIPTION = 2000
_FUZZY_MIN = 85

CHOOSE = "data_rights:choose"
CHILD_NAME = "data_rights:child_name"
SCHOOL = "data_rights:school"
DESCRIPTION = "data_rights:description"

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


# Reading the answers -------------------------------------------------------------------------


def _right(ctx: FlowContext, right: str) -> dict:
    return {"right": right, "right_name": ctx.t(f"data_rights.name_{right}")}


async def _read_right(ctx: FlowContext, answer: Answer):
    if answer.choice == "other":
        ctx.say("data_rights.to_person")
        return "other"
    right = answer.choice if answer.choice in RIGHTS else None
    if right is None and answer.text:
        right = right_from_text(ctx, answer.text)
    return _right(ctx, right) if right else None


async def _read_limits(ctx: FlowContext, answer: Answer):
    """Go on after the honest limits of erasure, portability or objection, or change course."""
    if answer.choice == "continue":
        return {"limits_ok": True}
    if answer.choice == "access":  # portability does not apply: an access request instead
        return _right(ctx, "access") | {"limits_ok": True}
    return "cancel" if answer.choice == "cancel" else None


async def _read_for_whom(ctx: FlowContext, answer: Answer):
    choice = answer.choice
    if choice is None and answer.text:
        norm = normalize(answer.text)
        child = _cue_hits(norm, _words(ctx, "data_rights.child_words"))
        self_ = _cue_hits(norm, _words(ctx, "data_rights.self_words"))
        choice = "child" if child > self_ else "self" if self_ > child else None
    if choice not in ("self", "child"):
        return None
    if choice == "self":  # a request about oneself names no child
        ctx.data.pop("child_name", None)
        ctx.data.pop("school", None)
    return {"on_behalf_of": choice}


def _valid_name(ctx: FlowContext, text: str) -> str | None:
    name = find_name(_clean(text), ctx.knowledge)
    letters = sum(ch.isalpha() for ch in name)
    if letters < 2 or len(name) > MAX_NAME or "@" in name or any(ch.isdigit() for ch in name):
        return None
    return name


def _name_reader(key: str, invalid_key: str):
    """Build the reader of a question that asks for a person's name and keeps it in `key`."""
    async def read(ctx: FlowContext, answer: Answer):
        text = answer.text or ""
        _note_pnr(ctx, answer)
        if text.strip().endswith("?"):
            return None
        name = _valid_name(ctx, text)
        if name is None:
            ctx.say(invalid_key)
            return Stay()
        return {key: name}
    return read


async def _read_contact(ctx: FlowContext, answer: Answer):
    text = answer.text or ""
    if text.strip().endswith("?") and "@" not in text:
        return None
    found = find_contact(_TOKEN_RE.sub(" ", text), Lexicon.of(ctx.knowledge).contact_lead)
    if not found.email and not found.phone:
        ctx.say("data_rights.contact_masked" if PNR_TOKEN in text else "data_rights.contact_invalid")
        return Stay()
    _note_pnr(ctx, answer)
    values = {"req_email": found.email, "req_phone": found.phone,
              "contact_note": found.note}  # "helst eftermiddag": kept with the request's data
    return {key: value for key, value in values.items() if value}


async def _read_school(ctx: FlowContext, answer: Answer):
    if answer.choice == "skip":
        return {"school": ""}
    text = answer.text or ""
    _note_pnr(ctx, answer)
    if text.strip().endswith("?"):
        return None
    school = _clean(text).strip(" .,;:")
    if sum(ch.isalpha() for ch in school) < 2 or len(school) > 200:
        ctx.say("data_rights.school_invalid")
        return Stay()
    return {"school": school}


async def _read_description(ctx: FlowContext, answer: Answer):
    if answer.choice == "skip" and ctx.data.get("right") == "access":
        return {"description": ""}
    text = (answer.text or "").strip()
    _note_pnr(ctx, answer)
    if sum(ch.isalpha() for ch in text) < 2:
        ctx.say("data_rights.description_invalid")
        return Stay()
    return {"description": text[:MAX_DESCRIPTION]}


async def _description_hint(ctx: FlowContext) -> None:
    """Put what to describe for the chosen right into the data, for the question's prompt."""
    ctx.data["description_hint"] = ctx.t(f"data_rights.describe_{ctx.data['right']}")


async def _summary_enter(ctx: FlowContext) -> None:
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


# The form ------------------------------------------------------------------------------------


def _for_child(data: dict) -> bool:
    return data.get("on_behalf_of") == "child"


CONTINUE = Choice("continue", "data_rights.continue", "data_rights.continue_words")
CANCEL = Choice("cancel", "data_rights.cancel")
_LIMITS = {
    "erasure": (CONTINUE, CANCEL),
    "portability": (Choice("access", "data_rights.choice_access_instead"),
                    Choice("continue", "data_rights.continue_anyway", "data_rights.continue_words"), CANCEL),
    "objection": (CONTINUE, CANCEL),
}


def _limits(right: str) -> Ask:
    """The honest limits of `right`, said before the request goes on (part of the field "right")."""
    return Ask(f"data_rights:{right}_limits", _read_limits, ("limits_ok",), f"data_rights.limits_{right}",
               field="right", choices=_LIMITS[right], help="data_rights.help",
               needed=lambda d: d.get("right") == right and "limits_ok" not in d)


_COMMON = ("right", "for_whom", "name", "contact")
REQUEST = Form("request", [
    Ask(CHOOSE, _read_right, ("right", "right_name", "limits_ok"), "data_rights.ask_right", field="right",
        label="data_rights.field_right", label_words="data_rights.field_right_words", help="data_rights.help",
        choices=tuple(Choice(r, f"data_rights.choice_{r}", f"data_rights.{r}_words") for r in RIGHTS)
        + (Choice("other", "data_rights.choice_other"),)),
    *(_limits(right) for right in _LIMITS),
    Ask("data_rights:for_whom", _read_for_whom, ("on_behalf_of",), "data_rights.ask_for_whom", field="for_whom",
        label="data_rights.field_for_whom", label_words="data_rights.field_for_whom_words",
        choices=(Choice("self", "data_rights.for_self", "data_rights.self_words"),
                 Choice("child", "data_rights.for_child", "data_rights.child_words")),
        help="data_rights.help_for_whom"),
    Ask("data_rights:name", _name_reader("req_name", "data_rights.name_invalid"), ("req_name",),
        "data_rights.ask_name", field="name", label="data_rights.field_name", label_words="answers.field_name_words",
        words="answers.field_name_words", free_text=True, help="data_rights.help_name", expects="name"),
    Ask("data_rights:contact", _read_contact, ("req_email", "req_phone", "contact_note"), "data_rights.ask_contact",
        field="contact", label="data_rights.field_contact", label_words="answers.field_contact_words",
        words="answers.field_contact_words", free_text=True, help="data_rights.help_contact", expects="contact"),
    Ask(CHILD_NAME, _name_reader("child_name", "data_rights.child_name_invalid"), ("child_name",),
        "data_rights.ask_child_name", field="child_name", label="data_rights.field_child_name",
        words="data_rights.field_child_name_words", free_text=True, help="data_rights.help_name", expects="name",
        needed=lambda d: _for_child(d) and "child_name" not in d),
    Ask(SCHOOL, _read_school, ("school",), "data_rights.ask_school", field="school",
        label="data_rights.field_school", words="data_rights.field_school_words",
        choices=(Choice("skip", "data_rights.skip", "data_rights.skip_words"),), free_text=True,
        help="data_rights.help", expects="text", needed=lambda d: _for_child(d) and "school" not in d),
    # Not `free_text`: a description such as "varför sparar ni allt om mitt barn?" is the
    # description itself, not a question to interrupt the flow with. Only access may skip it.
    Ask(DESCRIPTION, _read_description, ("description",), "data_rights.ask_description", field="description",
        label="data_rights.field_description", label_words="data_rights.field_description_words",
        words="data_rights.field_description_words", help="data_rights.help_description", expects="text",
        enter=_description_hint,
        needed=lambda d: d.get("right") != "access" and not d.get("description")),
    Ask("data_rights:description_optional", _read_description, ("description",),
        "data_rights.ask_description_access", field="description",
        choices=(Choice("skip", "data_rights.nothing_to_add", "data_rights.skip_words"),),
        help="data_rights.help_description", expects="text",
        needed=lambda d: d.get("right") == "access" and "description" not in d),
], exits={"confirm": to("data_rights:file", "confirmed"), "cancel": to("data_rights:cancelled", "cancelled"),
          "other": person("data_rights_question", "another question")},
    summary=Summary("data_rights:summary", "data_rights.summary",
                    (Choice("confirm", "data_rights.confirm", "data_rights.confirm_words"),
                     Choice("change", "data_rights.change", "data_rights.change_words"), CANCEL),
                    help="data_rights.help_summary", enter=_summary_enter),
    menus=(ChangeMenu("data_rights:change_child", "data_rights.ask_change",
                      _COMMON + ("child_name", "school", "description"), help="data_rights.help", when=_for_child),
           ChangeMenu("data_rights:change_self", "data_rights.ask_change", _COMMON + ("description",),
                      help="data_rights.help")))


# Filing and status -----------------------------------------------------------------------------


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


async def _start(ctx: FlowContext) -> str:
    args = ctx.data.get("args") or {}
    if args.get("status"):
        return "status"
    if args.get("right") in RIGHTS:  # "jag vill att ni raderar …": the right is known already
        REQUEST.fill(ctx.data, CHOOSE, _right(ctx, args["right"]))
    return "request"


async def _cancelled(ctx: FlowContext) -> str:
    ctx.say("data_rights.cancelled", buttons=[ctx.button("data_rights.back_to_menu", "cmd:menu")])
    return "told"


async def _file(ctx: FlowContext) -> str:
    """Store the request durably first, then try to deliver it once; the worker does the rest."""
    queue, client = ctx.services.pending, ctx.services.dsr
    if queue is None or client is None:
        ctx.say("data_rights.unavailable")
        return "unavailable"
    item = await queue.enqueue(session=ctx.session, channel=_channel(ctx), body=build_body(ctx))
    try:
        result = await queue.deliver(item["id"], client, announced=True)
    except Exception:  # stored already: the worker delivers it, the guardian hears it is saved
        log.exception("dsr inline delivery failed id=%s", item["id"])
        result = None
    outcome = result.outcome if result else "unavailable"
    if outcome == "delivered":
        delivered = result.item["delivered"]
        ctx.say("data_rights.filed", reference=delivered["reference"],
                due_date=due_text(ctx, delivered["due_date"]))
    elif outcome == "rejected":
        ctx.say("data_rights.rejected")
        return "rejected"
    else:
        ctx.say("data_rights.queued")
    ctx.say("data_rights.identity")
    ctx.say("data_rights.imy")
    return "stored"


async def _case_status(client, reference: str) -> str | None:
    """Return the case's status as the backend names it, or None when it cannot say now."""
    if client is None:
        return None
    try:
        case = await client.status(reference)
    except DsrError:
        return None
    status = (case or {}).get("status")
    return status if status in CASE_STATUSES else None


async def _say_item(ctx: FlowContext, item: dict) -> None:
    """Tell what became of one request, delivering it first if it is still waiting."""
    queue, client = ctx.services.pending, ctx.services.dsr
    right_name = ctx.t(f"data_rights.name_{item.get('right')}") if item.get("right") in RIGHTS else ""
    if not (item.get("delivered") or item.get("rejected")) and client is not None:
        result = await queue.deliver(item["id"], client, announced=True)
        item = result.item if result else item
    if item.get("delivered"):
        delivered = item["delivered"]
        status = await _case_status(client, delivered["reference"])
        ctx.say("data_rights.status_delivered", reference=delivered["reference"], right_name=right_name,
                due_date=due_text(ctx, delivered["due_date"]))
        if status:
            ctx.say("data_rights.status_case", status=ctx.t(f"data_rights.status_name_{status}"))
    elif item.get("rejected"):
        ctx.say("data_rights.rejected")
    else:
        ctx.say("data_rights.status_pending", right_name=right_name)
        return
    if not item.get("announced"):
        await queue.mark_announced(item["id"])


async def _status(ctx: FlowContext) -> str:
    """Tell the guardian what became of the requests made in this conversation."""
    queue = ctx.services.pending
    items = await queue.for_session(ctx.session) if queue is not None else []
    if not items:
        ctx.say("data_rights.status_none", buttons=[ctx.button("data_rights.make_request", "flow:data_rights")])
    for item in items[-3:]:
        await _say_item(ctx, item)
    return "told"


def runtime_text_keys() -> set[str]:
    """Return the text keys the flow (and `bot.pending`) build at run time, not named by a step."""
    keys = {f"data_rights.name_{r}" for r in RIGHTS} | {f"data_rights.describe_{r}" for r in RIGHTS}
    keys |= {f"data_rights.status_name_{s}" for s in CASE_STATUSES}
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


FLOW = Flow(
    name="data_rights",
    title="data_rights.title",
    start="data_rights:start",
    steps=[
        Step("data_rights:start", routes={"request": to(REQUEST, "a new request"),
                                          "status": to("data_rights:status", "asks about a request")},
             on_enter=_start),
        REQUEST,
        Step("data_rights:file", routes={"stored": end("filed or queued", menu=True),
                                         "rejected": person("data_rights_rejected", "refused by the backend"),
                                         "unavailable": person("data_rights_unavailable", "no backend")},
             on_enter=_file),
        Step("data_rights:cancelled", routes={"told": end("cancelled")}, on_enter=_cancelled),
        Step("data_rights:status", routes={"told": end("status told")}, on_enter=_status),
    ],
    said=frozenset(runtime_text_keys()),
)
