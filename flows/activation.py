"""Activating the Skola24 mobile app with the guardian: the e-mail, the link, and what if none comes.

The web login is e-legitimation; the app needs its own username and password, which the guardian
creates after following a link mailed to the address registered on the Skola24 account. This flow
asks for that address, catches obvious typos ("gmail.con"), confirms it (a form of one field),
asks the activation backend (through the port `ctx.services.activation`) to send the link, and
explains what happens next. A "no e-mail arrived" path goes: wait and check spam → send again → is it the
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

from flows.form import Ask, Form, Summary
from flows.machine import NO, YES, Answer, Choice, Flow, FlowContext, Stay, Step, end, person, to
from flows.ports import ActivationResult

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

async def _request(ctx: FlowContext) -> ActivationResult:
    """Ask the backend for an activation e-mail; any failure or overrun reads as unavailable.

    The client is the port `ActivationPort` (flows/ports.py), so the flow stays free of HTTP and
    tests can inject a fake; whatever it returns is checked before it is believed.
    """
    client = ctx.services.activation
    address = ctx.data.get("address")
    if client is None or not isinstance(address, str):
        log.warning("activation backend missing client_configured=%s", client is not None)
        return ActivationResult("unavailable")
    try:
        async with asyncio.timeout(BACKEND_DEADLINE):
            result = await client.request_activation(address, client=ctx.client or client_key(ctx.session))
    except (TimeoutError, asyncio.TimeoutError):
        log.warning("activation backend over deadline")
        return ActivationResult("unavailable")
    except Exception as exc:  # noqa: BLE001 - the guardian gets an apology, never a crash
        log.error("activation backend call failed error=%s", type(exc).__name__)
        return ActivationResult("unavailable")
    status = getattr(result, "status", "unavailable")
    if status not in ("ok", "rate_limited", "invalid", "unavailable"):
        return ActivationResult("unavailable")
    return result


def _say_trouble(ctx: FlowContext, result: ActivationResult) -> None:
    """Say why no link was sent: too many requests, an address refused, or the backend is down."""
    if result.status == "rate_limited":
        seconds = getattr(result, "retry_after", None)
        if isinstance(seconds, int) and seconds > 0:
            ctx.say("activation.rate_limited", minutes=max(1, math.ceil(seconds / 60)))
        else:
            ctx.say("activation.rate_limited_later")
    elif result.status == "invalid":
        ctx.say("activation.backend_invalid")
    else:
        ctx.say("activation.unavailable", buttons=[ctx.button("menu.human", "cmd:human"),
                                                   ctx.button("activation.button_menu", "cmd:menu")])


def _requester(sent_key: str, what: str):
    """Build the entry action that asks for the link (`what`: "requested" or "requested again")."""
    async def send(ctx: FlowContext) -> str:
        result = await _request(ctx)
        if result.status == "ok":
            log.info("activation link %s", what)
            ctx.say(sent_key, address=ctx.data["address"])
        else:
            _say_trouble(ctx, result)
        return result.status  # "ok", "rate_limited", "invalid" or "unavailable"
    return send


# The address form -----------------------------------------------------------------------------

EMAIL = "activation:ask_email"


async def _read_address(ctx: FlowContext, answer: Answer):
    """Read a typed address: the values to store, Stay after saying what is wrong, or None when the
    text does not try to be an address."""
    address, problem = parse_address(answer.text or "")
    if problem == "not_an_address":
        return None
    if address is None:
        ctx.say(f"activation.email_{problem}")
        return Stay(reprompt=False)
    suggestion = suggest_address(address)
    return {"address": address} | ({"suggestion": suggestion} if suggestion else {})


async def _read_suggestion(ctx: FlowContext, answer: Answer):
    if answer.choice == "yes":
        return {"address": ctx.data.get("suggestion", ctx.data.get("address"))}
    if answer.choice == "no":
        return {}  # keeps the address as typed
    return await _read_address(ctx, answer)  # another address typed instead


ADDRESS = Form("address", [
    Ask(EMAIL, _read_address, ("address", "suggestion"), "activation.ask_email", field="address",
        words="answers.field_email_words", free_text=True, help="activation.help_email", expects="email"),
    # "Menade du …@gmail.com?" while a typo is suspected.
    Ask("activation:suggest", _read_suggestion, ("suggestion",), "activation.ask_suggestion", field="address",
        needed=lambda data: "suggestion" in data, choices=(YES, NO), help="activation.help_suggestion"),
], exits={"send": to("activation:send", "address confirmed")},
    # "Oj, fel adress" here asks for it again; a corrected address may be typed straight away.
    summary=Summary("activation:confirm", "activation.confirm_email",
                    (Choice("send", "activation.choice_send", "activation.send_words"),
                     Choice("change", "activation.choice_change", "activation.change_words")),
                    help="activation.help_confirm", typed=EMAIL))


# After the link -------------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(inte|inget|ingen|aldrig|not|never|nothing|didn'?t|hasn'?t|haven'?t)\b")
_MAIL_WORD = re.compile(r"(mejl|mail|e-post|epost|kommit|arrived|came|received|fått|fatt|got)")


def says_no_email(text: str | None) -> bool:
    """Tell whether a typed sentence says the e-mail did not come ("jag har inte fått något mejl").

    The button and its words cover the usual answers; this catches the whole sentences people
    type instead, which would otherwise be answered as a new question and leave the step waiting.
    """
    lowered = (text or "").lower()
    return bool(_NEGATION.search(lowered) and _MAIL_WORD.search(lowered))


async def _choice_or_address(ctx: FlowContext, answer: Answer):
    """Route the chosen choice; a corrected address typed instead goes back into the form."""
    if answer.choice is not None:
        return answer.choice
    if "@" not in (answer.text or ""):
        return None
    return await ADDRESS.take(ctx, EMAIL, answer, then="new_address")


def _arrived(nothing: str):
    """Build the handler of "did it arrive?", where a sentence may say it did not (`nothing`)."""
    async def handle(ctx: FlowContext, answer: Answer):
        if answer.choice is None and says_no_email(answer.text):
            return nothing
        return await _choice_or_address(ctx, answer)
    return handle


async def _check_address(ctx: FlowContext, answer: Answer):
    if answer.choice == "later":
        ctx.say("activation.change_first")
    return await _choice_or_address(ctx, answer)


async def _intro(ctx: FlowContext) -> str:
    ctx.say("activation.intro")
    return "ask"


async def _done(ctx: FlowContext) -> str:
    ctx.say("activation.done")
    return "done"


# Text keys the steps say directly (not as prompts), so a test can check they all exist.
SAID_KEYS = frozenset({
    "activation.intro", "activation.sent", "activation.resent", "activation.done",
    "activation.change_first", "activation.rate_limited", "activation.rate_limited_later",
    "activation.unavailable", "activation.button_menu", "activation.backend_invalid",
    "activation.email_masked", "activation.email_several", "activation.email_too_long",
    "activation.email_invalid", "menu.human",
})
FOUND = Choice("found", "activation.choice_found", "activation.found_words")
NEW_ADDRESS = {"new_address": to(ADDRESS, "another address typed")}

FLOW = Flow(
    name="activation",
    title="activation.title",
    start="activation:intro",
    steps=[
        Step("activation:intro", routes={"ask": to(ADDRESS, "asks for the address")}, on_enter=_intro),
        ADDRESS,
        Step("activation:send", routes={"ok": to("activation:after_sent", "link sent"),
                                        "rate_limited": end("too many requests", menu=True),
                                        "invalid": to(EMAIL, "address refused"),
                                        "unavailable": end("backend unavailable")},
             on_enter=_requester("activation.sent", "requested")),
        Step("activation:after_sent", _arrived("no_email"),
             {"no_email": to("activation:no_email_wait", "no e-mail"), "done": to("activation:done", "it came"),
              **NEW_ADDRESS},
             prompt="activation.ask_arrived",
             choices=(Choice("no_email", "activation.choice_no_email", "activation.no_email_words"),
                      Choice("done", "activation.choice_done", "activation.done_words")),
             help="activation.help_after_sent"),
        Step("activation:no_email_wait", _choice_or_address,
             {"resend": to("activation:resend", "send again"), "found": to("activation:done", "found it"),
              **NEW_ADDRESS},
             prompt="activation.no_email_wait",
             choices=(Choice("resend", "activation.choice_resend", "activation.resend_words"), FOUND),
             help="activation.help_no_email"),
        Step("activation:resend", routes={"ok": to("activation:after_resend", "link sent again"),
                                          "rate_limited": to("activation:check_address", "too many requests"),
                                          "invalid": to(EMAIL, "address refused"),
                                          "unavailable": end("backend unavailable")},
             on_enter=_requester("activation.resent", "requested again")),
        Step("activation:after_resend", _arrived("still_nothing"),
             {"still_nothing": to("activation:check_address", "still nothing"),
              "found": to("activation:done", "found it"), **NEW_ADDRESS},
             prompt="activation.ask_arrived_again",
             choices=(Choice("still_nothing", "activation.choice_still_nothing",
                             "activation.still_nothing_words"), FOUND),
             help="activation.help_no_email"),
        Step("activation:check_address", _check_address,
             {"other": to(EMAIL, "another address"), "human": person("activation_no_email", "a person"),
              "later": end("change it first", menu=True), **NEW_ADDRESS},
             prompt="activation.check_address",
             choices=(Choice("other", "activation.choice_other_address", "activation.other_address_words"),
                      Choice("human", "menu.human", "activation.human_words"),
                      Choice("later", "activation.choice_later", "activation.later_words")),
             help="activation.help_check_address"),
        Step("activation:done", routes={"done": end("done", menu=True)}, on_enter=_done),
    ],
    said=SAID_KEYS,
)
