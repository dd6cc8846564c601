"""The handoff through the HTTP APIs only, against a real server on loopback (issue 5 acceptance)."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.handoff.agents import add_agent
from tests.handoff.conftest import SUNDAY, TUESDAY, Agent, Guardian, queued, ready_agent, running, wait_for


async def test_staffed_walkthrough_agent_and_guardian_talk_then_the_bot_takes_over(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = people(Guardian, tuesday.base, "guardian-1")
    reply = await guardian.say("jag vill prata med en människa")
    assert "nummer 1 i kön" in reply["messages"][0]["text"]
    assert reply["handoff"] is False

    status, queue = await agent.call("GET", "/agent/api/queue")
    assert status == 200
    [item] = queue["waiting"]
    assert item["kind"] == "conversation" and item["position"] == 1 and item["channel"] == "web"

    status, accepted = await agent.call("POST", f"/agent/api/conversations/{item['id']}/accept")
    assert status == 200 and accepted["status"] == "assigned"
    texts = [m["text"] for m in await guardian.messages()]
    assert "Du pratar nu med Alex på Halmstad direkt." in texts

    status, _ = await agent.call("POST", f"/agent/api/conversations/{item['id']}/messages",
                                 {"text": "Hej! Vad kan jag hjälpa dig med?"})
    assert status == 200
    agent_lines = [m for m in await guardian.messages() if m["from"] == "agent"]
    assert [m["text"] for m in agent_lines] == ["Hej! Vad kan jag hjälpa dig med?"]

    reply = await guardian.say("Jag kommer inte in i appen")
    assert reply["messages"] == [] and reply["handoff"] is True
    status, conv = await agent.call("GET", f"/agent/api/conversations/{item['id']}")
    assert status == 200
    assert conv["transcript"][-1] == {**conv["transcript"][-1], "from": "user", "text": "Jag kommer inte in i appen"}
    assert conv["context"]["language"] == "sv" and conv["context"]["channel"] == "web"

    status, closed = await agent.call("POST", f"/agent/api/conversations/{item['id']}/close", {"outcome": "resolved"})
    assert status == 200 and closed["status"] == "closed"
    last = (await guardian.messages())[-1]
    assert [b["payload"] for b in last["buttons"]] == [f"handoff:csat:{n}" for n in range(1, 6)]

    reply = await guardian.say(button="handoff:csat:4")
    assert reply["handoff"] is False and "Tack" in reply["messages"][0]["text"]
    reply = await guardian.say("när öppnar ni?")
    assert reply["handoff"] is False
    assert "Telefonen" in reply["messages"][0]["text"]  # the bot answers again
    status, stats = await agent.call("GET", "/agent/stats")
    assert status == 200 and stats["csat_average"] == 4 and stats["handed_to_person"] == 1

    audit = tuesday.service.queue.audit_log()
    assert [r["action"] for r in audit if r["actor"] == "agent"] == [
        "login", "available", "accept", "message", "close"]
    raw = (tuesday.data_dir / "handoff_audit.jsonl").read_text(encoding="utf-8")
    assert "Vad kan jag hjälpa" not in raw and "appen" not in raw


async def test_sunday_request_leaves_a_message_named_monday_0700(sunday, people):
    agent = people(Agent, sunday.base)
    assert (await agent.login()).status == 200
    guardian = people(Guardian, sunday.base, "sunday-guardian")
    reply = await guardian.say("jag vill prata med en människa")
    text = " ".join(m["text"] for m in reply["messages"])
    assert "måndag" in text and "07.00" in text
    assert [b["label"] for b in reply["messages"][-1]["buttons"]] == ["Ja", "Nej"]
    reply = await guardian.say("ja")
    assert "allmän handling" in reply["messages"][0]["text"]
    await guardian.say("Anna Andersson")
    reply = await guardian.say("inte ett nummer")
    assert "telefonnummer" in reply["messages"][0]["text"]
    status, queue = await agent.call("GET", "/agent/api/queue")
    assert queue["messages"] == []  # nothing is stored before the message is complete
    await guardian.say("070-123 45 67")
    reply = await guardian.say("Jag behöver hjälp med kopplingen till mitt barn.")
    confirmation = reply["messages"][0]["text"]
    assert "sparat" in confirmation and "måndag" in confirmation and "07.00" in confirmation

    status, queue = await agent.call("GET", "/agent/api/queue")
    [message] = queue["messages"]
    assert message["kind"] == "message" and message["status"] == "open" and message["id"]
    assert message["id"].upper() in confirmation
    status, detail = await agent.call("GET", f"/agent/api/conversations/{message['id']}")
    assert detail["message"]["contact"] == "070-123 45 67"
    assert detail["message"]["contact_kind"] == "phone"
    assert detail["message"]["text"] == "Jag behöver hjälp med kopplingen till mitt barn."
    status, done = await agent.call("POST", f"/agent/api/left-messages/{message['id']}/done")
    assert status == 200 and done["status"] == "done"
    status, queue = await agent.call("GET", "/agent/api/queue")
    assert queue["messages"] == []


async def test_a_left_message_survives_a_restart(tmp_path, people):
    async with running(tmp_path, SUNDAY) as srv:
        guardian = people(Guardian, srv.base, "durable")
        for text in ("prata med en människa", "ja", "Bo Berg", "bo@example.com", "Ring mig om appen"):
            reply = await guardian.say(text)
        assert "sparat" in reply["messages"][0]["text"]
    async with running(tmp_path, SUNDAY) as srv:
        agent = people(Agent, srv.base)
        await agent.login()
        status, queue = await agent.call("GET", "/agent/api/queue")
        assert [m["name"] for m in queue["messages"]] == ["Bo Berg"]


async def test_nobody_available_in_staffed_hours_offers_a_message(tuesday, people):
    guardian = people(Guardian, tuesday.base, "nobody-there")
    reply = await guardian.say("jag vill prata med en människa")
    assert "ingen ledig handläggare" in reply["messages"][0]["text"]
    for text in ("ja", "Cecilia", "cecilia@example.com"):
        await guardian.say(text)
    reply = await guardian.say("Hjälp med appen")
    assert "så snart" in reply["messages"][0]["text"]


async def test_two_agents_accepting_at_once_one_wins(tuesday, people):
    first = await ready_agent(tuesday, people, "agent")
    second = await ready_agent(tuesday, people, "agent2")
    await queued(tuesday, people)
    _, queue = await first.call("GET", "/agent/api/queue")
    item_id = queue["waiting"][0]["id"]
    results = await asyncio.gather(
        first.call("POST", f"/agent/api/conversations/{item_id}/accept"),
        second.call("POST", f"/agent/api/conversations/{item_id}/accept"),
    )
    assert sorted(status for status, _ in results) == [200, 409]
    loser = next(body for status, body in results if status == 409)
    assert "error" in loser
    _, queue = await first.call("GET", "/agent/api/queue")
    assert queue["waiting"] == [] and len(queue["assigned"]) == 1


async def test_every_agent_api_route_needs_a_login(tuesday, people):
    routes = set()
    for resource in tuesday.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/agent/api/") and path != "/agent/api/login":
            for route in resource:
                if route.method != "HEAD":
                    routes.add((route.method, path.replace("{id}", "c-0000000000").replace("{tail:.*}", "anything")))
    assert len(routes) >= 12
    async with aiohttp.ClientSession() as http:
        for method, path in sorted(routes):
            method = "GET" if method == "*" else method
            kwargs = {"json": {}} if method == "POST" else {}
            async with http.request(method, tuesday.base + path, **kwargs) as resp:
                assert resp.status == 401, (method, path)
                assert "error" in await resp.json()
        async with http.get(tuesday.base + "/agent/", allow_redirects=False) as resp:
            assert resp.status in (302, 303) and resp.headers["Location"].startswith("/agent/login")
        async with http.get(tuesday.base + "/agent/login") as resp:
            assert resp.status == 200 and "<form" in await resp.text()
            assert "Logga in som handläggare" in await resp.text()
        async with http.get(tuesday.base + "/agent/login?lang=en") as resp:
            page = await resp.text()
            assert '<html lang="en">' in page and "Log in as an agent" in page


async def test_login_cookie_is_httponly_strict_and_wrong_passwords_get_401(tuesday, people):
    agent = people(Agent, tuesday.base)
    assert (await agent.login(password="not the password")).status == 401
    assert (await agent.login(username="nobody")).status == 401
    resp = await agent.login()
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert (await agent.call("POST", "/agent/api/logout"))[0] == 200
    assert (await agent.call("GET", "/agent/api/queue"))[0] == 401


async def test_state_changing_calls_must_be_json(tuesday, people):
    agent = await ready_agent(tuesday, people)
    async with agent.http.post(f"{tuesday.base}/agent/api/availability", data={"available": "false"}) as resp:
        assert resp.status == 415
    async with agent.http.post(f"{tuesday.base}/agent/api/availability", data=b"{not json",
                               headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    assert (await agent.call("POST", "/agent/api/availability", {"available": "yes"}))[0] == 400
    _, me = await agent.call("GET", "/agent/api/me")
    assert me["available"] is True  # nothing changed


async def test_agent_input_is_validated(tuesday, people):
    agent = await ready_agent(tuesday, people)
    await queued(tuesday, people)
    _, queue = await agent.call("GET", "/agent/api/queue")
    item_id = queue["waiting"][0]["id"]
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "hej"}))[0] == 409
    assert (await agent.call("POST", "/agent/api/conversations/c-nope/accept"))[0] == 404
    await agent.call("POST", f"/agent/api/conversations/{item_id}/accept")
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "  "}))[0] == 400
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "x" * 2001}))[0] == 413
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/close", {"outcome": "bad"}))[0] == 400


async def test_queue_places_are_pushed_as_they_change(tuesday, people):
    agent = await ready_agent(tuesday, people)
    await queued(tuesday, people, "first")
    second = people(Guardian, tuesday.base, "second")
    reply = await second.say("jag vill prata med en människa")
    assert "nummer 2 i kön" in reply["messages"][0]["text"]
    reply = await second.say("när öppnar ni?")  # still answered by the bot while waiting
    assert "Telefonen" in reply["messages"][0]["text"]
    _, queue = await agent.call("GET", "/agent/api/queue")
    await agent.call("POST", f"/agent/api/conversations/{queue['waiting'][0]['id']}/accept")

    async def told_number_one():
        return any("nu nummer 1" in m["text"] for m in await second.messages())
    await wait_for(told_number_one)


async def test_a_guardian_who_leaves_is_seen_by_the_agent(tuesday, people):
    agent = await ready_agent(tuesday, people)
    waiting = await queued(tuesday, people, "leaves-queue")
    reply = await waiting.say(button="cmd:cancel")
    assert "lämnat kön" in reply["messages"][0]["text"]
    _, queue = await agent.call("GET", "/agent/api/queue")
    assert queue["waiting"] == []

    talking = await queued(tuesday, people, "leaves-chat")
    _, queue = await agent.call("GET", "/agent/api/queue")
    item_id = queue["waiting"][0]["id"]
    await agent.call("POST", f"/agent/api/conversations/{item_id}/accept")
    reply = await talking.say("avsluta")
    assert reply["handoff"] is False and "avslutat samtalet" in reply["messages"][0]["text"]
    _, conv = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert conv["guardian_left"] is True
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "hallå?"}))[0] == 409
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/close", {"outcome": "no_response"}))[0] == 200
    reply = await talking.say("när öppnar ni?")
    assert "Telefonen" in reply["messages"][0]["text"]


async def test_an_agent_without_heartbeat_loses_the_conversation_to_the_queue(tmp_path, people, monkeypatch):
    monkeypatch.setenv("HALMSTAD_AGENT_HEARTBEAT_SECONDS", "1.0")
    async with running(tmp_path, TUESDAY, agents=(("agent", "Alex A"), ("agent2", "Bo B"))) as srv:
        vanishing = await ready_agent(srv, people, "agent")
        guardian = await queued(srv, people)
        _, queue = await vanishing.call("GET", "/agent/api/queue")
        item_id = queue["waiting"][0]["id"]
        assert (await vanishing.call("POST", f"/agent/api/conversations/{item_id}/accept"))[0] == 200

        async def back_in_queue():
            item = srv.service.queue.get(item_id)
            return item["status"] == "waiting"
        await wait_for(back_in_queue)
        await srv.service.drain()

        async def told_the_agent_was_lost():  # the sweeper tells the guardian after it requeues
            return any("tappade kontakten" in m["text"] and "nummer 1" in m["text"] for m in await guardian.messages())
        await wait_for(told_the_agent_was_lost)

        async def told_nobody_is_free():
            return any("ingen ledig handläggare" in m["text"] for m in await guardian.messages())
        await wait_for(told_nobody_is_free)  # nobody else is available: told how to leave a message
        assert any(r["action"] == "requeue_after_timeout" for r in srv.service.queue.audit_log())
        reply = await guardian.say("är ni kvar?")
        assert reply["handoff"] is False and reply["messages"]  # the bot answers while they wait again
        other = await ready_agent(srv, people, "agent2")
        assert (await other.call("POST", f"/agent/api/conversations/{item_id}/accept"))[0] == 200


async def test_metrics_and_stats_parse(tuesday, people, monkeypatch):
    monkeypatch.setenv("HALMSTAD_METRICS_TOKEN", "scrape-token")
    agent = await ready_agent(tuesday, people)
    await people(Guardian, tuesday.base, "just-asks").say("när öppnar ni?")
    await queued(tuesday, people)
    async with aiohttp.ClientSession() as http:
        async with http.get(tuesday.base + "/metrics", headers={"Authorization": "Bearer scrape-token"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    for name in ("halmstad_containment_ratio", "halmstad_handoff_rate", "halmstad_handoff_wait_median_seconds",
                 "halmstad_csat_average", "halmstad_conversations"):
        assert name in families, name
    assert families["halmstad_conversations"].samples[0].value == 2
    assert families["halmstad_handoff_rate"].samples[0].value == 0.5
    _, stats = await agent.call("GET", "/agent/stats")
    assert stats["conversations"] == 2 and stats["waiting"] == 1


async def test_the_console_websocket_pushes_queue_changes(tuesday, people):
    agent = await ready_agent(tuesday, people)
    async with agent.http.ws_connect(tuesday.base.replace("http", "ws") + "/agent/api/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await queued(tuesday, people)
        event = await ws.receive_json(timeout=5)
        assert event["type"] == "queue"
    async with aiohttp.ClientSession() as anonymous:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with anonymous.ws_connect(tuesday.base.replace("http", "ws") + "/agent/api/ws"):
                pass


async def test_canned_answers_are_rendered_in_the_conversations_language(tuesday, people):
    agent = await ready_agent(tuesday, people)
    status, canned = await agent.call("GET", "/agent/api/canned?lang=en")
    assert status == 200 and len(canned["answers"]) > 10
    assert all("{phone}" not in a["text"] and "{email}" not in a["text"] for a in canned["answers"])
    assert any("035-13 70 00" in a["text"] for a in canned["answers"])
    assert (await agent.call("GET", "/agent/api/canned?lang=de"))[0] == 400


def test_add_agent_refuses_bad_input_and_stores_nothing(tmp_path):
    for username, password in (("x", "long enough"), ("Bad Name", "long enough"), ("okname", "short"),
                               ("okname", " padded password ")):
        with pytest.raises(ValueError):
            add_agent(tmp_path, username, password)
    assert not (tmp_path / "agents.json").exists()
    add_agent(tmp_path, "alex", "a good password", display_name="Alex Andersson")
    stored = json.loads((tmp_path / "agents.json").read_text())
    [record] = stored["_default"].values()
    assert record["password_hash"].startswith("$argon2id$") and "a good password" not in json.dumps(stored)
