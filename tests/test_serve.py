"""`halmstad-bot serve` as a user runs it: the chat API, hours at fixed times, bad input, crashes."""
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.serving import Server


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "data", "--now", "2026-12-01T10:00").start()
    yield srv
    srv.kill(signal.SIGTERM)


def test_healthz(server):
    status, body = server.get("/healthz")
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize("question, expected, lang_word", [
    ("när har ni öppet?", ["07.00", "17.00", "16.00"], "måndag"),
    ("vad är ert telefonnummer?", ["035-13 70 00"], "Telefonen"),
    ("hur ansöker jag om konto i skola24?", ["konto"], "Vill du"),
    ("min dotter har fyllt 18, kan jag se hennes frånvaro?", ["18", "tillåtelse"], "eleven"),
    ("what are your opening hours?", ["7:00", "17:00", "16:00"], "Monday"),
])
def test_seed_questions_are_answered_in_their_language(server, question, expected, lang_word):
    status, body = server.chat("seed-" + str(abs(hash(question))), question)
    assert status == 200
    text = Server.texts(body)
    for fact in expected:
        assert fact in text, (question, text)
    assert lang_word in text
    assert body["handoff"] is False


def test_building_permit_gets_the_fallback(server):
    status, body = server.chat("bygg", "hur ansöker jag om bygglov?")
    assert status == 200
    text = Server.texts(body)
    assert "kan jag tyvärr inte svara" in text and "035-13 70 00" in text
    assert "Vill du ansöka om ett nytt konto" not in text


@pytest.mark.parametrize("now, question, expected", [
    ("2026-12-24T10:00", "är ni öppna nu?", ["stäng", "Julafton", "måndag 28 december kl. 07.00"]),
    ("2026-12-04T16:30", "är ni öppna nu?", ["stängd", "7 december", "måndag", "07.00"]),
    ("2026-12-03T16:30", "är ni öppna nu?", ["öppen nu", "17.00"]),
])
def test_open_now_at_fixed_times(tmp_path, now, question, expected):
    srv = Server(tmp_path / "d", "--now", now).start()
    try:
        status, body = srv.chat("hours", question)
        text = Server.texts(body)
        for fact in expected:
            assert fact in text, (now, text)
    finally:
        srv.kill(signal.SIGTERM)


def test_bad_input_gets_4xx_and_the_server_stays_up(server):
    cases = [
        (b"{not json", "JSON"),
        (json.dumps({"text": "hej"}).encode(), "session"),
        (json.dumps({"session": "x" * 65, "text": "hej"}).encode(), "session"),
        (json.dumps({"session": "a b", "text": "hej"}).encode(), "session"),
        (json.dumps({"session": "s", "text": "a" * 100_000}).encode(), ""),
        (b'{"session": "s", "text": "\xff\xfe"}', "UTF-8"),
        (json.dumps({"session": "s", "button": "ans:nope"}).encode(), "button"),
        (json.dumps({"session": "s", "text": 5}).encode(), "text"),
        (json.dumps({"session": "s"}).encode(), "text"),
        (json.dumps(["session"]).encode(), "object"),
        (json.dumps({"session": "s", "text": "hej", "lang": "fi"}).encode(), "lang"),
        (json.dumps({"session": "s", "text": "hej", "button": "cmd:menu"}).encode(), "exactly one"),
    ]
    for body, word in cases:
        status, answer = server.request("POST", "/api/chat", body, {"Content-Type": "application/json"})
        assert 400 <= status < 500, (body[:60], status)
        assert isinstance(answer, dict) and answer.get("error"), answer
        assert word in answer["error"], (word, answer)
    status, _ = server.get("/api/chat/bad%20id/messages")
    assert status == 400
    status, _ = server.get("/api/chat/ok/messages?after=-1")
    assert status == 400
    assert server.get("/healthz")[0] == 200
    assert server.chat("after-bad", "hej")[0] == 200


def test_messages_endpoint_returns_the_transcript(server):
    server.chat("tr", "när har ni öppet?")
    status, body = server.get("/api/chat/tr/messages?after=0")
    assert status == 200
    assert [m["from"] for m in body["messages"]] == ["user", "bot"]
    assert body["messages"][0]["text"] == "när har ni öppet?"
    status, body = server.get("/api/chat/tr/messages?after=1")
    assert [m["seq"] for m in body["messages"]] == [2]
    assert server.get("/api/chat/unknown/messages")[1] == {"messages": []}


def test_conversation_survives_sigkill_at_its_step(tmp_path):
    data = tmp_path / "data"
    srv = Server(data, "--now", "2026-12-01T10:00").start()
    srv.chat("crash", "hur ansöker jag om konto i skola24?")
    status, body = srv.chat("crash", button="ans:new")
    assert "18" in Server.texts(body)
    srv.kill(signal.SIGKILL)
    again = Server(data, "--now", "2026-12-01T10:00", port=srv.port).start()
    try:
        status, body = again.chat("crash", button="ans:yes")
        assert status == 200
        assert "skyddad" in Server.texts(body), "the flow continued at the age step"
    finally:
        again.kill(signal.SIGTERM)


def test_rate_limit_per_session_answers_429_in_the_users_language(tmp_path):
    srv = Server(tmp_path / "d", "--rate-limit-per-session", "3").start()
    try:
        for _ in range(3):
            assert srv.chat("rl", "hello there")[0] == 200
        status, body = srv.chat("rl", "what are your opening hours?")
        assert status == 429
        assert "wait" in body["error"]
        assert srv.chat("other", "hej")[0] == 200
    finally:
        srv.kill(signal.SIGTERM)


def test_rate_limit_per_address(tmp_path):
    srv = Server(tmp_path / "d", "--rate-limit-per-address", "2", "--rate-limit-per-session", "0").start()
    try:
        assert srv.chat("a1", "hej")[0] == 200
        assert srv.chat("a2", "hej")[0] == 200
        status, body = srv.chat("a3", "hej")
        assert status == 429 and "Vänta" in body["error"]
    finally:
        srv.kill(signal.SIGTERM)


@pytest.mark.parametrize("choice, expected", [(None, "event loop: uvloop"), ("asyncio", "event loop: asyncio")])
def test_serve_runs_on_uvloop_unless_asked_for_asyncios_loop(tmp_path, choice, expected):
    env = {"HALMSTAD_EVENT_LOOP": choice} if choice else {}
    srv = Server(tmp_path / "d", "--now", "2026-12-01T10:00", env=env).start()
    try:
        status, body = srv.chat("loop-" + (choice or "default"), "vad är ert telefonnummer?")
        assert status == 200 and "035-13 70 00" in Server.texts(body)
    finally:
        srv.kill(signal.SIGTERM)
    assert expected in srv.log.read_text()


def test_serve_refuses_an_unknown_event_loop(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HALMSTAD_EVENT_LOOP": "tokio"})
    assert done.returncode == 2
    assert "HALMSTAD_EVENT_LOOP must be uvloop or asyncio" in done.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
