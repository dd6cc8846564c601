"""The handoff flow and interceptor on an engine with a real queue (no HTTP): escalations keep
where the guardian stopped, the two-misses offer, the wait limit, English, contact validation."""
from __future__ import annotations

import pytest

from bot.clock import make_clock
from bot.handoff.agents import Agent, Presence
from bot.handoff.queue import HandoffQueue
from bot.handoff.service import HandoffService, Hub
from flows.handoff import contact_kind
from flows.ports import Services
from flows.machine import Answer, Flow, NotAnAnswer, Step, person
from tests.conftest import Talk

ALEX = Agent("agent", "Alex Andersson")


async def _escalate(ctx, answer: Answer):
    return "escalate" if answer.text else NotAnAnswer()


DEMO = Flow(name="demo", title="handoff.title", start="demo:ask",
            steps=[Step("demo:ask", _escalate, {"escalate": person("protected_identity", "needs a person")},
                        prompt="handoff.ask_message")])


@pytest.fixture
def wired(make_engine, tmp_path):
    """An engine at `now` with the handoff service wired as `setup` does; one agent available."""
    made = []

    def make(now="2026-12-01T10:00", available=True):
        queue = HandoffQueue(tmp_path / f"data{len(made)}", make_clock(now))
        presence = Presence()
        if available:
            presence.set_available(ALEX, True)
        service = HandoffService(queue, presence, Hub())
        engine = make_engine(now=now, services=Services(handoff=service), interceptors=[service.intercept],
                             turn_hooks=[service.after_turn])
        service.bind(engine)
        engine.flows["demo"] = DEMO
        made.append(queue)
        return engine, service
    yield make
    for queue in made:
        queue.shutdown()


async def test_an_escalation_keeps_the_flow_step_and_reason_for_the_agent(wired):
    engine, service = wired()
    talk = Talk(engine, "escalated")
    await engine_start(talk, "demo")
    await talk("jag har skyddad identitet")
    assert "nummer 1 i kön" in talk.text
    [item] = service.queue.waiting()
    assert (item["reason"], item["flow"], item["step"]) == ("protected_identity", "demo", "demo:ask")


async def engine_start(talk: Talk, flow: str) -> None:
    from common.messages import Inbound

    talk.replies = await talk.engine.handle(Inbound(session=talk.session, button=f"flow:{flow}"))


async def test_two_misses_offer_a_person_and_the_button_queues(wired):
    engine, service = wired()
    talk = Talk(engine, "confused")
    await talk("blorp fnord")
    await talk("xyzzy plugh")
    assert talk.buttons[0].payload == "cmd:human"
    await talk.press("cmd:human")
    assert "nummer 1 i kön" in talk.text
    assert len(service.queue.waiting()) == 1


async def test_a_wait_over_the_limit_offers_a_message_instead(wired):
    engine, service = wired()
    service.default_handle_minutes = 60  # each conversation takes an hour: the second waits too long
    await Talk(engine, "first")("jag vill prata med en människa")
    second = Talk(engine, "second")
    await second("jag vill prata med en människa")
    assert "Kön till en handläggare är lång" in second.text
    assert [b.payload for b in second.buttons] == ["ans:yes", "ans:no"]
    assert len(service.queue.waiting()) == 1


async def test_english_out_of_hours_names_monday_7(wired):
    engine, service = wired(now="2026-12-06T11:00")
    talk = Talk(engine, "english")
    await talk("i want to talk to a person", lang_hint="en")
    assert "closed" in talk.text and "Monday" in talk.text and "7:00" in talk.text
    await talk("yes")
    assert "public record" in talk.text
    await talk("Sam Smith")
    await talk("+46 70 123 45 67")
    await talk("Please call me about the app")
    assert "saved" in talk.text and "Monday" in talk.text and "7:00" in talk.text
    [message] = service.queue.open_messages()
    assert message["lang"] == "en" and message["contact_kind"] == "phone"


async def test_cancel_while_leaving_a_message_stores_nothing(wired):
    engine, service = wired(now="2026-12-06T11:00")
    talk = Talk(engine, "changes-mind")
    await talk("jag vill prata med en människa")
    await talk("ja")
    await talk("Anna")
    await talk("avbryt")
    assert service.queue.open_messages() == []
    assert (await talk.state()).flow is None


async def test_waiting_guardian_keeps_talking_to_the_bot_and_may_cancel_a_flow_without_leaving(wired):
    engine, service = wired()
    talk = Talk(engine, "patient")
    await talk("jag vill prata med en människa")
    await engine_start(talk, "account")
    assert (await talk.state()).flow == "account"
    await talk("avbryt")  # cancels the account questions, not the place in the queue
    assert len(service.queue.waiting()) == 1
    await talk("lämna kön")
    assert service.queue.waiting() == []


@pytest.mark.parametrize("text,kind", [
    ("anna@example.com", "email"), ("070-123 45 67", "phone"), ("+46 70 123 45 67", "phone"),
    ("035137000", "phone"), ("anna@", None), ("ring mig", None), ("12", None), ("a@b", None),
])
def test_contact_kind(text, kind):
    assert contact_kind(text) == kind
