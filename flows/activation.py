"""Activating the Skola24 mobile app with the guardian: the e-mail, the link, and what if none comes.

The web login is e-legitimation; the app needs its own username and password, which the guardian
creates after following a link mailed to the address registered on the Skola24 account. This flow
asks for that address, catches obvious typos ("gmail.con"), confirms it, asks the activation
backend (through `ctx.services.activation`, an HTTP client) to send the link, and explains what
happens next. A "no e-mail arrived" path goes: wait and check spam → send again → is it the
registered address (how to change it) → a person at Halmstad direkt.

Privacy: the bot never asks for a password. The engine masks a password or personnummer before
the flow sees the text, and the e-mail step refuses anything holding such a mask, so a masked
token is never taken for an address. The flow's data holds only the address (plus a typo
suggestion while one is offered). The address is kept until the flow ends — the resend and the
"is it the registered address?" step need it, and it is already in the transcript the guardian
typed — and the engine drops the flow's data when the flow finishes, is cancelled or is left.

Backend trouble never reaches the guardian as a crash or a silence: the client has a short time
budget (DEFAULT_TIMEOUT in bot/clients/activation.py, 0.8 s), the flow guards it with its own
deadline, and every failure becomes an apology with Halmstad direkt's phone and e-mail and the
offer of a person.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from dataclasses import dataclass

from flows.machine import (
    END, HANDOFF, Answer, Choice, Escalate, Field, Finish, Flow, FlowContext, Goto, NotAnAnswer, Stay,
    Step,
)

log = logging.getLogger("halmstad.flows.activation")

# The chat must answer within 2 s even if an injected client ignores its own budget.
BACKEND_DEADLINE = 1.8
MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_LENGTH = 64
MASK_TOKENS = ("[PNR]", "[PASSWORD]", "[EMAIL]", "[PHONE]")

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD_RE = re.compile(r"^[a-z]{2,63}$|^xn--[a-z0-9-]{1,59}$")
# Wrapping people paste around an address: <a@b.se>, "a@b.se", mailto:, a final full stop.
_STRIP = " \t\"'<>()[]"

# Obvious misspellings of the domains most guardians use, and what they surely meant.
DOMAIN_TYPOS = {
    "gmail.con": "gmail.com", "gmail.co": "gmail.com", "gmail.cm": "gmail.com",
    "gmail.comm": "gmail.com", "gmail.om": "gmail.com", "gmial.com": "gmail.com",
    "gmai.com": "gmail.com", "gamil.com": "gmail.com", "gmaill.com": "gmail.com",
    "gnail.com": "gmail.com", "gmal.com": "gmail.com", "gmil.com": "gmail.com",
    "gmail.cim": "gmail.com", "gmail.vom": "gmail.com", "gmail.xom": "gmail.com",
    "hotmail.con": "hotmail.com", "hotmail.co": "hotmail.com", "hotmial.com": "hotmail.com",
    "hotmal.com": "hotmail.com", "hotmai.com": "hotmail.com", "hotnail.com": "hotmail.com",
    "hotamil.com": "hotmail.com", "homail.com": "hotmail.com", "hotmil.com": "hotmail.com",
    "hotmail.se.com": "hotmail.se", "hotmial.se": "hotmail.se", "hotmal.se": "hotmail.se",
    "hotmai.se": "hotmail.se", "hotamil.se": "hotmail.se", "homail.se": "hotmail.se",
    "outlook.con": "outlook.com", "outlok.com": "outlook.com", "outloo.com": "outlook.com",
    "otlook.com": "outlook.com", "outlook.co": "outlook.com", "outlok.se": "outlook.se",
    "live.con": "live.com", "yahoo.con": "yahoo.com", "yaho.com": "yahoo.com",
    "yahooo.com": "yahoo.com", "yahoo.co": "yahoo.com", "yhoo.com": "yahoo.com",
    "icloud.co": "icloud.com", "icloud.con": "icloud.com", "iclod.com": "icloud.com",
    "icoud.com": "icloud.com", "icluod.com": "icloud.com", "iclould.com": "icloud.com",
    "me.con": "me.com", "telia.con": "telia.com", "telia.co": "telia.com", "tela.com": "telia.com",
    "teila.com": "telia.com", "halmstad.con": "halmstad.se", "halmstad.com": "halmstad.se",
}
# Words after which a sentence's last word is taken as the address ("min mejl är a@b.se").
_CUES = {"är", "ar", "is", "blir", "vara", "be", "till", "to", "mejl", "mail", "e-post", "epost",
         "email", "e-mail", "adress", "address", "adressen", "mejladress", "mailadress",
         "e-postadress", "e-postadressen"}
_COM_TYPOS = ("con", "cmo", "ocm", "vom", "xom", "comm", "coom")


# Addresses ------------------------------------------------------------------------------------

def parse_address(text: str) -> tuple[str | None, str | None]:
    """Return (address, None) for one usable e-mail address in `text`, else (None, problem).

    `problem` names the text to say: "masked", "several", "too_long", "invalid", or "not_an_address"
    when the text does not try to be an address at all (so the engine may treat it as a question).
    A sentence ending in its one address after a cue word ("min mejl är a@b.se") gives that
    address; any other spaces are refused rather than guessed around.
    """
    if any(token in text for token in MASK_TOKENS):
        return None, "masked"
    raw = text.strip()
    if raw.lower().startswith("mailto:"):
        raw = raw[7:]
    if "@" not in raw:
        looks_like_try = bool(raw) and not any(ch.isspace() for ch in raw) and "." in raw.strip(".")
        return None, ("invalid" if looks_like_try else "not_an_address")
    words = [w for w in re.split(r"[\s,;]+", raw) if w]
    if sum("@" in w for w in words) != 1 or raw.count("@") > 1:
        return None, "several"
    if len(words) > 1 and not ("@" in words[-1] and words[-2].lower().rstrip(":") in _CUES):
        # "an na@example.se" or "anna@exa mple.se": never guess which part was meant.
        return None, "several"
    candidate = words[-1] if len(words) > 1 else words[0]
    candidate = candidate.strip(_STRIP).rstrip(".,;:!?").strip(_STRIP)
    if len(candidate) > MAX_ADDRESS_LENGTH:
        return None, "too_long"
    local, _, domain = candidate.partition("@")
    domain = domain.lower().rstrip(".")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL_RE.match(local):
        return None, "invalid"
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None, "invalid"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        return None, "invalid"
    if not _TLD_RE.match(labels[-1]):
        return None, "invalid"
    return f"{local}@{domain}", None


def suggest_address(address: str) -> str | None:
    """Return the address with an obviously misspelt domain corrected, or None when it looks fine.

    Only well-known slips are corrected (a list, plus ".con"-like endings of the big providers),
    so a real but unusual domain is never "corrected" into another one.
    """
    local, _, domain = address.rpartition("@")
    fixed = DOMAIN_TYPOS.get(domain)
    if fixed is None:
        name, _, tld = domain.rpartition(".")
        if tld in _COM_TYPOS and name in {"gmail", "hotmail", "outlook", "live", "yahoo", "icloud",
                                           "msn", "aol", "me", "telia", "protonmail"}:
            fixed = f"{name}.com"
    return f"{local}@{fixed}" if fixed and fixed != domain else None


def client_key(session: str) -> str:
    """Return a stable, non-reversible per-conversation key for the backend's per-client limit,
    for channels that know no client address (Telegram, the terminal: one chat is one person)."""
    return hashlib.sha256(f"activation-client:{session}".encode("utf-8")).hexdigest()[:32]


# Calling the backend --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Outcome:
    """Stand in for the client's result when there is no usable one (same two attributes)."""

    status: str
    retry_after: int | None = None


async def _request(ctx: FlowContext):
    """Ask the backend for an activation e-mail; any failure or overrun reads as unavailable.

    The client is duck-typed (`request_activation(email, client=...)` returning an object with
    `status` and `retry_after`), so the flow stays free of HTTP and tests can inject a fake.
    """
    client = ctx.services.activation if ctx.services is not None else None
    address = ctx.data.get("address")
    if client is None or not isinstance(address, str):
        log.warning("activation backend missing client_configured=%s", client is not None)
        return _Outcome("unavailable")
    try:
        async with asyncio.timeout(BACKEND_DEADLINE):
            result = await client.request_activation(address, client=ctx.client or client_key(ctx.session))
    except (TimeoutError, asyncio.TimeoutError):
        log.warning("activation backend over deadline")
        return _Outcome("unavailable")
    except Exception as exc:  # noqa: BLE001 - the guardian gets an apology, never a crash
        log.error("activation backend call failed error=%s", type(exc).__name__)
        return _Outcome("unavailable")
    status = getattr(result, "status", "unavailable")
    if status not in ("ok", "rate_limited", "invalid", "unavailable"):
        return _Outcome("unavailable")
    return result


def _say_rate_limited(ctx: FlowContext, result) -> None:
    seconds = getattr(result, "retry_after", None)
    if isinstance(seconds, int) and seconds > 0:
        ctx.say("activation.rate_limited", minutes=max(1, math.ceil(seconds / 60)))
    else:
        ctx.say("activation.rate_limited_later")


def _say_unavailable(ctx: FlowContext) -> None:
    ctx.say("activation.unavailable", buttons=[ctx.button("menu.human", "cmd:human"),
                                               ctx.button("activation.button_menu", "cmd:menu")])


# Steps ----------------------------------------------------------------------------------------

async def _intro(ctx: FlowContext):
    ctx.say("activation.intro")
    return Goto("activation:ask_email")


async def _take_address(ctx: FlowContext, text: str | None):
    """Validate a typed address and move to the suggestion or the confirmation; None if no try."""
    address, problem = parse_address(text or "")
    if problem == "not_an_address":
        return None
    if address is None:
        ctx.say(f"activation.email_{problem}")
        return Stay(reprompt=False)
    ctx.data.pop("suggestion", None)
    ctx.data["address"] = address
    suggestion = suggest_address(address)
    if suggestion:
        ctx.data["suggestion"] = suggestion
        return Goto("activation:suggest")
    return Goto("activation:confirm")


async def _ask_email(ctx: FlowContext, answer: Answer):
    transition = await _take_address(ctx, answer.text)
    return transition if transition is not None else NotAnAnswer()


async def _suggest(ctx: FlowContext, answer: Answer):
    if answer.choice == "yes":
        ctx.data["address"] = ctx.data.pop("suggestion", ctx.data.get("address"))
        return Goto("activation:confirm")
    if answer.choice == "no":
        ctx.data.pop("suggestion", None)
        return Goto("activation:confirm")
    transition = await _take_address(ctx, answer.text)
    return transition if transition is not None else NotAnAnswer()


async def _confirm(ctx: FlowContext, answer: Answer):
    if answer.choice == "send":
        return Goto("activation:send")
    if answer.choice == "change":
        return Goto("activation:ask_email")
    transition = await _take_address(ctx, answer.text)  # a corrected address typed straight away
    return transition if transition is not None else NotAnAnswer()


async def _send(ctx: FlowContext):
    result = await _request(ctx)
    if result.status == "ok":
        log.info("activation link requested")
        ctx.say("activation.sent", address=ctx.data["address"])
        return Goto("activation:after_sent")
    if result.status == "rate_limited":
        _say_rate_limited(ctx, result)
        return Finish(menu=True)
    if result.status == "invalid":
        ctx.say("activation.backend_invalid")
        return Goto("activation:ask_email")
    _say_unavailable(ctx)
    return Finish()


_NEGATION = re.compile(r"\b(inte|inget|ingen|aldrig|not|never|nothing|didn'?t|hasn'?t|haven'?t)\b")
_MAIL_WORD = re.compile(r"(mejl|mail|e-post|epost|kommit|arrived|came|received|fått|fatt|got)")


def says_no_email(text: str | None) -> bool:
    """Tell whether a typed sentence says the e-mail did not come ("jag har inte fått något mejl").

    The button and its words cover the usual answers; this catches the whole sentences people
    type instead, which would otherwise be answered as a new question and leave the step waiting.
    """
    lowered = (text or "").lower()
    return bool(_NEGATION.search(lowered) and _MAIL_WORD.search(lowered))


async def _other_answer(ctx: FlowContext, answer: Answer):
    """Take a corrected address typed at a later step; otherwise the input is no answer."""
    if "@" not in (answer.text or ""):
        return NotAnAnswer()
    transition = await _take_address(ctx, answer.text)
    return transition if transition is not None else NotAnAnswer()


async def _after_sent(ctx: FlowContext, answer: Answer):
    if answer.choice == "no_email" or (answer.choice is None and says_no_email(answer.text)):
        return Goto("activation:no_email_wait")
    if answer.choice == "done":
        return Goto("activation:done")
    return await _other_answer(ctx, answer)


async def _no_email_wait(ctx: FlowContext, answer: Answer):
    if answer.choice == "resend":
        return Goto("activation:resend")
    if answer.choice == "found":
        return Goto("activation:done")
    return await _other_answer(ctx, answer)


async def _resend(ctx: FlowContext):
    result = await _request(ctx)
    if result.status == "ok":
        log.info("activation link requested again")
        ctx.say("activation.resent", address=ctx.data["address"])
        return Goto("activation:after_resend")
    if result.status == "rate_limited":
        _say_rate_limited(ctx, result)
        return Goto("activation:check_address")
    if result.status == "invalid":
        ctx.say("activation.backend_invalid")
        return Goto("activation:ask_email")
    _say_unavailable(ctx)
    return Finish()


async def _after_resend(ctx: FlowContext, answer: Answer):
    if answer.choice == "still_nothing" or (answer.choice is None and says_no_email(answer.text)):
        return Goto("activation:check_address")
    if answer.choice == "found":
        return Goto("activation:done")
    return await _other_answer(ctx, answer)


async def _check_address(ctx: FlowContext, answer: Answer):
    if answer.choice == "other":
        return Goto("activation:ask_email")
    if answer.choice == "human":
        return Escalate("activation_no_email")
    if answer.choice == "later":
        ctx.say("activation.change_first")
        return Finish(menu=True)
    return await _other_answer(ctx, answer)


async def _done(ctx: FlowContext):
    ctx.say("activation.done")
    return Finish(menu=True)


async def _never(ctx: FlowContext, answer: Answer):
    return NotAnAnswer()


YES = Choice("yes", "common.yes", "common.yes_words")
NO = Choice("no", "common.no", "common.no_words")
FOUND = Choice("found", "activation.choice_found", "activation.found_words")

FLOW = Flow(
    name="activation",
    title="activation.title",
    start="activation:intro",
    steps=[
        Step("activation:intro", _never, ("activation:ask_email",), on_enter=_intro),
        Step("activation:ask_email", _ask_email, ("activation:suggest", "activation:confirm"),
             prompt="activation.ask_email", free_text=True, help="activation.help_email", expects="email"),
        Step("activation:suggest", _suggest, ("activation:confirm", "activation:suggest"),
             prompt="activation.ask_suggestion", choices=(YES, NO), help="activation.help_suggestion"),
        Step("activation:confirm", _confirm,
             ("activation:send", "activation:ask_email", "activation:suggest", "activation:confirm"),
             prompt="activation.confirm_email", confirms=True,
             choices=(Choice("send", "activation.choice_send", "activation.send_words"),
                      Choice("change", "activation.choice_change", "activation.change_words")),
             help="activation.help_confirm"),
        Step("activation:send", _never, ("activation:after_sent", "activation:ask_email", END),
             on_enter=_send),
        Step("activation:after_sent", _after_sent,
             ("activation:no_email_wait", "activation:done", "activation:suggest", "activation:confirm"),
             prompt="activation.ask_arrived",
             choices=(Choice("no_email", "activation.choice_no_email", "activation.no_email_words"),
                      Choice("done", "activation.choice_done", "activation.done_words")),
             help="activation.help_after_sent"),
        Step("activation:no_email_wait", _no_email_wait,
             ("activation:resend", "activation:done", "activation:suggest", "activation:confirm"),
             prompt="activation.no_email_wait",
             choices=(Choice("resend", "activation.choice_resend", "activation.resend_words"), FOUND),
             help="activation.help_no_email"),
        Step("activation:resend", _never,
             ("activation:after_resend", "activation:check_address", "activation:ask_email", END),
             on_enter=_resend),
        Step("activation:after_resend", _after_resend,
             ("activation:check_address", "activation:done", "activation:suggest", "activation:confirm"),
             prompt="activation.ask_arrived_again",
             choices=(Choice("still_nothing", "activation.choice_still_nothing",
                             "activation.still_nothing_words"), FOUND),
             help="activation.help_no_email"),
        Step("activation:check_address", _check_address,
             ("activation:ask_email", "activation:suggest", "activation:confirm", HANDOFF, END),
             prompt="activation.check_address",
             choices=(Choice("other", "activation.choice_other_address", "activation.other_address_words"),
                      Choice("human", "menu.human", "activation.human_words"),
                      Choice("later", "activation.choice_later", "activation.later_words")),
             help="activation.help_check_address"),
        Step("activation:done", _never, (END,), on_enter=_done),
    ],
    # "oj, fel adress" at the confirmation goes back to the address (flows/answers.py).
    fields=(Field("address", "activation:ask_email", "answers.field_email_words", ("address", "suggestion")),),
)

# Text keys the steps say directly (not as prompts), so a test can check they all exist.
SAID_KEYS = frozenset({
    "activation.intro", "activation.sent", "activation.resent", "activation.done",
    "activation.change_first", "activation.rate_limited", "activation.rate_limited_later",
    "activation.unavailable", "activation.button_menu", "activation.backend_invalid",
    "activation.email_masked", "activation.email_several", "activation.email_too_long",
    "activation.email_invalid", "menu.human",
})
