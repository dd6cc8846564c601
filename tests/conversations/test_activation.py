"""Whole activation conversations through the engine, with a fake activation client.

The fake has the client's interface (`request_activation(email, client=...)` → an object with
`status` and `retry_after`) and records every call, so each test can say exactly when the
backend was (or was not) asked and for which address.
"""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from bot.clock import make_clock
from flows.ports import ActivationResult, Services
from bot.engine import Engine
from bot.store.memory import MemoryStore
from flows import activation
from flows.machine import Flow, Step, end
from flows.registry import all_flows
from tests.conftest import Talk

ROOT = Path(__file__).resolve().parents[2]


class FakeActivation:
    """Answers activation requests from a script (last result repeats) and records the calls."""

    def __init__(self, *results: ActivationResult | BaseException | str) -> None:
        self.results = list(results) or [ActivationResult("ok")]
        self.calls: list[tuple[str, str | None]] = []

    async def request_activation(self, email: str, *, client: str | None = None) -> ActivationResult:
        self.calls.append((email, client))
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if result == "hang":
            await asyncio.sleep(30)
        if isinstance(result, BaseException):
            raise result
        return result

    @property
    def addresses(self) -> list[str]:
        return [email for email, _ in self.calls]


class RecordingHandoff:
    """A stand-in handoff flow that records why the conversation was handed over."""

    def __init__(self) -> None:
        self.args: list[dict] = []

        async def record(ctx):
            self.args.append(dict(ctx.data.get("args") or {}))
            ctx.say("handoff.title")
            return "recorded"

        self.flow = Flow("handoff", "handoff.title", "handoff:contact",
                         [Step("handoff:contact", routes={"recorded": end("recorded")}, on_enter=record)],
                         one_shot=True)


@pytest.fixture
def fake() -> FakeActivation:
    return FakeActivation()


@pytest.fixture
def handoff() -> RecordingHandoff:
    return RecordingHandoff()


@pytest.fixture
def make_talk(holder, handoff):
    """Build a conversation whose engine uses the given fake client (and the recording handoff)."""

    def make(client=None, *, session: str = "act-1", real_handoff: bool = False) -> Talk:
        flows = all_flows()
        if not real_handoff:
            flows["handoff"] = handoff.flow
        engine = Engine(source=holder, store=MemoryStore(), flows=flows,
                        clock=make_clock("2026-12-01T10:00"),
                        services=Services(activation=client))
        return Talk(engine, session=session)
    return make


@pytest.fixture
def atalk(make_talk, fake) -> Talk:
    return make_talk(fake)


async def start(talk: Talk, text: str = "jag vill aktivera appen") -> None:
    await talk(text)
    state = await talk.state()
    assert (state.flow, state.step) == ("activation", "activation:ask_email"), talk.text


async def step_of(talk: Talk) -> str | None:
    return (await talk.state()).step


async def transcript(talk: Talk) -> str:
    conv = await talk.engine.store.load(talk.session)
    return "\n".join(entry["text"] for entry in conv.transcript)


# The happy path ------------------------------------------------------------------------------

async def test_happy_path_explains_sends_and_says_what_happens_next(atalk, fake):
    await atalk("jag vill aktivera appen")
    text = atalk.text
    assert "e-legitimation" in text and "halmstad-mobil.skola24.se" in text
    assert "bara fungerar i appen" in text
    assert "e-postadress" in atalk.last.text and "registrerad" in atalk.last.text
    assert "lösenord" not in atalk.last.text.lower(), "the e-mail question must not mention a password"

    await atalk("anna.andersson@example.se")
    assert "anna.andersson@example.se" in atalk.last.text
    assert [b.label for b in atalk.buttons] == ["Ja, skicka", "Ändra adressen"]
    assert fake.calls == [], "nothing is sent before the guardian confirms"

    await atalk.press("Ja, skicka")
    assert fake.addresses == ["anna.andersson@example.se"]
    client = fake.calls[0][1]
    assert client and atalk.session not in client, "a per-conversation key, not the session id"
    text = atalk.text
    for needle in ("inkorgen", "skräpposten", "24 timmar", "Nästa", "användarnamn", "Dela aldrig"):
        assert needle in text, needle
    assert "Inget mejl kom" in [b.label for b in atalk.buttons]
    state = await atalk.state()
    assert state.step == "activation:after_sent"
    assert set(state.data) <= {"args", "text", "address"}, "the flow keeps only the address"

    await atalk.press("Klart, tack")
    state = await atalk.state()
    assert state.flow is None and state.data == {}, "the address goes with the flow"
    assert "halmstad-mobil.skola24.se" in atalk.text


async def test_happy_path_in_english(atalk, fake):
    await atalk("i want to activate the mobile app")
    assert "e-legitimation" in atalk.text and "Which e-mail address" in atalk.last.text
    await atalk("john@example.com")
    assert atalk.last.text == "Shall I send the activation link to john@example.com?"
    await atalk("yes")
    assert fake.addresses == ["john@example.com"]
    assert "spam folder" in atalk.text and "24 hours" in atalk.text
    assert "No e-mail came" in [b.label for b in atalk.buttons]


async def test_menu_button_starts_the_flow(atalk):
    await atalk("hej")
    await atalk.press("flow:activation")
    assert await step_of(atalk) == "activation:ask_email"


async def test_an_address_inside_a_sentence_is_taken(atalk, fake):
    await start(atalk)
    await atalk("min mejl är Anna@Example.SE.")
    assert await step_of(atalk) == "activation:confirm"
    assert "Anna@example.se" in atalk.last.text


# Typos ---------------------------------------------------------------------------------------

async def test_typo_suggestion_accepted(atalk, fake):
    await start(atalk)
    await atalk("anna@gmail.con")
    assert atalk.last.text == "Menade du anna@gmail.com?"
    assert [b.label for b in atalk.buttons] == ["Ja", "Nej"]
    await atalk.press("Ja")
    assert atalk.last.text == "Ska jag skicka aktiveringslänken till anna@gmail.com?"
    await atalk.press("Ja, skicka")
    assert fake.addresses == ["anna@gmail.com"]
    assert "suggestion" not in (await atalk.state()).data


async def test_typo_suggestion_refused_keeps_what_was_typed(atalk, fake):
    await start(atalk)
    await atalk("anna@hotmial.com")
    assert "anna@hotmail.com" in atalk.last.text
    await atalk("nej")
    assert atalk.last.text == "Ska jag skicka aktiveringslänken till anna@hotmial.com?"
    await atalk.press("Ja, skicka")
    assert fake.addresses == ["anna@hotmial.com"]


async def test_typing_another_address_at_the_suggestion(atalk, fake):
    await start(atalk)
    await atalk("anna@gmial.com")
    await atalk("anna@example.org")
    assert await step_of(atalk) == "activation:confirm"
    assert "anna@example.org" in atalk.last.text


@pytest.mark.parametrize("typed, meant", [
    ("a@gmail.con", "a@gmail.com"), ("a@gmial.com", "a@gmail.com"), ("a@hotmial.com", "a@hotmail.com"),
    ("a@yahoo.con", "a@yahoo.com"), ("a@icloud.co", "a@icloud.com"), ("a@telia.con", "a@telia.com"),
    ("a@outlook.con", "a@outlook.com"), ("a@GMAIL.CMO", "a@gmail.com"), ("a@hotmial.se", "a@hotmail.se"),
])
def test_obvious_domain_typos_are_caught(typed, meant):
    address, problem = activation.parse_address(typed)
    assert problem is None
    assert activation.suggest_address(address) == meant


@pytest.mark.parametrize("address", [
    "a@gmail.com", "a@outlook.se", "a@outlook.com", "a@hotmail.se", "a@telia.com", "a@halmstad.se",
    "a@skola.halmstad.se", "a@live.se", "a@con.se", "a@example.co",
])
def test_real_domains_are_left_alone(address):
    assert activation.suggest_address(address) is None


# Invalid input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, says", [
    ("anna@", "Det ser inte ut som en e-postadress"),
    ("anna@gmail", "Det ser inte ut som en e-postadress"),
    ("anna.gmail.com", "Det ser inte ut som en e-postadress"),
    ("anna@@gmail.com", "en enda e-postadress"),
    ("anna@example.se, bertil@example.se", "en enda e-postadress"),
    ("anna@example.se bertil@example.se", "en enda e-postadress"),
    ("anna@example.se\nbertil@example.se", "en enda e-postadress"),
    ("an na@example.se", "utan mellanslag"),
    ("skicka till anna@example.se tack", "utan mellanslag"),
    ("a" * 300 + "@example.se", "för lång"),
    ("anna@exa mple.se", "utan mellanslag"),
    ("anna@-example.se", "Det ser inte ut som en e-postadress"),
])
async def test_invalid_addresses_are_refused_and_asked_again(atalk, fake, typed, says):
    await start(atalk)
    await atalk(typed)
    assert says in atalk.text
    state = await atalk.state()
    assert state.step == "activation:ask_email"
    assert "address" not in state.data
    assert fake.calls == []
    await atalk("anna@example.se")
    assert await step_of(atalk) == "activation:confirm"


async def test_text_that_is_no_address_gets_the_question_again(atalk, fake):
    await start(atalk)
    await atalk("blablabla")
    assert await step_of(atalk) == "activation:ask_email"
    assert "e-postadress" in atalk.last.text
    assert fake.calls == []


async def test_help_at_the_email_step(atalk):
    await start(atalk)
    await atalk("hjälp")
    assert "Mina inställningar" in atalk.text and "lösenord" in atalk.text
    assert await step_of(atalk) == "activation:ask_email"


# Passwords and personnummer are never taken or kept ----------------------------------------------

@pytest.mark.parametrize("typed, secret", [
    ("mitt lösenord är Hemligt123!", "Hemligt123"),
    ("anna@example.se lösenord: Hemligt123!", "Hemligt123"),
    ("19800101-1238", "19800101-1238"),
    ("anna@example.se 198001011238", "198001011238"),
])
async def test_secrets_at_the_email_step_are_masked_and_never_used(atalk, fake, typed, secret):
    await start(atalk)
    await atalk(typed)
    assert "Skriv inte personnummer eller lösenord här" in atalk.text
    state = await atalk.state()
    assert state.step == "activation:ask_email"
    assert "address" not in state.data
    assert secret not in str(state) and secret not in await transcript(atalk)
    assert fake.calls == []


# Changing the address ----------------------------------------------------------------------------

async def test_change_address_at_the_confirmation(atalk, fake):
    await start(atalk)
    await atalk("anna@example.se")
    await atalk.press("Ändra adressen")
    assert await step_of(atalk) == "activation:ask_email"
    await atalk("bertil@example.se")
    assert "bertil@example.se" in atalk.last.text
    await atalk.press("Ja, skicka")
    assert fake.addresses == ["bertil@example.se"]


async def test_a_new_address_typed_at_the_confirmation_replaces_the_old(atalk, fake):
    await start(atalk)
    await atalk("anna@example.se")
    await atalk("bertil@gmail.con")
    assert atalk.last.text == "Menade du bertil@gmail.com?"
    await atalk.press("Ja")
    await atalk("ja")
    assert fake.addresses == ["bertil@gmail.com"]


# Backend answers ---------------------------------------------------------------------------------

async def test_rate_limited_says_when_to_try_again(make_talk):
    fake = FakeActivation(ActivationResult("rate_limited", retry_after=590))
    talk = make_talk(fake)
    await start(talk)
    await talk("anna@example.se")
    await talk.press("Ja, skicka")
    assert "Försök igen om 10 minuter" in talk.text
    assert "skräpposten" in talk.text
    assert (await talk.state()).flow is None


async def test_rate_limited_without_retry_after(make_talk):
    talk = make_talk(FakeActivation(ActivationResult("rate_limited")))
    await start(talk, "activate the app")
    await talk("anna@example.se")
    await talk("yes")
    assert "try again in an hour" in talk.text
    assert (await talk.state()).flow is None


async def test_backend_refusing_the_address_asks_again(make_talk):
    fake = FakeActivation(ActivationResult("invalid"), ActivationResult("ok"))
    talk = make_talk(fake)
    await start(talk)
    await talk("anna@example.se")
    await talk.press("Ja, skicka")
    assert "godtog inte" in talk.text
    assert await step_of(talk) == "activation:ask_email"
    await talk("anna@example.org")
    await talk.press("Ja, skicka")
    assert fake.addresses == ["anna@example.se", "anna@example.org"]
    assert await step_of(talk) == "activation:after_sent"


@pytest.mark.parametrize("failure", [ActivationResult("unavailable"), RuntimeError("boom"),
                                     ConnectionRefusedError(), "hang", None])
async def test_backend_trouble_apologises_with_contact_details_and_goes_on(make_talk, failure):
    talk = make_talk(FakeActivation(failure) if failure is not None else None)
    await start(talk)
    await talk("anna@example.se")
    began = time.monotonic()
    await talk.press("Ja, skicka")
    assert time.monotonic() - began < 2.0
    assert "Förlåt" in talk.text and "035-13 70 00" in talk.text and "direkt@halmstad.se" in talk.text
    assert "cmd:human" in [b.payload for b in talk.buttons], "the offer of a person"
    assert (await talk.state()).flow is None
    await talk("när har ni öppet?")
    assert "07.00" in talk.text, "the conversation goes on"


async def test_backend_trouble_in_english(make_talk):
    talk = make_talk(FakeActivation(ActivationResult("unavailable")))
    await start(talk, "activate the app")
    await talk("anna@example.se")
    await talk("yes")
    assert "Sorry" in talk.text and "035-13 70 00" in talk.text and "direkt@halmstad.se" in talk.text


async def test_offered_person_after_backend_trouble(make_talk, handoff):
    talk = make_talk(FakeActivation(ActivationResult("unavailable")))
    await start(talk)
    await talk("anna@example.se")
    await talk.press("Ja, skicka")
    await talk.press("cmd:human")
    assert handoff.args and handoff.args[-1]["reason"] == "asked"


# No e-mail arrived -------------------------------------------------------------------------------

async def sent(talk: Talk, address: str = "anna@example.se") -> None:
    await start(talk)
    await talk(address)
    await talk.press("Ja, skicka")
    assert await step_of(talk) == "activation:after_sent"


async def test_no_email_path_ends_with_a_person(atalk, fake, handoff):
    await sent(atalk)
    await atalk.press("Inget mejl kom")
    assert "skräpposten" in atalk.text and "några minuter" in atalk.text
    assert await step_of(atalk) == "activation:no_email_wait"
    await atalk.press("Skicka ett nytt mejl")
    assert fake.addresses == ["anna@example.se", "anna@example.se"], "the resend asks the backend again"
    assert "ersätter den gamla" in atalk.text
    await atalk.press("Inget mejl nu heller")
    text = atalk.text
    assert "anna@example.se" in text and "Mina inställningar" in text and "skola" in text
    assert await step_of(atalk) == "activation:check_address"
    await atalk.press("Prata med en person")
    assert handoff.args == [{"reason": "activation_no_email", "from": "activation"}]
    assert (await atalk.state()).flow is None


async def test_no_email_path_with_the_real_handoff(make_talk, fake):
    talk = make_talk(fake, real_handoff=True)
    await sent(talk)
    await talk("inget mejl")
    await talk("skicka igen")
    await talk("fortfarande inget")
    await talk.press("Prata med en person")
    assert "035-13 70 00" in talk.text
    assert (await talk.state()).flow is None


async def test_no_email_typed_as_a_sentence(atalk, fake):
    await sent(atalk)
    await atalk("jag har inte fått något mejl")
    assert await step_of(atalk) == "activation:no_email_wait"
    await atalk.press("Skicka ett nytt mejl")
    await atalk("det har inte kommit nu heller")
    assert await step_of(atalk) == "activation:check_address"


async def test_a_corrected_address_after_sending_is_confirmed_and_sent(atalk, fake):
    await sent(atalk, "anna@exampel.se")
    await atalk("oj, det ska vara anna@example.se")
    assert await step_of(atalk) == "activation:confirm"
    assert "anna@example.se" in atalk.last.text
    await atalk.press("Ja, skicka")
    assert fake.addresses == ["anna@exampel.se", "anna@example.se"]


async def test_no_email_then_it_arrived(atalk, fake):
    await sent(atalk)
    await atalk("inget mejl")
    await atalk.press("Nu kom det")
    assert (await atalk.state()).flow is None
    assert len(fake.calls) == 1


async def test_no_email_try_another_address(atalk, fake):
    await sent(atalk)
    await atalk.press("Inget mejl kom")
    await atalk.press("Skicka ett nytt mejl")
    await atalk.press("Inget mejl nu heller")
    await atalk.press("Prova en annan adress")
    assert await step_of(atalk) == "activation:ask_email"
    await atalk("anna.andersson@example.se")
    await atalk.press("Ja, skicka")
    assert fake.addresses[-1] == "anna.andersson@example.se"


async def test_no_email_change_the_address_first(atalk):
    await sent(atalk)
    await atalk.press("Inget mejl kom")
    await atalk.press("Skicka ett nytt mejl")
    await atalk.press("Inget mejl nu heller")
    await atalk.press("Jag ändrar adressen först")
    assert "aktivera appen" in atalk.text
    assert (await atalk.state()).flow is None


async def test_resend_rate_limited_goes_to_the_address_check(make_talk):
    fake = FakeActivation(ActivationResult("ok"), ActivationResult("rate_limited", retry_after=3600))
    talk = make_talk(fake)
    await sent(talk)
    await talk.press("Inget mejl kom")
    await talk.press("Skicka ett nytt mejl")
    assert "60 minuter" in talk.text
    assert await step_of(talk) == "activation:check_address"


async def test_resend_with_the_backend_down(make_talk):
    talk = make_talk(FakeActivation(ActivationResult("ok"), ActivationResult("unavailable")))
    await sent(talk)
    await talk.press("Inget mejl kom")
    await talk.press("Skicka ett nytt mejl")
    assert "Förlåt" in talk.text and "035-13 70 00" in talk.text
    assert (await talk.state()).flow is None


# Interruptions and cancelling ----------------------------------------------------------------------

async def test_question_at_the_email_step_is_answered_and_the_step_asked_again(atalk, fake):
    await start(atalk)
    await atalk("när har ni öppet?")
    assert "07.00" in atalk.text, "the opening hours are answered"
    assert atalk.last.text.startswith("Vilken e-postadress"), "then the e-mail is asked again"
    assert await step_of(atalk) == "activation:ask_email"
    await atalk("anna@example.se")
    await atalk.press("Ja, skicka")
    assert fake.addresses == ["anna@example.se"]


async def test_question_at_a_button_step_is_answered_and_the_step_asked_again(atalk):
    await start(atalk)
    await atalk("anna@example.se")
    await atalk("vilken domän ska jag välja")
    assert "halmstad-mobil.skola24.se" in atalk.text
    assert await step_of(atalk) == "activation:confirm"
    assert "anna@example.se" in atalk.last.text


async def to_step(talk: Talk, step: str) -> None:
    """Drive a fresh conversation to `step` of the activation flow."""
    path = {
        "activation:ask_email": [],
        "activation:suggest": ["anna@gmail.con"],
        "activation:confirm": ["anna@example.se"],
        "activation:after_sent": ["anna@example.se", "ja"],
        "activation:no_email_wait": ["anna@example.se", "ja", "inget mejl"],
        "activation:after_resend": ["anna@example.se", "ja", "inget mejl", "skicka igen"],
        "activation:check_address": ["anna@example.se", "ja", "inget mejl", "skicka igen",
                                     "fortfarande inget"],
    }[step]
    await start(talk)
    for text in path:
        await talk(text)
    assert await step_of(talk) == step, talk.text


@pytest.mark.parametrize("step", ["activation:ask_email", "activation:suggest", "activation:confirm",
                                  "activation:after_sent", "activation:no_email_wait",
                                  "activation:after_resend", "activation:check_address"])
async def test_cancel_at_every_step(make_talk, step):
    fake = FakeActivation()
    talk = make_talk(fake, session=f"cancel-{step.split(':')[1]}")
    await to_step(talk, step)
    calls = len(fake.calls)
    await talk("avbryt")
    state = await talk.state()
    assert state.flow is None and state.data == {}
    assert "avbrutit" in talk.text.lower() or "avbryt" in talk.text.lower()
    assert len(fake.calls) == calls, "cancelling never sends anything"


# The flow's texts --------------------------------------------------------------------------------

def test_every_text_the_flow_says_exists_in_both_languages(holder):
    texts = holder.knowledge.texts
    source = (ROOT / "flows" / "activation.py").read_text(encoding="utf-8")
    named = set(re.findall(r'"(activation\.[a-z_]+)"', source)) | set(activation.SAID_KEYS)
    named |= {f"activation.email_{p}" for p in ("masked", "several", "too_long", "invalid")}
    missing = {key for key in named if key not in texts or set(texts[key]) < {"sv", "en"}}
    assert not missing


def test_no_activation_text_asks_for_a_password(holder):
    asks = re.compile(r"(skriv|ange|uppge|type|enter|give)\s+(ditt|ditt nya|your|your new)?\s*"
                      r"(lösenord|password)", re.IGNORECASE)
    for key, by_lang in holder.knowledge.texts.items():
        if key.startswith("activation."):
            for lang, text in by_lang.items():
                if asks.search(text):
                    assert "aldrig" in text or "never" in text.lower(), (key, lang)
