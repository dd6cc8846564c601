"""The flow-answer interpreter (flows/answers.py) on the shipped word lists and the real flows."""
from __future__ import annotations

import pytest

from flows.answers import Lexicon, find_contact, find_name, read
from flows.registry import all_flows

FLOWS = all_flows()


@pytest.fixture(scope="module")
def knowledge(holder):
    return holder.knowledge


def at(step_id: str):
    flow = FLOWS[step_id.split(":")[0]]
    return flow, flow.by_id[step_id]


def reading(knowledge, step_id: str, text: str, data: dict | None = None):
    flow, step = at(step_id)
    return read(text, step, flow, knowledge, data or {})


def choice_of(r) -> str | None:
    return r.exact or r.choice


@pytest.mark.parametrize("text", [
    "ja", "japp", "ja tack", "jo", "absolut", "Ja, hon går i trean", "ja det har jag", "jadå, gärna",
    "det har jag", "yes please", "yep", "Yes, I do", "sure", "of course", "oh yes", "hmm ja",
])
def test_yes_in_words(knowledge, text):
    assert choice_of(reading(knowledge, "account:eleg", text)) == "yes"


@pytest.mark.parametrize("text", [
    "nej", "nä", "nej, det har vi inte", "nej vi har inte det", "vi har inte det", "inte ja",
    "absolut inte", "no", "nope, we don't", "no thanks", "nah", "definitely not", "we don't",
    "jag har inget bankid",
])
def test_no_in_words(knowledge, text):
    assert choice_of(reading(knowledge, "account:eleg", text)) == "no"


@pytest.mark.parametrize("text", [
    "jag förstår inte", "vet inte", "I don't understand", "kan jag använda appen också?",
    "what is an e-ID?", "blåbärssoppa",
])
def test_neither_yes_nor_no(knowledge, text):
    r = reading(knowledge, "account:eleg", text)
    assert choice_of(r) is None and not r.cancel


@pytest.mark.parametrize("text, value", [
    ("ett nytt konto", "new"), ("jag vill skaffa ett konto", "new"), ("a new account please", "new"),
    ("koppla mitt barn", "link"), ("lägga till mitt andra barn", "link"), ("add my second child", "link"),
    ("jag vill koppla ihop min dotter", "link"), ("1", "new"), ("Koppla ett barn till", "link"),
])
def test_choices_by_meaning(knowledge, text, value):
    assert choice_of(reading(knowledge, "account:purpose", text)) == value


@pytest.mark.parametrize("text, value", [
    ("hon är 16", "yes"), ("han går i nian", "yes"), ("he's 17", "yes"), ("just turned 18", "no"),
    ("hon fyller 18 i maj", "yes"), ("han är 19 år", "no"), ("åk 8", "yes"), ("grade 9", "yes"),
    ("tvåan på gymnasiet", "yes"), ("nej hon är 16", "yes"), ("16", "yes"), ("she is 18 years old", "no"),
])
def test_ages_and_school_years_answer_under_18(knowledge, text, value):
    assert choice_of(reading(knowledge, "account:age", text)) == value


@pytest.mark.parametrize("text", ["trean på gymnasiet", "third year of upper secondary", "year 12"])
def test_a_year_that_may_be_18_is_unsure(knowledge, text):
    r = reading(knowledge, "account:age", text)
    assert r.unsure == "answers.age_unsure" and choice_of(r) is None


@pytest.mark.parametrize("step_id", ["account:purpose", "account:eleg", "data_rights:name",
                                     "handoff:ask_contact", "activation:ask_email", "data_rights:summary"])
@pytest.mark.parametrize("text", ["glöm det", "glöm det, jag ångrar mig", "strunta i det",
                                  "nej jag vill inte längre", "never mind", "forget it", "I changed my mind"])
def test_a_change_of_mind_at_every_kind_of_step(knowledge, step_id, text):
    assert reading(knowledge, step_id, text).cancel


@pytest.mark.parametrize("text", [
    "Jag ångrar mig att jag lämnade samtycke förra året, radera uppgifterna från den enkäten.",
    "Jag vill inte längre att skolan skickar sms om frånvaro till min gamla mobil, kan ni ändra det?",
])
def test_a_long_message_that_mentions_regret_is_not_a_cancel(knowledge, text):
    assert not reading(knowledge, "handoff:ask_message", text).cancel
    assert not reading(knowledge, "data_rights:description", text).cancel


@pytest.mark.parametrize("text, field", [
    ("oj, fel adress", "contact"), ("ändra namnet", "name"), ("wrong email", "contact"),
    ("the phone number is wrong", "contact"), ("nej det stämmer inte", None), ("fel", None),
    ("ändra barnets namn", "child_name"), ("fel skola", "school"),
])
def test_corrections_at_a_confirmation(knowledge, text, field):
    r = reading(knowledge, "data_rights:summary", text)
    assert (r.correction and r.field == field) or (field is None and r.exact == "change")


@pytest.mark.parametrize("text", ["ja", "ja, skicka", "det stämmer", "yes send it", "ja, det är den jag menade",
                                  "yes, that's the one I meant"])
def test_a_yes_at_a_confirmation_is_no_correction(knowledge, text):
    r = reading(knowledge, "data_rights:summary", text)
    assert not r.correction and choice_of(r) == "confirm"


def test_a_correction_elsewhere_needs_a_field_already_given(knowledge):
    assert reading(knowledge, "handoff:ask_message", "oj, fel nummer", {"contact": "070"}).field == "contact"
    assert not reading(knowledge, "handoff:ask_message", "oj, fel nummer", {}).correction
    # A message about changing an address in Skola24 is the message, not a correction.
    assert not reading(knowledge, "handoff:ask_message", "ändra min adress i skola24",
                       {"contact": "070"}).correction


@pytest.mark.parametrize("text", ["kan jag få hjälp av en människa istället",
                                  "Jag har försökt allt. Jag vill prata med en person.",
                                  "can I talk to a real person"])
def test_asking_for_a_person(knowledge, text):
    assert reading(knowledge, "account:age", text).human
    assert reading(knowledge, "data_rights:name", text).human
    # The step's own "a person" choice wins where there is one.
    assert reading(knowledge, "activation:check_address", text).exact == "human"
    # While leaving a message it is the message.
    assert not reading(knowledge, "handoff:ask_message", text).human


def test_a_question_after_a_yes_is_kept(knowledge):
    r = reading(knowledge, "account:eleg", "ja men hur gör jag om jag inte har bankid?")
    assert r.choice == "yes" and r.question.startswith("men hur gor jag")


def test_free_text_steps_do_not_take_a_leading_word_as_a_choice(knowledge):
    r = reading(knowledge, "data_rights:description_optional",
                "Nej, men jag vill veta vem som har tittat på mina uppgifter")
    assert choice_of(r) is None
    assert choice_of(reading(knowledge, "data_rights:description_optional", "nej tack")) == "skip"


@pytest.mark.parametrize("text, email, phone, note", [
    ("ni kan ringa mig på 070 123 45 67 helst eftermiddag", None, "070 123 45 67", "helst eftermiddag"),
    ("070-123 45 67", None, "070-123 45 67", ""),
    ("you can reach me at sam@example.com, mornings are best", "sam@example.com", None, "mornings are best"),
    ("mejla anna@example.se eller ring 0701234567", "anna@example.se", "0701234567", ""),
    ("ring mig", None, None, ""),
])
def test_contact_details_inside_sentences(knowledge, text, email, phone, note):
    found = find_contact(text, Lexicon.of(knowledge).contact_lead)
    assert (found.email, found.phone, found.note) == (email, phone, note)


@pytest.mark.parametrize("text, name", [
    ("Anna Andersson", "Anna Andersson"), ("jag heter Anna Andersson", "Anna Andersson"),
    ("My name is Sam Smith, thanks", "Sam Smith"), ("Hej, jag heter Åsa Öberg", "Åsa Öberg"),
])
def test_names_without_their_lead_in(knowledge, text, name):
    assert find_name(text, knowledge) == name
