"""A data directory written by commit 535dbd2 is read and continued by this version (issue 14).

`tests/fixtures/datadir_535dbd2/data/` was written by the old `serve` (see make.py there for how,
and for what each conversation holds). Each test here runs today's `halmstad-bot serve` as a real
process on a copy of it and checks what a guardian, an agent or a data-rights officer relies on,
through HTTP only: stored conversations are shown, a conversation waiting at a step or set aside
continues where it was, the data-rights summary can be confirmed, the undelivered request is
delivered, the handoff queue and its left message reach an agent, the activation backend knows
the app login made before, and the data-rights staff still see their case. Nothing here reads
the conversation state's keys: the state's format may change, what the guardian sees may not.
"""
from __future__ import annotations

import json
import mailbox
import re
import shutil
import signal
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.store.tinydb_store import TinyDBStore
from tests.handoff.conftest import Agent
from tests.serving import Server

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "datadir_535dbd2" / "data"
NOW = "2026-12-01T11:00"  # Tuesday, an hour after the old server's morning run; Halmstad direkt open
OLD_REFERENCE = "DSR-2026-00001"  # filed by fx-dsr-filed-sv under 535dbd2
REFERENCE = re.compile(r"DSR-\d{4}-\d{5}")
AGENT = ("testagent", "test-agent-password-535")  # made with 535dbd2's `agents add`
DEMO_AGENT = ("agent", "demo-agent-password")  # made by 535dbd2's `serve --demo`
DPO = ("testdpo", "test-dpo-password-535")  # made with 535dbd2's `backend add-staff`
APP_LOGIN = ("testguardian", "Fixture-app-pass-2026")  # made through 535dbd2's activation page

# What each stored conversation showed under 535dbd2, in order: (from, part of the text).
TRANSCRIPTS = {
    "fx-done-sv": [("user", "Vilka öppettider har ni?"), ("bot", "035-13 70 00"),
                   ("bot", "https://www.halmstad.se/skola24"), ("user", "Tack så mycket!"),
                   ("bot", "Varsågod")],
    "fx-account-sv": [("bot", "Vill du ansöka om ett nytt konto"), ("user", "Nytt konto"),
                      ("bot", "Är eleven under 18 år?"), ("user", "ja"), ("bot", "skyddad identitet")],
    "fx-paused-en": [("bot", "Is the pupil under 18?"), ("user", "xyzzy plugh"),
                     ("bot", 'I will set "Apply for an account or a link" aside'),
                     ("user", "What are your opening hours?"), ("bot", "Call us on 035-13 70 00")],
    "fx-dsr-filed-sv": [("user", "Rättelse"), ("user", "Min adress är fel registrerad"),
                        ("bot", f"referensnumret {OLD_REFERENCE}")],
    "fx-dsr-en": [("user", "I want a copy of my child's data"), ("bot", "Is this right?"),
                  ("bot", "Child's name: Testa Testsson")],
    "fx-activation-sv": [("user", "demo@example.com"), ("bot", "Ska jag skicka aktiveringslänken"),
                         ("user", "Klart, tack"), ("bot", "halmstad-mobil.skola24.se")],
    "fx-agentchat-sv": [("user", "Jag vill prata med en person"), ("system", "Du pratar nu med Test"),
                        ("agent", "Hej! Jag heter Test Agent."), ("user", "Jag hittar inte domänen"),
                        ("agent", "Domänen är halmstad-mobil.skola24.se."), ("system", "Hur nöjd är du")],
    "fx-queue-sv": [("user", "Kan jag få prata med en handläggare?"), ("bot", "nummer 1 i kön")],
    "fx-message-en": [("user", "I would like to talk to a person"), ("bot", "closed right now"),
                      ("user", "Please call me about logging in to the Skola24 app."),
                      ("bot", "your message is saved")],
    "fx-undelivered-sv": [("user", "Registerutdrag"), ("bot", "Din begäran är sparad")],
}


# Helpers ---------------------------------------------------------------------------------------


class HiddenFields(HTMLParser):
    """The first form's action and its hidden fields' values."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action") or ""
        elif tag == "input" and attrs.get("name") and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value") or ""


def transcript(server: Server, session: str, after: int = 0) -> list[dict]:
    status, body = server.get(f"/api/chat/{session}/messages?after={after}")
    assert status == 200, body
    return body["messages"]


def say(server: Server, session: str, text: str | None = None, button: str | None = None) -> dict:
    status, body = server.chat(session, text=text, button=button)
    assert status == 200, body
    return body


def payloads(answer: dict) -> set[str]:
    return {b["payload"] for m in answer["messages"] for b in m["buttons"]}


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


async def agent_login(server: Server, who: tuple[str, str] = AGENT) -> Agent:
    agent = Agent(server.base)
    resp = await agent.login(*who)
    assert resp.status == 200, f"{who[0]} cannot log in to the agent console"
    return agent


async def dsr_cases(server: Server) -> list[dict]:
    """Log in as the data-rights officer through the staff login form; return the case list."""
    staff = Agent(server.base)  # a browser with its own cookies
    try:
        async with staff.http.get(f"{server.base}/dsr/login") as resp:
            assert resp.status == 200
            form = HiddenFields(await resp.text())
        action = urllib.parse.urljoin(f"{server.base}/dsr/login", form.action or "login")
        async with staff.http.post(action, data={**form.fields, "username": DPO[0], "password": DPO[1]}) as resp:
            assert resp.status == 200, await resp.text()
        status, body = await staff.call("GET", "/dsr/api/staff/cases")
        assert status == 200, body
        return body["cases"]
    finally:
        await staff.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Today's `serve` on a copy of the 535dbd2 data directory (no --demo: every login is old)."""
    data = tmp_path_factory.mktemp("datadir535") / "data"
    shutil.copytree(FIXTURE, data)
    srv = Server(data, "--now", NOW, "--rate-limit-per-address", "0", "--rate-limit-per-session", "0")
    srv.start()
    yield srv
    srv.kill(signal.SIGTERM)
    assert srv.proc.returncode == 0, srv.log.read_text()[-2000:]


# The conversations -----------------------------------------------------------------------------


@pytest.mark.parametrize("session", sorted(TRANSCRIPTS))
def test_each_stored_conversation_is_still_shown(server, session):
    entries = transcript(server, session)
    seqs = [e["seq"] for e in entries]
    assert seqs[:1] == [1] and seqs == sorted(set(seqs)), seqs
    assert all(e["at"] for e in entries)
    position = 0
    for sender, part in TRANSCRIPTS[session]:
        found = next((i for i, e in enumerate(entries[position:], position)
                      if e["from"] == sender and part in e["text"]), None)
        assert found is not None, f"{session}: no {sender} line with {part!r} from entry {position} on"
        position = found  # the next part may be in the same message
    later = transcript(server, session, after=1)
    assert later and later[0]["seq"] == seqs[1] and all(e["seq"] > 1 for e in later)


def test_account_conversation_waiting_at_a_step_continues_there(server):
    answer = say(server, "fx-account-sv", "nej")  # "protected identity?" -> no
    assert "Kan du logga in med e-legitimation" in Server.texts(answer)
    assert {"ans:yes", "ans:no"} <= payloads(answer)
    answer = say(server, "fx-account-sv", button="ans:yes")
    assert "Ansök om konto eller koppling i kommunens e-tjänst" in Server.texts(answer)


def test_account_flow_set_aside_resumes_at_its_step_in_english(server):
    answer = say(server, "fx-paused-en", button="cmd:resume")  # the button the old page shows
    assert "Is the pupil under 18?" in Server.texts(answer)
    answer = say(server, "fx-paused-en", "yes")
    assert "protected personal details" in Server.texts(answer)


async def test_data_rights_summary_can_be_confirmed_and_gets_a_new_reference(server):
    answer = say(server, "fx-dsr-en", button="ans:confirm")
    text = Server.texts(answer)
    assert "registered with the reference" in text, text
    reference = REFERENCE.search(text).group(0)
    assert reference != OLD_REFERENCE, "the backend's case numbers continue after the old ones"
    cases = {c["reference"]: c for c in await dsr_cases(server)}
    assert cases[reference]["right"] == "access"


async def test_request_left_undelivered_is_delivered_and_the_guardian_told(server):
    def told() -> str | None:
        later = [e["text"] for e in transcript(server, "fx-undelivered-sv", after=17) if e["from"] != "user"]
        found = [REFERENCE.search(t) for t in later]
        return next((m.group(0) for m in found if m), None)

    reference = wait_for(told)
    assert reference, "the request stored by 535dbd2 was not delivered"
    assert reference != OLD_REFERENCE
    cases = [c for c in await dsr_cases(server) if c["reference"] == reference]
    assert [c["right"] for c in cases] == ["access"]
    answer = say(server, "fx-undelivered-sv", "vad hände med min begäran?")
    assert reference in Server.texts(answer)


async def test_data_rights_staff_still_see_the_old_case(server):
    cases = await dsr_cases(server)
    old = [c for c in cases if c["reference"] == OLD_REFERENCE]
    assert [(c["right"], c["due_date"]) for c in old] == [("rectification", "2027-01-04")]
    references = [c["reference"] for c in cases]
    assert len(references) == len(set(references)), references


# Handoff ---------------------------------------------------------------------------------------


async def test_queue_and_left_message_reach_an_agent(server):
    intruder = Agent(server.base)
    assert (await intruder.login(AGENT[0], "wrong-password")).status == 401
    await intruder.close()
    await (await agent_login(server, DEMO_AGENT)).close()
    agent = await agent_login(server)
    try:
        await _serve_queue(server, agent)
    finally:
        await agent.close()


async def _serve_queue(server: Server, agent: Agent) -> None:
    status, queue = await agent.call("GET", "/agent/api/queue")
    assert status == 200
    [waiting] = queue["waiting"]
    [left] = queue["messages"]
    assert queue["assigned"] == []

    status, conv = await agent.call("GET", f"/agent/api/conversations/{waiting['id']}")
    assert status == 200
    assert any("Kan jag få prata med en handläggare?" in e["text"] for e in conv["transcript"])
    status, message = await agent.call("GET", f"/agent/api/conversations/{left['id']}")
    assert status == 200
    assert message["message"]["name"] == "Test Testsson"
    assert message["message"]["contact"] == "test@example.com"
    assert message["message"]["text"] == "Please call me about logging in to the Skola24 app."

    assert (await agent.call("POST", "/agent/api/availability", {"available": True}))[0] == 200
    path = f"/agent/api/conversations/{waiting['id']}"
    status, item = await agent.call("POST", f"{path}/accept")
    assert status == 200 and item["status"] == "assigned"
    status, _ = await agent.call("POST", f"{path}/messages",
                                 {"text": "Hej, det här är Test Agent efter uppgraderingen."})
    assert status == 200
    assert any(e["from"] == "agent" and "efter uppgraderingen" in e["text"]
               for e in transcript(server, "fx-queue-sv"))
    assert (await agent.call("POST", f"{path}/close", {"outcome": "resolved"}))[0] == 200
    assert (await agent.call("POST", f"/agent/api/left-messages/{left['id']}/done"))[0] == 200
    status, queue = await agent.call("GET", "/agent/api/queue")
    assert queue["waiting"] == queue["assigned"] == queue["messages"] == []


async def test_satisfaction_question_asked_before_the_upgrade_is_answered(server):
    agent = await agent_login(server, DEMO_AGENT)
    try:
        status, before = await agent.call("GET", "/agent/stats")
        assert status == 200 and before["csat_counts"]["5"] == 0
        answer = say(server, "fx-agentchat-sv", button="handoff:csat:5")
        assert "Tack för ditt svar" in Server.texts(answer)
        status, after = await agent.call("GET", "/agent/stats")
        assert after["csat_counts"]["5"] == 1, "the rating did not reach the closed conversation"
    finally:
        await agent.close()


# The activation backend ------------------------------------------------------------------------


def test_activation_backend_still_knows_the_account_and_its_app_login(server):
    def app_login(username: str, password: str) -> int:
        body = json.dumps({"username": username, "password": password}).encode()
        return server.request("POST", "/activation/api/app-login", body, {"Content-Type": "application/json"})[0]

    assert app_login(*APP_LOGIN) == 200
    assert app_login(APP_LOGIN[0], APP_LOGIN[1] + "x") == 401

    outbox = server.data_dir / "outbox"
    before = set(mailbox.Maildir(outbox, create=False).keys())
    say(server, "fx-new-activation", button="flow:activation")
    assert "ans:send" in payloads(say(server, "fx-new-activation", "demo@example.com"))
    say(server, "fx-new-activation", button="ans:send")

    def new_mails() -> list:
        box = mailbox.Maildir(outbox, create=False)
        return [box[k] for k in set(box.keys()) - before]

    mails = wait_for(new_mails)
    assert [m["To"] for m in mails] == ["demo@example.com"], "the registered account got no mail"


# The session store -----------------------------------------------------------------------------


async def test_version_1_session_file_is_accepted_by_the_store(tmp_path):
    raw = json.loads((FIXTURE / "sessions" / "82" / "fx-paused-en.json").read_text())
    assert [s["v"] for s in raw["state"].values()] == [1], "the fixture is a version-1 file"
    shutil.copytree(FIXTURE / "sessions", tmp_path / "sessions")
    store = TinyDBStore(tmp_path / "sessions")
    try:
        for session in TRANSCRIPTS:
            assert await store.load_state(session) is not None, session
        assert await store.load_state("fx-never-stored") is None
    finally:
        await store.close()
