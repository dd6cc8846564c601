"""Data-subject requests through the chat, from the first message to the reference.

A real data-rights backend runs on loopback with its clock at 2026-11-24 10:00 (due date Monday
28 December 2026); the bot reaches it through `DsrClient` and the durable outbox, as in `serve`.
"""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from backends.dsr.app import DsrConfig, create_app, load_texts
from backends.dsr.store import read_tables
from bot.clients.dsr import DsrClient
from flows.ports import Services
from common.messages import Inbound
from bot.knowledge import default_knowledge_dir
from bot.pending import PendingQueue
from tests.conftest import Talk, free_port

NOW = "2026-11-24T10:00"
TOKEN = "test-backend-token"
PNR = "850709-9805"


class Backend:
    """A DSR backend app on a loopback port, startable and stoppable."""

    def __init__(self, data_dir, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> "Backend":
        clock = lambda: datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
        app = create_app(DsrConfig(data_dir=self.data_dir, token=TOKEN, clock=clock,
                                   texts=load_texts(default_knowledge_dir())))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def cases(self) -> list[dict]:
        return list(read_tables(self.data_dir)["cases"].values())


@pytest.fixture
async def backend(tmp_path):
    b = await Backend(tmp_path / "dsr", free_port()).start()
    yield b
    await b.stop()


@pytest.fixture
async def chat(backend, make_engine, tmp_path):
    client = DsrClient(backend.url, TOKEN)
    queue = PendingQueue(tmp_path / "pending")
    engine = make_engine(now=NOW, services=Services(dsr=client, pending=queue))
    yield Talk(engine, session="dsr-chat")
    await client.close()


def labels(talk: Talk) -> list[str]:
    return [b.label for b in talk.buttons]


async def finish_filing(talk: Talk) -> None:
    """Confirm the summary and check the acknowledgement every request gets."""
    assert "Stämmer det här?" in talk.text or "Is this right?" in talk.text
    await talk.press("ans:confirm")


def assert_filed_sv(talk: Talk) -> str:
    text = talk.text
    assert "DSR-2026-" in text
    assert "senast måndag 28 december 2026" in text
    assert "BankID" in text and "legitimation" in text
    assert "Integritetsskyddsmyndigheten" in text and "https://www.imy.se/" in text
    return text.split("referensnumret ")[1].split(".")[0]


# One conversation per right ------------------------------------------------------------------


async def test_access_request_by_buttons(chat, backend):
    await chat("jag vill använda mina rättigheter enligt GDPR")
    assert "Registerutdrag" in chat.text and "Invändning" in chat.text
    assert labels(chat)[:6] == ["Registerutdrag", "Rättelse", "Radering", "Begränsning",
                                "Dataportabilitet", "Invändning"]
    await chat.press("Registerutdrag")
    assert "registerutdrag" in chat.text and "barn under 18" in chat.text
    await chat.press("Mig själv")
    assert "Vad heter du?" in chat.text and "personnummer" in chat.text
    await chat("Anna Andersson")
    await chat("anna.andersson@example.com")
    assert "Inget att tillägga" in labels(chat)
    await chat.press("Inget att tillägga")
    assert "Anna Andersson" in chat.text and "anna.andersson@example.com" in chat.text
    await finish_filing(chat)
    reference = assert_filed_sv(chat)
    [case] = backend.cases()
    assert case["reference"] == reference and case["due_date"] == "2026-12-28"
    assert case["right"] == "access" and case["on_behalf_of"] == "self"
    assert case["requester"] == {"name": "Anna Andersson", "email": "anna.andersson@example.com", "phone": None}
    assert case["language"] == "sv" and case["channel"] == "web"
    state = await chat.state()
    assert state.flow is None  # the flow ended; the guardian is back at the menu


async def test_rectification_for_a_child_in_own_words(chat, backend):
    await chat("gdpr")
    await chat("ni har stavat min sons namn fel och jag vill att ni rättar det")
    assert "rättelse" in chat.text
    await chat("mitt barn")
    await chat("Anna Andersson")
    await chat("070-123 45 67")
    assert "Vad heter barnet?" in chat.text
    await chat("Sara Andersson")
    assert "Hoppa över" in labels(chat)
    await chat("Söndrumsskolan")
    assert "vilka uppgifter som är fel" in chat.text
    await chat("Efternamnet är stavat Anderson men ska vara Andersson.")
    assert "Barnets namn: Sara Andersson" in chat.text and "Skola: Söndrumsskolan" in chat.text
    await chat("ja")
    assert_filed_sv(chat)
    [case] = backend.cases()
    assert case["right"] == "rectification" and case["on_behalf_of"] == "child"
    assert case["child"] == {"name": "Sara Andersson", "school": "Söndrumsskolan"}
    assert case["requester"]["phone"] == "070-123 45 67" and case["requester"]["email"] is None
    assert "Andersson" in case["description"]


async def test_erasure_says_the_legal_limits_first(chat, backend):
    await chat("ta bort mina uppgifter")
    text = chat.text
    assert "minst tre år" in text and "fem år" in text and "CSN" in text
    assert "prövas" in text and "avslås" in text
    assert labels(chat) == ["Fortsätt", "Avbryt"]
    assert backend.cases() == []
    await chat.press("Fortsätt")
    await chat.press("Mitt barn (under 18)")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat("Sara Andersson")
    await chat.press("Hoppa över")
    assert "vilka uppgifter du vill att vi tar bort" in chat.text
    await chat("All frånvaro från förra terminen.")
    assert "Skola: (inget)" in chat.text
    await finish_filing(chat)
    assert_filed_sv(chat)
    [case] = backend.cases()
    assert case["right"] == "erasure" and case["child"] == {"name": "Sara Andersson", "school": None}


async def test_restriction_in_english(chat, backend):
    await chat("restrict processing of my data")
    assert "yourself or your child under 18" in chat.text
    await chat.press("Myself")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    assert "why the processing should be restricted" in chat.text
    await chat("I think my address is wrong, please do not use it until it is checked.")
    assert "Is this right?" in chat.text
    await chat.press("Yes, send it")
    text = chat.text
    assert "reference DSR-2026-" in text
    assert "by Monday 28 December 2026" in text
    assert "BankID" in text and "https://www.imy.se/" in text
    [case] = backend.cases()
    assert case["right"] == "restriction" and case["language"] == "en"


async def test_portability_offers_an_access_request_instead(chat, backend):
    await chat("dataportabilitet")
    text = chat.text
    assert "20.3" in text and "myndighetsutövning" in text and "gäller inte" in text
    assert labels(chat) == ["Begär registerutdrag", "Fortsätt ändå", "Avbryt"]
    await chat.press("Begär registerutdrag")
    assert "registerutdrag" in chat.text
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    assert "Begäran: registerutdrag" in chat.text
    await finish_filing(chat)
    assert_filed_sv(chat)
    [case] = backend.cases()
    assert case["right"] == "access"


async def test_portability_may_still_be_requested(chat, backend):
    await chat("data portability")
    assert "Article 20(3)" in chat.text and "does not apply" in chat.text
    await chat.press("Continue anyway")
    await chat.press("Myself")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat("My absence records as a file.")
    await chat.press("Yes, send it")
    assert "by Monday 28 December 2026" in chat.text
    [case] = backend.cases()
    assert case["right"] == "portability"


async def test_objection_never_promises_the_outcome(chat, backend):
    await chat("invända mot behandlingen")
    text = chat.text
    assert "prövas varje invändning för sig" in text and "kan inte lova" in text
    await chat.press("Fortsätt")
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    assert "varför du invänder" in chat.text
    question = "Varför sparar ni frånvaron?"
    await chat(question)  # a description that asks something is still the description
    assert "Beskrivning: " + question in chat.text
    await finish_filing(chat)
    assert_filed_sv(chat)
    [case] = backend.cases()
    assert case["right"] == "objection" and case["description"] == question


# Details --------------------------------------------------------------------------------------


async def test_a_typed_personnummer_is_masked_noted_and_never_filed(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat(f"Anna Andersson {PNR}")
    text = chat.text
    assert PNR not in text
    assert "Skriv inte personnummer" in text  # the engine's warning
    assert "kontrollerar din identitet senare" in text  # the flow's note
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    assert "Ditt namn: Anna Andersson\n" in chat.text
    await finish_filing(chat)
    [case] = backend.cases()
    assert case["requester"]["name"] == "Anna Andersson"
    assert "9805" not in json.dumps(backend.cases()) and "[PNR]" not in json.dumps(backend.cases())


async def test_contact_is_validated_and_a_masked_number_is_not_used(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("det vill jag inte säga")
    assert "känner inte igen" in chat.text
    assert "Hur når vi dig?" in chat.text
    await chat("0701234502")  # a mobile number whose digits also pass the personnummer check
    assert "såg ut som ett personnummer" in chat.text
    state = await chat.state()
    assert "req_phone" not in state.data and "req_email" not in state.data
    await chat("070-123 45 02 eller anna@example.com")
    assert "Inget att tillägga" in labels(chat)
    await chat.press("Inget att tillägga")
    assert "E-post: anna@example.com" in chat.text and "Telefon: 070-123 45 02" in chat.text


async def test_change_a_field_from_the_summary(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("Ana Andersson")
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    await chat.press("Ändra något")
    assert "Vad vill du ändra?" in chat.text
    assert "Barnets namn" not in labels(chat)  # the request is about the guardian
    await chat.press("Ditt namn")
    assert "Vad heter du?" in chat.text
    await chat("Anna Andersson")
    assert "Ditt namn: Anna Andersson" in chat.text and "E-post: anna@example.com" in chat.text
    await chat.press("Ändra något")
    await chat.press("Vem det gäller")
    await chat.press("Mitt barn (under 18)")
    assert "Vad heter barnet?" in chat.text  # a child's request needs the child's name
    await chat("Sara Andersson")
    await chat.press("Hoppa över")
    assert "Gäller: Mitt barn (under 18)" in chat.text
    await finish_filing(chat)
    [case] = backend.cases()
    assert case["requester"]["name"] == "Anna Andersson" and case["child"]["name"] == "Sara Andersson"


async def test_changing_the_right_asks_the_new_limits_and_a_description(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    await chat.press("Ändra något")
    await chat.press("Vilken begäran")
    await chat.press("Radering")
    assert "minst tre år" in chat.text
    await chat.press("Fortsätt")
    assert "vilka uppgifter du vill att vi tar bort" in chat.text
    await chat("Allt om mig.")
    assert "Begäran: radering" in chat.text
    await finish_filing(chat)
    [case] = backend.cases()
    assert case["right"] == "erasure" and case["description"] == "Allt om mig."


async def test_cancel_files_nothing(chat, backend):
    await chat("radera mina uppgifter")
    await chat.press("Avbryt")
    assert "inte skickat något" in chat.text
    state = await chat.state()
    assert state.flow is None
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    await chat.press("Avbryt")
    assert "inte skickat något" in chat.text
    assert backend.cases() == []
    assert list((chat.engine.services.pending.root).glob("*.json")) == []


async def test_unclear_words_ask_again_and_typos_are_understood(chat):
    await chat("gdpr")
    await chat("banan")
    assert "Välj en knapp" in chat.text  # the question is asked again
    state = await chat.state()
    assert state.step == "data_rights:choose"
    await chat("jag vill radra allt")
    assert "minst tre år" in chat.text


async def test_another_question_goes_to_a_person(chat):
    await chat("gdpr")
    await chat.press("Något annat – prata med en person")
    assert "person" in chat.text and "035-13 70 00" in chat.text
    state = await chat.state()
    assert state.last_outcome is not None and state.flow != "data_rights"


async def test_status_without_a_request(chat):
    await chat("vad hände med min begäran?")
    assert "ingen begäran" in chat.text
    assert "flow:data_rights" in [b.payload for b in chat.buttons]


async def test_status_after_a_request_names_reference_and_status(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("Anna Andersson")
    await chat("anna@example.com")
    await chat.press("Inget att tillägga")
    await finish_filing(chat)
    reference = assert_filed_sv(chat)
    await chat("vad hände med min begäran?")
    assert reference in chat.text and "senast måndag 28 december 2026" in chat.text
    assert "Status just nu: mottagen" in chat.text


async def test_without_the_backend_wired_the_guardian_is_sent_to_a_person(make_engine):
    talk = Talk(make_engine(now=NOW), session="no-backend")
    await talk("registerutdrag")
    await talk.press("Mig själv")
    await talk("Anna Andersson")
    await talk("anna@example.com")
    await talk.press("Inget att tillägga")
    await talk.press("ans:confirm")
    assert "kan jag inte ta emot en begäran" in talk.text and "035-13 70 00" in talk.text
    assert "DSR-" not in talk.text


# The assistant's own data ------------------------------------------------------------------------


async def test_privacy_notice_by_command_and_button(talk):
    await talk("/integritet")
    assert "allmän handling" in talk.text and "90 dagar" in talk.text and "gallringsbeslut" in talk.text
    replies = await talk.engine.handle(Inbound(session=talk.session, button="cmd:privacy"))
    assert "90 dagar" in replies[0].text


async def test_what_do_you_keep_about_this_chat(talk):
    await talk("vad sparar ni om den här chatten?")
    assert "allmänna handlingar" in talk.text and "Personnummer maskeras" in talk.text
    assert "90 dagar" in talk.text and "{" not in talk.text


@pytest.mark.parametrize("question, facts", [
    ("vem är personuppgiftsansvarig?", ["Utbildnings- och arbetsmarknadsnämnden"]),
    ("vilken rättslig grund har ni?", ["artikel 6.1 e", "samtycke"]),
    ("hur länge sparas uppgifterna?", ["tre år", "fem år", "CSN"]),
    ("delar ni mina uppgifter med andra?", ["tredje part", "lag"]),
    ("hur når jag ert dataskyddsombud?", ["dataskyddsombud", "035-13 70 00"]),
    ("who is the data controller?", ["Education and Labour Market Committee"]),
])
async def test_questions_about_the_processing_are_answered_from_knowledge(talk, question, facts):
    await talk(question)
    for fact in facts:
        assert fact in talk.text, (question, talk.text)


async def test_a_question_in_the_middle_is_answered_and_the_flow_resumes(chat, backend):
    await chat("registerutdrag")
    await chat.press("Mig själv")
    await chat("vem är personuppgiftsansvarig?")
    assert "Utbildnings- och arbetsmarknadsnämnden" in chat.text
    assert chat.last.text.startswith("Vad heter du?")
    await chat("Anna Andersson")
    assert "Hur når vi dig?" in chat.text
