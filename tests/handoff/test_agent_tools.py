"""Issue 15, agent console items 1 and 4-9, through the agent API on a real server on loopback:
chat cards (given name, topic in words, last line, unread), words not ids, transfer, internal
notes, hand back, callbacks that survive a restart, history search, and the containment figure."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.handoff.history import OUTCOME_KEYS
from bot.handoff.queue import retention_cutoff
from tests.handoff.conftest import SUNDAY, TUESDAY, Agent, Guardian, queued, ready_agent, running


async def accept_first(agent: Agent) -> str:
    _, queue = await agent.call("GET", "/agent/api/queue")
    item_id = queue["waiting"][0]["id"]
    status, _ = await agent.call("POST", f"/agent/api/conversations/{item_id}/accept")
    assert status == 200
    return item_id


async def leave_message(srv, people, session: str, contact: str, text: str) -> str:
    """Leave a message out of hours; return the reference the guardian was given."""
    guardian = people(Guardian, srv.base, session)
    for line in ("jag vill prata med en människa", "ja", "Anna Andersson", contact):
        await guardian.say(line)
    reply = await guardian.say(text)
    confirmation = reply["messages"][0]["text"]
    assert "sparat" in confirmation
    return next(word.strip("().,") for word in confirmation.split() if word.startswith("M-"))


async def test_a_chat_card_names_the_guardian_and_the_topic_in_words_and_counts_unread(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = people(Guardian, tuesday.base, "card-1")
    for line in ("jag vill begära registerutdrag", "för mig själv", "Anna Andersson", "prata med en person"):
        await guardian.say(line)
    _, queue = await agent.call("GET", "/agent/api/queue")
    [card] = queue["waiting"]
    assert card["given_name"] == "Anna" and card["about"] == "Personuppgifter – frågar efter kontaktuppgift"
    assert card["last"]["from"] == "user" and card["last"]["text"] == "prata med en person"  # not the bot's notice
    assert card["queued_ms"] <= queue["now_ms"]
    item_id = await accept_first(agent)

    await guardian.say("Jag vill veta vad ni har sparat om mig")
    await guardian.say("Hallå?")
    _, queue = await agent.call("GET", "/agent/api/queue")
    [mine] = queue["assigned"]
    assert mine["mine"] and mine["unread"] == 2 and mine["last"] == {**mine["last"], "from": "user", "text": "Hallå?"}
    assert mine["last"]["at"].endswith("+01:00")  # Stockholm time, with its offset

    status, detail = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert status == 200 and detail["context"]["where"] == "Personuppgifter – frågar efter kontaktuppgift"
    _, queue = await agent.call("GET", "/agent/api/queue")
    assert queue["assigned"][0]["unread"] == 0  # read by opening it

    status, en = await agent.call("GET", f"/agent/api/conversations/{item_id}?lang=en")
    assert en["context"]["where"] == "Personal data – asked for contact details"


async def test_the_context_says_where_in_the_app_activation_the_guardian_was(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = people(Guardian, tuesday.base, "activation-1")
    for line in ("jag vill aktivera appen", "anna@example.com", "ja", "prata med en person"):
        await guardian.say(line)
    item_id = await accept_first(agent)
    _, detail = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert detail["context"]["step"] == "activation:after_sent"
    assert detail["context"]["where"] == "Aktivera appen – länken skickad"
    assert detail["about"] == "Aktivera appen – länken skickad"


async def test_transfer_with_a_note_moves_the_chat_and_tells_the_guardian_not_the_note(tuesday, people):
    alex = await ready_agent(tuesday, people, "agent")
    bo = await ready_agent(tuesday, people, "agent2")
    guardian = await queued(tuesday, people, "transfer-1")
    item_id = await accept_first(alex)
    status, agents = await alex.call("GET", "/agent/api/agents")
    assert agents["agents"] == [{"username": "agent2", "display_name": "Bo Berg"}]

    status, moved = await alex.call("POST", f"/agent/api/conversations/{item_id}/transfer",
                                    {"to": "agent2", "note": "Gäller koppling till barn, personnr 850709-9805"})
    assert status == 200 and moved["agent"] == "agent2"
    texts = [m["text"] for m in await guardian.messages()]
    assert "Alex har kopplat dig vidare till Bo på Halmstad direkt, som tar över samtalet nu." in texts
    assert not any("koppling till barn" in t for t in texts)

    assert (await alex.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "hej"}))[0] == 409
    assert (await bo.call("POST", f"/agent/api/conversations/{item_id}/messages", {"text": "Hej, Bo här!"}))[0] == 200
    _, detail = await bo.call("GET", f"/agent/api/conversations/{item_id}")
    [note] = detail["notes"]
    assert note["kind"] == "transfer" and note["by"] == "agent" and note["to"] == "agent2"
    assert "850709-9805" not in note["text"] and "koppling till barn" in note["text"]
    reply = await guardian.say("Tack Bo")
    assert reply["messages"] == [] and reply["handoff"] is True

    assert (await alex.call("POST", f"/agent/api/conversations/{item_id}/transfer", {"to": "agent2"}))[0] == 409
    assert (await bo.call("POST", f"/agent/api/conversations/{item_id}/transfer", {"to": "nobody"}))[0] == 409
    audit = tuesday.service.queue.audit_log()
    assert {"actor": "agent", "action": "transfer", "item": item_id, "to": "agent2"}.items() <= next(
        r for r in audit if r["action"] == "transfer").items()
    raw = (tuesday.data_dir / "handoff_audit.jsonl").read_text(encoding="utf-8")
    assert "koppling" not in raw


async def test_internal_notes_stay_with_the_agents(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = await queued(tuesday, people, "notes-1")
    item_id = await accept_first(agent)
    status, _ = await agent.call("POST", f"/agent/api/conversations/{item_id}/notes",
                                 {"text": "Verkar vara fel e-postadress i Skola24"})
    assert status == 200
    _, detail = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert [n["text"] for n in detail["notes"]] == ["Verkar vara fel e-postadress i Skola24"]
    assert not any("fel e-postadress" in m["text"] for m in await guardian.messages())
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/notes", {"text": ""}))[0] == 400
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/notes", {"text": "x" * 2001}))[0] == 413
    _, detail = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert len(detail["notes"]) == 1  # the refused notes stored nothing


async def test_hand_back_tells_the_guardian_and_the_bot_answers_again(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = await queued(tuesday, people, "handback-1")
    item_id = await accept_first(agent)
    status, item = await agent.call("POST", f"/agent/api/conversations/{item_id}/handback")
    assert status == 200 and item["status"] == "closed" and item["outcome"] == "handed_back"
    last = (await guardian.messages())[-1]
    assert last["text"].startswith("Alex har lämnat tillbaka samtalet till mig, chattboten.")
    assert last["buttons"] and not any(b["payload"].startswith("handoff:csat") for b in last["buttons"])
    reply = await guardian.say("när öppnar ni?")
    assert reply["handoff"] is False and "Telefonen" in reply["messages"][0]["text"]
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/handback"))[0] == 409


async def test_closing_with_ringer_upp_makes_a_callback_that_survives_a_restart(tmp_path, people):
    async with running(tmp_path, TUESDAY) as srv:
        agent = await ready_agent(srv, people)
        await queued(srv, people, "callback-1")
        item_id = await accept_first(agent)
        refused = await agent.call("POST", f"/agent/api/conversations/{item_id}/close", {"outcome": "callback"})
        assert refused[0] == 400 and "phone number" in refused[1]["error"]
        bad = await agent.call("POST", f"/agent/api/conversations/{item_id}/close",
                               {"outcome": "callback", "callback": {"contact": "inte ett nummer"}})
        assert bad[0] == 400
        assert srv.service.queue.get(item_id)["status"] == "assigned"  # refused: nothing lost
        status, closed = await agent.call("POST", f"/agent/api/conversations/{item_id}/close", {
            "outcome": "callback", "callback": {"contact": "070-123 45 67", "name": "Anna Andersson",
                                                "note": "Efter kl. 15, gäller appen"}})
        assert status == 200 and closed["outcome"] == "callback"
    async with running(tmp_path, TUESDAY) as srv:
        agent = await ready_agent(srv, people)
        _, queue = await agent.call("GET", "/agent/api/queue")
        [task] = queue["callbacks"]
        assert task["kind"] == "callback" and task["name"] == "Anna Andersson" and task["reference"].startswith("R-")
        _, detail = await agent.call("GET", f"/agent/api/conversations/{task['id']}")
        assert detail["callback"]["contact"] == "070-123 45 67"
        assert detail["callback"]["source_reference"] == item_id.upper()
        assert (await agent.call("POST", f"/agent/api/callbacks/{task['id']}/done", {"result": "maybe"}))[0] == 400
        status, done = await agent.call("POST", f"/agent/api/callbacks/{task['id']}/done",
                                        {"result": "reached", "note": "Hjälpt med adressen"})
        assert status == 200 and done["outcome_key"] == "call_reached"
        _, queue = await agent.call("GET", "/agent/api/queue")
        assert queue["callbacks"] == []
        assert (await agent.call("POST", f"/agent/api/callbacks/{task['id']}/done", {"result": "reached"}))[0] == 409


async def test_a_left_message_answered_by_phone_becomes_a_callback_and_is_found_by_its_reference(sunday, people):
    agent = people(Agent, sunday.base)
    await agent.login()
    reference = await leave_message(sunday, people, "left-1", "070-765 43 21", "Jag kommer inte in i appen")
    email_ref = await leave_message(sunday, people, "left-2", "bo@example.com", "Fel frånvaro för min son")
    _, queue = await agent.call("GET", "/agent/api/queue")
    by_ref = {m["reference"]: m for m in queue["messages"]}
    assert by_ref[reference]["given_name"] == "Anna"
    # What the guardian wrote about (the FAQ entry the message matches), not "Prata med en person".
    assert by_ref[reference]["about"] == "Appen fungerar inte"
    assert by_ref[email_ref]["about"] == "Fel frånvaro registrerad"

    message_id = reference.lower()
    status, task = await agent.call("POST", f"/agent/api/left-messages/{message_id}/callback", {})
    assert status == 200 and task["kind"] == "callback"
    assert (await agent.call("POST", f"/agent/api/left-messages/{email_ref.lower()}/callback", {}))[0] == 409
    _, queue = await agent.call("GET", "/agent/api/queue")
    assert [m["reference"] for m in queue["messages"]] == [email_ref]
    assert [c["id"] for c in queue["callbacks"]] == [task["id"]]

    status, found = await agent.call("GET", f"/agent/api/history?q={reference}")
    assert status == 200
    assert {(i["reference"], i["related"]) for i in found["items"]} == {(reference, False), (task["reference"], True)}
    status, found = await agent.call("GET", f"/agent/api/history?q={reference[:6].lower()}")
    assert reference in [i["reference"] for i in found["items"]]
    _, found = await agent.call("GET", "/agent/api/history?outcome=message_callback")
    assert [i["reference"] for i in found["items"]] == [reference]
    _, found = await agent.call("GET", "/agent/api/history?q=765 43")
    assert {i["reference"] for i in found["items"]} == {reference, task["reference"]}


async def test_history_searches_by_dsr_reference_date_and_outcome_and_refuses_bad_input(tuesday, people):
    agent = await ready_agent(tuesday, people)
    guardian = await queued(tuesday, people, "history-1")
    item_id = await accept_first(agent)
    await guardian.say("Jag ser inte mitt barn i Skola24")
    await agent.call("POST", f"/agent/api/conversations/{item_id}/messages",
                     {"text": "Din begäran har nummer DSR-2026-00042."})
    await agent.call("POST", f"/agent/api/conversations/{item_id}/close", {"outcome": "referred"})
    status, found = await agent.call("GET", "/agent/api/history?q=DSR-2026-00042")
    assert status == 200 and [i["id"] for i in found["items"]] == [item_id]
    # The chat began with "I want a person": its topic is what the guardian then asked about.
    assert tuesday.service.queue.get(item_id)["topic"] and found["items"][0]["about"]
    _, found = await agent.call("GET", "/agent/api/history?from=2026-12-01&to=2026-12-01&outcome=referred")
    assert [i["id"] for i in found["items"]] == [item_id]
    _, found = await agent.call("GET", "/agent/api/history?from=2026-12-02")
    assert found["items"] == []
    assert (await agent.call("GET", "/agent/api/history?from=1-12-2026"))[0] == 400
    assert (await agent.call("GET", "/agent/api/history?outcome=lost"))[0] == 400
    assert (await agent.call("GET", "/agent/api/history?q=" + "x" * 101))[0] == 400
    _, detail = await agent.call("GET", f"/agent/api/conversations/{item_id}")
    assert detail["references"] == ["DSR-2026-00042"] and detail["closed_at"]


def test_every_outcome_of_the_history_has_words_in_both_languages():
    from bot.knowledge import default_knowledge_dir, load_knowledge
    knowledge = load_knowledge(default_knowledge_dir())
    for key in OUTCOME_KEYS:
        for lang in ("sv", "en"):
            assert knowledge.text(f"handoff.console.result_{key}", lang)


async def test_a_conversation_still_in_the_queue_is_not_counted_as_contained(tuesday, people):
    await ready_agent(tuesday, people)
    await people(Guardian, tuesday.base, "bot-only").say("när öppnar ni?")
    await queued(tuesday, people, "still-waiting")
    stats = tuesday.service.queue.stats()
    assert stats["conversations"] == 2 and stats["waiting"] == 1
    assert stats["containment"] == 0.5  # the waiting one is not resolved by the assistant


async def test_notes_and_callbacks_are_disposed_of_with_their_items_after_the_retention_period(tuesday, people):
    agent = await ready_agent(tuesday, people)
    await queued(tuesday, people, "purge-1")
    item_id = await accept_first(agent)
    await agent.call("POST", f"/agent/api/conversations/{item_id}/notes", {"text": "intern"})
    await agent.call("POST", f"/agent/api/conversations/{item_id}/close",
                     {"outcome": "callback", "callback": {"contact": "070-123 45 67"}})
    queue = tuesday.service.queue
    [task] = queue.callbacks()
    await agent.call("POST", f"/agent/api/callbacks/{task['id']}/done", {"result": "no_answer"})
    now = datetime.fromisoformat(queue.get(item_id)["closed_at"])
    assert await queue.purge(retention_cutoff(now, 90)) == 0
    assert await queue.purge(retention_cutoff(now + timedelta(days=91), 90)) == 2
    assert queue.get(item_id) is None and queue.get(task["id"]) is None
    assert not list((tuesday.data_dir / "handoff" / "items").glob(f"{item_id}*"))


async def test_typing_reaches_the_console_and_is_kept_for_the_guardians_channel(tuesday, people):
    agent = await ready_agent(tuesday, people)
    await queued(tuesday, people, "typing-1")
    item_id = await accept_first(agent)
    service = tuesday.service
    heard: list[tuple[str, str]] = []

    async def listener(session, name):
        heard.append((session, name))
    service.typing_listeners.append(listener)
    assert (await agent.call("POST", f"/agent/api/conversations/{item_id}/typing"))[0] == 200
    assert heard == [("typing-1", "Alex")] and service.agent_typing_in("typing-1") == "Alex"

    async with agent.http.ws_connect(f"{tuesday.base}/agent/api/ws", origin=tuesday.base) as ws:
        assert (await ws.receive_json())["type"] == "hello"
        await service.guardian_typing("typing-1")
        event = await asyncio.wait_for(ws.receive_json(), 5)
        assert event == {"type": "typing", "id": item_id}
