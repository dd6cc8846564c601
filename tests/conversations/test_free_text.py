"""Every flow answered entirely in free text (no button presses), in Swedish and English, with a
change of mind and a correction at each kind of step (flows/answers.py reads the answers).

Real engine, real flows, the shipped knowledge; the data-rights tests run the reference DSR
backend on loopback and the handoff tests a real handoff queue (fixtures shared with
tests/conversations/test_data_rights.py and tests/handoff/test_handoff_flow.py).
"""
from __future__ import annotations

import pytest

from flows.ports import Services
from tests.conftest import Talk
from tests.conversations.test_activation import FakeActivation, handoff, make_talk  # noqa: F401
from tests.conversations.test_data_rights import backend, chat  # noqa: F401
from tests.handoff.test_handoff_flow import wired  # noqa: F401

ACCOUNT_SV = "hur ansöker jag om konto i skola24?"
ACCOUNT_EN = "how do I apply for a skola24 account?"
SUNDAY = "2026-12-06T11:00"  # Halmstad direkt closed: asking for a person offers a message


async def step(talk: Talk) -> str | None:
    return (await talk.state()).step


# The account flow -----------------------------------------------------------------------------


async def test_account_in_swedish_words_to_the_e_service(talk):
    await talk(ACCOUNT_SV)
    await talk("ett nytt konto")
    assert await step(talk) == "account:age"
    await talk("ja, hon går i trean")
    assert await step(talk) == "account:protected"
    await talk("nej, det har vi inte")
    assert await step(talk) == "account:eleg"
    await talk("ja det har jag")  # was read as the FAQ question about *not* having BankID
    assert "kommunens e-tjänst" in talk.text
    state = await talk.state()
    assert state.flow is None and state.paused is None
    assert "Utan e-legitimation" not in talk.text


async def test_account_in_swedish_words_to_the_school(talk):
    await talk(ACCOUNT_SV)
    await talk("koppla mitt barn")
    assert (await talk.state()).data["purpose"] == "link"
    await talk("han går i nian")
    await talk("nej vi har inte det")
    await talk("nä")
    assert "direkt på ditt barns skola" in talk.text


async def test_account_in_english_words(talk):
    await talk(ACCOUNT_EN)
    await talk("a new account please")
    assert await step(talk) == "account:age"
    await talk("he's 17")
    assert await step(talk) == "account:protected"
    await talk("nope, we don't")
    assert await step(talk) == "account:eleg"
    await talk("yes please")
    assert "e-service" in talk.text and (await talk.state()).flow is None


@pytest.mark.parametrize("answer", ["just turned 18", "she is 19", "nej, han har fyllt 18"])
async def test_an_age_of_18_or_more_is_the_adult_pupil_route(talk, answer):
    await talk(ACCOUNT_EN if answer[0] in "js" else ACCOUNT_SV)
    await talk("new account" if answer[0] in "js" else "nytt konto")
    await talk(answer)
    assert "18" in talk.text and (await talk.state()).flow is None
    assert any(w in talk.text for w in ("A pupil who has turned 18", "En elev som fyllt 18"))


async def test_an_explicit_age_outweighs_a_leading_no(talk):
    await talk(ACCOUNT_SV)
    await talk("nytt konto")
    await talk("nej hon är 16")  # answered as if asked "is she 18?": 16 is under 18
    assert await step(talk) == "account:protected"


async def test_third_year_of_upper_secondary_asks_again(talk):
    await talk(ACCOUNT_SV)
    await talk("nytt konto")
    await talk("trean på gymnasiet")
    assert "redan fyllt 18" in talk.text and await step(talk) == "account:age"
    assert [b.payload for b in talk.buttons] == ["ans:yes", "ans:no"]
    await talk("ja hon är fortfarande 17")
    assert await step(talk) == "account:protected"


@pytest.mark.parametrize("opening, answers, words", [
    (ACCOUNT_SV, (), "glöm det"),  # at a choice step
    (ACCOUNT_SV, ("nytt konto",), "jag ångrar mig"),  # at the age step
    (ACCOUNT_SV, ("nytt konto", "ja"), "nej jag vill inte längre"),  # at a yes/no step
    (ACCOUNT_EN, ("new account",), "never mind"),
    (ACCOUNT_EN, ("new account", "yes"), "I changed my mind"),
])
async def test_a_change_of_mind_at_any_account_step(talk, opening, answers, words):
    await talk(opening)
    for answer in answers:
        await talk(answer)
    await talk(words)
    state = await talk.state()
    assert state.flow is None
    assert talk.text in ("Okej, jag har avbrutit. Vad vill du göra nu?",
                         "OK, I have cancelled that. What would you like to do now?")


async def test_account_corrections_in_swedish_words(talk):
    await talk(ACCOUNT_SV)
    await talk("koppla ett barn till")
    await talk("fel, det gäller ett nytt konto")  # back to the first question, answered at once
    state = await talk.state()
    assert state.data["purpose"] == "new" and state.step == "account:age"
    await talk("ja")
    await talk("oj, fel ålder, hon är 19")
    assert "En elev som fyllt 18" in talk.text and (await talk.state()).flow is None


async def test_account_corrections_in_english_words(talk):
    await talk(ACCOUNT_EN)
    await talk("new account")
    await talk("yes")
    await talk("sorry, I meant link another child")
    state = await talk.state()
    assert state.data["purpose"] == "link" and state.step == "account:age"
    await talk("yes")
    await talk("no")
    assert await step(talk) == "account:eleg"
    await talk("no wait, wrong age: she is 19")
    assert "A pupil who has turned 18" in talk.text and (await talk.state()).flow is None


async def test_worded_answers_never_count_as_detours(talk):
    await talk(ACCOUNT_SV)
    await talk("nytt konto")
    await talk("när har ni öppet?")
    await talk("när har ni öppet?")
    assert (await talk.state()).detours == 2
    await talk("trean på gymnasiet")  # an answer in words the step cannot decide on
    await talk("när har ni öppet?")
    state = await talk.state()
    assert state.flow == "account" and state.paused is None


async def test_a_question_after_a_yes_is_answered_too(talk):
    await talk(ACCOUNT_SV)
    await talk("nytt konto")
    await talk("ja")
    await talk("nej")
    await talk("ja men hur gör jag om jag inte har bankid?")
    assert "Utan e-legitimation" in talk.replies[0].text  # the FAQ answer to the question
    assert "e-tjänst" in talk.last.text  # and the yes took the e-service route


@pytest.mark.parametrize("words", ["kan jag få hjälp av en människa istället",
                                   "Jag har försökt i en timme och inget fungerar. Jag vill prata med en person.",
                                   "I have tried everything and nothing works. I want to talk to a person."])
async def test_asking_for_a_person_inside_a_flow_goes_to_a_person(wired, words):
    engine, service = wired()  # Tuesday 10.00, one agent available
    talk = Talk(engine, "wants-a-person")
    await talk(ACCOUNT_EN if words.startswith("I ") else ACCOUNT_SV)
    await talk("new account" if words.startswith("I ") else "nytt konto")
    await talk(words)
    [item] = service.queue.waiting()
    assert item["reason"] == "asked" and item["flow"] == "account" and item["step"] == "account:age"
    assert "queue" in talk.text or "kön" in talk.text


# Leaving a message (handoff, out of hours) ---------------------------------------------------


async def test_leaving_a_message_in_swedish_words_with_a_correction(wired):
    engine, service = wired(now=SUNDAY)
    talk = Talk(engine, "message-sv")
    await talk("kan jag få prata med en människa")
    assert "Vill du lämna ett meddelande?" in talk.text
    await talk("ja tack")  # was "Det förstod jag inte riktigt"
    assert await step(talk) == "handoff:ask_name"
    await talk("jag heter Anna Andersson")
    assert await step(talk) == "handoff:ask_contact"
    await talk("ni kan ringa mig på 070 123 45 67 helst eftermiddag")
    state = await talk.state()
    assert state.step == "handoff:ask_message"
    assert state.data["contact"] == "070 123 45 67"
    assert state.data["contact_note"] == "helst eftermiddag"
    await talk("oj, fel namn")  # a correction while the message is asked for
    assert await step(talk) == "handoff:ask_name"
    await talk("Anna Berg")
    assert await step(talk) == "handoff:ask_message", "the number is kept, so the message is next"
    await talk("Min son kan inte logga in i appen sedan i fredags.")
    [message] = service.queue.open_messages()
    assert message["name"] == "Anna Berg" and message["contact"] == "070 123 45 67"
    assert message["contact_kind"] == "phone"
    assert message["text"].startswith("Min son kan inte logga in i appen sedan i fredags.")
    assert "Om att nå mig: helst eftermiddag" in message["text"], "the note reaches the agent"
    assert "Tack Anna Berg" in talk.text


async def test_leaving_a_message_in_english_words_with_a_correction(wired):
    engine, service = wired(now=SUNDAY)
    talk = Talk(engine, "message-en")
    await talk("I would like to talk to a person please", lang_hint="en")
    assert "leave a message" in talk.text
    await talk("yes please")
    await talk("my name is Sam Smith")
    await talk("you can reach me at sam@exampel.com, mornings are best")
    assert (await talk.state()).data["contact"] == "sam@exampel.com"
    await talk("oops, wrong email: sam@example.com")
    state = await talk.state()
    assert state.step == "handoff:ask_message" and state.data["contact"] == "sam@example.com"
    await talk("Please call me about the app, it will not let me in.")
    [message] = service.queue.open_messages()
    assert (message["name"], message["contact"], message["lang"]) == ("Sam Smith", "sam@example.com", "en")
    assert "saved" in talk.text


@pytest.mark.parametrize("answers, words", [
    ((), "nej tack"),  # "no" to the offer: the phone and e-mail instead
    (("ja",), "glöm det, jag ångrar mig"),  # at the name
    (("ja", "Anna"), "strunta i det"),  # at the contact
    (("ja", "Anna", "070-123 45 67"), "glöm det"),  # at the message
    (("yes",), "never mind"),
    (("yes", "Sam", "sam@example.com"), "forget it"),
])
async def test_a_change_of_mind_while_leaving_a_message_stores_nothing(wired, answers, words):
    engine, service = wired(now=SUNDAY)
    talk = Talk(engine, "changes-mind")
    await talk("I want to talk to a person" if words in ("never mind", "forget it") else "jag vill prata med en människa")
    for answer in answers:
        await talk(answer)
    await talk(words)
    assert service.queue.open_messages() == []
    assert (await talk.state()).flow is None
    if words == "nej tack":
        assert "035-13 70 00" in talk.text
    else:
        assert "avbrutit" in talk.text or "cancelled" in talk.text


@pytest.mark.parametrize("typed, contact, note", [
    ("46701234567", "46701234567", ""),  # a bare number is taken as typed, as before
    ("+46 70 123 45 67", "+46 70 123 45 67", ""),
    ("ring mig på 0701234567 efter kl 16", "0701234567", "efter kl 16"),
    ("mejla mig på anna@example.se", "anna@example.se", ""),
])
async def test_the_contact_step_takes_a_number_or_address_with_or_without_a_sentence(wired, typed, contact, note):
    engine, service = wired(now=SUNDAY)
    talk = Talk(engine, "contact-forms")
    for answer in ("jag vill prata med en människa", "ja", "Anna", typed):
        await talk(answer)
    data = (await talk.state()).data
    assert (data["contact"], data["contact_note"]) == (contact, note)


async def test_no_thanks_to_the_offer_in_english(wired):
    engine, service = wired(now=SUNDAY)
    talk = Talk(engine, "no-thanks")
    await talk("I want to talk to a person")
    await talk("no thanks")
    assert "035-13 70 00" in talk.text and (await talk.state()).flow is None


# Data-subject requests ------------------------------------------------------------------------


async def test_data_rights_in_swedish_words_with_corrections(chat, backend):
    await chat("jag vill använda mina rättigheter enligt GDPR")
    await chat("ett registerutdrag tack")
    await chat("det gäller mig själv")
    assert await step(chat) == "data_rights:name"
    await chat("glöm det, jag ångrar mig")  # was stored as the name
    assert "avbrutit" in chat.text and (await chat.state()).flow is None
    await chat("jag vill använda mina rättigheter enligt GDPR")
    await chat("ett registerutdrag tack")
    await chat("mig själv")
    await chat("Jag heter Anna Andersson")
    await chat("ni kan ringa mig på 070 123 45 67 helst eftermiddag")
    data = (await chat.state()).data
    assert data["req_name"] == "Anna Andersson"
    assert data["req_phone"] == "070 123 45 67" and data["contact_note"] == "helst eftermiddag"
    await chat("nej tack")  # nothing to add to the description
    assert await step(chat) == "data_rights:summary"
    await chat("oj, fel adress")  # a correction naming the field
    assert await step(chat) == "data_rights:contact"
    await chat("anna.andersson@example.com")
    assert await step(chat) == "data_rights:summary" and "anna.andersson@example.com" in chat.text
    await chat("nej det stämmer inte")  # no field named: which one?
    assert await step(chat) == "data_rights:change_self"
    await chat("namnet")
    assert await step(chat) == "data_rights:name"
    await chat("Anna Berg")
    await chat("ja, skicka")
    assert "DSR-2026-" in chat.text
    [case] = backend.cases()
    assert case["requester"] == {"name": "Anna Berg", "email": "anna.andersson@example.com", "phone": None}


async def test_data_rights_in_english_words_with_corrections(chat, backend):
    await chat("delete my data", lang_hint="en")
    assert await step(chat) == "data_rights:erasure_limits"
    await chat("ok, continue")
    await chat("it is about my child")
    await chat("my name is Sam Smith")
    await chat("sam@example.com")
    await chat("Alex Smith")
    await chat("I don't know")  # the school is optional
    await chat("Please delete the absence notes from last spring.")
    assert await step(chat) == "data_rights:summary"
    await chat("change the child's name")
    assert await step(chat) == "data_rights:child_name"
    await chat("Alexandra Smith")
    await chat("the phone number is wrong")  # we gave an e-mail: the contact is asked again
    assert await step(chat) == "data_rights:contact"
    await chat("call me on +46 70 123 45 67 after five")
    data = (await chat.state()).data
    assert data["req_phone"] == "+46 70 123 45 67" and data["contact_note"] == "after five"
    await chat("yes, send it")
    assert "DSR-2026-" in chat.text
    [case] = backend.cases()
    assert case["child"]["name"] == "Alexandra Smith" and case["right"] == "erasure"
    assert case["requester"]["phone"] == "+46 70 123 45 67"


@pytest.mark.parametrize("answers, words", [
    (("delete my data",), "forget it"),  # at the limits
    (("delete my data", "continue", "myself"), "I changed my mind"),  # at the name
    (("ta bort mina uppgifter", "fortsätt", "mig", "Anna Andersson"), "strunta i det"),  # at the contact
    (("ta bort mina uppgifter", "fortsätt", "mig", "Anna Andersson", "anna@example.com"),
     "glöm det"),  # at the description
])
async def test_a_change_of_mind_at_any_data_rights_step(chat, backend, answers, words):
    for answer in answers:
        await chat(answer)
    await chat(words)
    assert (await chat.state()).flow is None
    assert backend.cases() == []


async def test_a_description_that_regrets_something_is_a_description(chat, backend):
    for answer in ("ta bort mina uppgifter", "fortsätt", "mig", "Anna Andersson", "anna@example.com"):
        await chat(answer)
    await chat("Jag ångrar mig att jag lämnade samtycke förra året, radera uppgifterna från den enkäten.")
    assert await step(chat) == "data_rights:summary"


# Activating the app ---------------------------------------------------------------------------


async def test_activation_in_swedish_words_with_a_correction(make_talk, handoff):
    fake = FakeActivation()
    talk = make_talk(fake, session="act-sv")
    await talk("jag vill aktivera appen")
    await talk("min mejl är anna@exampel.se")
    assert await step(talk) == "activation:confirm"
    await talk("oj, fel adress")
    assert await step(talk) == "activation:ask_email"
    await talk("anna@example.se")
    await talk("ja skicka den")
    assert fake.addresses == ["anna@example.se"]
    await talk("nej, det har inte kommit något mejl")
    assert await step(talk) == "activation:no_email_wait"
    await talk("skicka igen tack")
    assert fake.addresses == ["anna@example.se"] * 2
    await talk("fortfarande inget")
    assert await step(talk) == "activation:check_address"
    await talk("kan jag få prata med en människa")
    assert handoff.args == [{"reason": "activation_no_email", "from": "activation"}]


async def test_activation_in_english_words_with_a_correction(make_talk):
    fake = FakeActivation()
    talk = make_talk(fake, session="act-en")
    await talk("how do I activate the app")
    await talk("my email is sam@example.com")
    await talk("wrong email")
    assert await step(talk) == "activation:ask_email"
    await talk("sam@example.org")
    await talk("yes send it")
    assert fake.addresses == ["sam@example.org"]
    await talk("never mind")
    assert (await talk.state()).flow is None and "cancelled" in talk.text


@pytest.mark.parametrize("answers, words", [
    ((), "strunta i det"),  # at the address
    (("anna@example.se",), "jag ångrar mig"),  # at the confirmation
    (("anna@example.se", "ja"), "glöm det"),  # after the link was sent
])
async def test_a_change_of_mind_at_any_activation_step(make_talk, answers, words):
    fake = FakeActivation()
    talk = make_talk(fake, session="act-mind")
    await talk("jag vill aktivera appen")
    for answer in answers:
        await talk(answer)
    await talk(words)
    assert (await talk.state()).flow is None and "avbrutit" in talk.text
    assert fake.addresses == (["anna@example.se"] if "ja" in answers else [])
