"""The handoff joined to the engine: who is staffed, the queue's messages to guardians, routing.

The handoff flow (flows/handoff.py) asks this service whether a person can take the chat now and
puts the conversation in the queue or stores a left message. From then on the service speaks to
the guardian on its own, through `engine.post` (which also reaches the guardian's channel): the
place in the queue as it changes, "Du pratar nu med Alex", the agent's messages, the end of the
conversation and the satisfaction question. While an agent is connected an engine interceptor
routes everything the guardian writes to the agent instead of the bot.

Calls into `engine.post` that follow a change in the queue run as their own tasks, never inside a
guardian's turn, so two conversations' locks are never waited for in opposite orders.
"""
from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from bot.engine import Engine
from bot.turn import Interception, Turn
from bot.handoff.agents import Agent, Entries, LocalEntries, Presence
from bot.handoff.queue import HANDED_BACK, MAX_NOTE, HandoffQueue, QueueError, retention_cutoff
from bot.handoff.words import Words, name_in
from bot.state import HandoffChange, HandoffStatus
from common import privacy
from common.messages import Button, Reply
from common.text import normalize
from flows.ports import Availability

log = logging.getLogger("halmstad.handoff")
CSAT_PREFIX = "handoff:csat:"
SYSTEM = "system"
_MAX_CONTEXTS = 20_000
# The data-rights references a guardian is given (backends/dsr/cases.py), kept on a finished item
# so an agent finds the conversation by the number the guardian reads out.
DSR_REFERENCE = re.compile(r"\bDSR-\d{4}-\d{5,}\b")
TYPING_SECONDS = 6.0


class Hub:
    """The agent consoles' WebSockets: pushes queue changes and new guardian messages.

    With several processes (`serve --redis-url`) `relay` sends each event to every process, and
    each process's `deliver` sends it to the consoles connected there."""

    def __init__(self, relay: Callable[[dict], Awaitable[None]] | None = None) -> None:
        self.sockets: set[Any] = set()
        self.relay = relay

    async def publish(self, event: dict) -> None:
        if self.relay is not None:
            await self.relay(event)
        else:
            await self.deliver(event)

    async def deliver(self, event: dict) -> None:
        """Send `event` to the consoles connected to this process."""
        for ws in list(self.sockets):
            try:
                await ws.send_json(event)
            except Exception:  # a closed console must not stop the others
                self.sockets.discard(ws)

    async def close(self) -> None:
        for ws in list(self.sockets):
            try:
                await ws.close()
            except Exception:
                pass
        self.sockets.clear()


class Claims(Protocol):
    """Says yes once per name, to the first to ask (in this process, or across every process)."""

    async def first(self, name: str) -> bool: ...


class LocalClaims:
    """Claims in this process's memory."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    async def first(self, name: str) -> bool:
        if name in self.taken:
            return False
        self.taken.add(name)
        return True


async def _nothing_to_catch_up() -> None:
    return None


@dataclass
class ServiceMemory:
    """What the service remembers besides the queue: the place in line each guardian was last
    told, what each agent has read, who is typing, the once-only notices, and how to catch up
    with changes other processes made. In this process by default; with `serve --redis-url`
    shared maps and Redis claims (bot/shared_redis/), timed on wall-clock `now`."""

    announced: Entries = field(default_factory=LocalEntries)
    seen: Entries = field(default_factory=LocalEntries)
    typing: Entries = field(default_factory=LocalEntries)
    claims: Claims = field(default_factory=LocalClaims)
    now: Callable[[], float] = time.monotonic
    catch_up: Callable[[], Awaitable[None]] = _nothing_to_catch_up


class HandoffService:
    """Decides staffed or not, keeps guardians told, and routes the chat while an agent talks."""

    def __init__(self, queue: HandoffQueue, presence: Presence, hub: Hub, *,
                 heartbeat_timeout: float = 60.0, default_handle_minutes: float = 4.0,
                 memory: ServiceMemory | None = None) -> None:
        self.engine: Engine | None = None  # bound by the composition root once the engine exists
        self.queue = queue
        self.presence = presence
        self.hub = hub
        self.heartbeat_timeout = heartbeat_timeout
        self.default_handle_minutes = default_handle_minutes
        self.memory = memory or ServiceMemory()
        self._contexts: OrderedDict[str, dict] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._last_purge = 0.0
        self.typing_listeners: list = []  # async (session, agent first name) -> None

    def bind(self, engine: Engine) -> None:
        """Give the service the engine it posts through (the engine calls `intercept`)."""
        self.engine = engine

    # Small helpers ----------------------------------------------------------------------------

    def t(self, key: str, lang: str, **fmt: Any) -> str:
        return self.engine.t(key, lang, **fmt)

    def spawn(self, coro) -> None:
        """Run `coro` on its own (outside any conversation's lock), keeping a reference."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handoff task failed: %r", type(task.exception()).__name__)

    async def drain(self) -> None:
        """Wait for the pending pushes (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _lang(self, session: str, fallback: str = "sv") -> str:
        state = await self.engine.peek(session)
        return state.lang if state else fallback

    def max_wait_minutes(self, knowledge) -> float:
        value = (knowledge.settings.get("handoff") or {}).get("max_wait_minutes", 20)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 20.0

    def available_agents(self) -> list[Agent]:
        return self.presence.available(self.heartbeat_timeout)

    def estimate_minutes(self, position: int) -> int:
        """Estimate the wait of the guardian at `position` from recent handling times."""
        agents = max(1, len(self.available_agents()))
        per = self.queue.handle_minutes(self.default_handle_minutes)
        return int(math.ceil((position - 1) * per / agents)) + 1

    def _told_position(self, item_id: str, position: int) -> None:
        self.memory.announced.set(item_id, {"position": position})

    def context_of(self, session: str) -> dict:
        """Return where the conversation was when this turn began (flow, step, topic)."""
        return dict(self._contexts.get(session) or {})

    # What the handoff flow calls -----------------------------------------------------------------

    def availability(self, now: datetime, knowledge) -> Availability:
        """Say whether a person can take the chat: staffed hours, an available agent, a short wait."""
        status = knowledge.calendar.status("staffed", now)
        minutes = self.estimate_minutes(len(self.queue.waiting()) + 1)
        if not status.is_open:
            return Availability(False, "closed", False, status.next_open, minutes)
        if not self.available_agents():
            return Availability(False, "nobody", True, status.next_open, minutes)
        if minutes > self.max_wait_minutes(knowledge):
            return Availability(False, "wait", True, status.next_open, minutes)
        return Availability(True, None, True, status.next_open, minutes)

    async def join(self, session: str, *, lang: str, channel: str, reason: str | None,
                   from_flow: str | None) -> tuple[dict, int, int, bool]:
        """Put the conversation in the queue; return (item, position, minutes, is_new)."""
        context = self.context_of(session)
        if from_flow and context.get("flow") != from_flow:
            context = {"flow": from_flow, "step": None, "topic": context.get("topic"), "name": context.get("name")}
        item, is_new = await self.queue.join(session, lang=lang, channel=channel, reason=reason,
                                             context=context)
        position = self.queue.position(item["id"]) or 0
        if is_new:
            self._told_position(item["id"], position)
            log.info("handoff queued position=%d", position)
            self.spawn(self.hub.publish({"type": "queue"}))
        return item, position, self.estimate_minutes(max(position, 1)), is_new

    async def leave_message(self, session: str, *, name: str, contact: str, contact_kind: str, text: str,
                            lang: str, channel: str, reason: str | None) -> dict:
        """Store a left message durably (before the guardian is told it is saved)."""
        item = await self.queue.add_message(session, name=name, contact=contact, contact_kind=contact_kind,
                                            text=privacy.mask(text).text, lang=lang, channel=channel, reason=reason,
                                            context=self.context_of(session))
        log.info("handoff message left")
        self.spawn(self.hub.publish({"type": "queue"}))
        return item

    # The engine's interceptor and turn hook -----------------------------------------------------

    async def intercept(self, turn: Turn) -> Interception | None:
        """Route the guardian's input to the agent while connected; handle leaving and CSAT."""
        state, inbound = turn.state, turn.inbound
        session = inbound.session
        await self.memory.catch_up()  # an agent on another process may have just accepted
        name = self._name_of(state) or self._contexts.get(session, {}).get("name")
        if state.flow and state.flow != "handoff":
            self._remember(session, {"flow": state.flow, "step": state.step, "topic": state.topic, "name": name})
        elif session not in self._contexts:
            self._remember(session, {"flow": None, "step": None, "topic": state.topic, "name": name})
        elif name:
            self._contexts[session]["name"] = name
        if inbound.button and inbound.button.startswith(CSAT_PREFIX):
            return await self._csat(turn, inbound.button[len(CSAT_PREFIX):])
        item = self.queue.open_for_session(session)
        if item is None:
            if state.handoff and (state.handoff.active or state.handoff.waiting):
                return Interception(HandoffChange(None))  # the queue ended it meanwhile
            return None
        connected = item["status"] == "assigned"
        if self._wants_to_leave(turn, connected):
            return await self._guardian_leaves(turn, item)
        if connected:
            status = HandoffStatus(item=item["id"], active=True, agent=item.get("agent_name"))
            return Interception(HandoffChange(status, outcome="handoff:message"), [])
        return Interception(HandoffChange(HandoffStatus(item=item["id"], waiting=True)))

    def _name_of(self, state) -> str | None:
        """Return the name the guardian gave in a form of the flow in progress (or set aside)."""
        for position in (state.position, state.paused):
            if position is not None:
                name = name_in(self.engine.flows.get(position.flow), position.data)
                if name:
                    return name
        return None

    def _remember(self, session: str, context: dict) -> None:
        self._contexts[session] = context
        self._contexts.move_to_end(session)
        while len(self._contexts) > _MAX_CONTEXTS:
            self._contexts.popitem(last=False)

    def _wants_to_leave(self, turn: Turn, connected: bool) -> bool:
        lang_words = set()
        for lang in ("sv", "en"):
            lang_words.update(normalize(w) for w in self.t("handoff.leave_words", lang).split("|") if w.strip())
        if turn.inbound.button is not None:
            return turn.inbound.button == "cmd:cancel" and (connected or not turn.state.flow)
        if normalize(turn.text or "") in lang_words:
            return True
        # "avbryt" cancels a flow the guardian runs while waiting; otherwise it leaves the queue.
        return self.engine.commands.is_word_for("cancel", turn.text or "") and (connected or not turn.state.flow)

    async def _guardian_leaves(self, turn: Turn, item: dict) -> Interception:
        lang = turn.state.lang
        left = await self.queue.guardian_leaves(turn.inbound.session)
        self.memory.announced.delete(item["id"])
        log.info("handoff guardian left status=%s", item["status"])
        self.spawn(self.hub.publish({"type": "queue"}))
        if left and left["status"] == "assigned":
            self.spawn(self.hub.publish({"type": "left", "id": left["id"]}))
            text = self.t("handoff.left_conversation", lang, agent=left.get("agent_name") or "")
        else:
            text = self.t("handoff.left_queue", lang)
            self.spawn(self.announce_positions())
        return Interception(HandoffChange(None, outcome="handoff:left", leave_flow=True),
                            [Reply(text, self.engine.menu_buttons(lang))])

    async def _csat(self, turn: Turn, value: str) -> Interception:
        lang = turn.state.lang
        pending = turn.state.handoff.csat_for if turn.state.handoff else None
        rating = int(value) if value.isdigit() and 1 <= int(value) <= 5 else None
        if pending and rating is not None:
            await self.queue.record_csat(pending, rating)
            log.info("handoff csat recorded")
        return Interception(HandoffChange(None, outcome="handoff:csat"),
                            [Reply(self.t("handoff.csat_thanks", lang), self.engine.menu_buttons(lang))])

    async def after_turn(self, turn: Turn, replies: list[Reply]) -> None:
        """Count new conversations and tell the agent console about the guardian's new message."""
        if turn.state.created_at == turn.now.isoformat():
            self.queue.count_conversation()
        if turn.state.last_outcome == "handoff:message":
            item = self.queue.open_for_session(turn.inbound.session)
            if item is not None:
                await self.hub.publish({"type": "message", "id": item["id"]})

    # What the agent console calls ---------------------------------------------------------------

    async def accept(self, item_id: str, agent: Agent) -> dict:
        """Give the conversation to `agent` (409 if taken) and tell the guardian who answers."""
        item = await self.queue.accept(item_id, agent.username, agent.display_name)
        await self.queue.audit(agent.username, "accept", item_id)
        self.memory.announced.delete(item_id)
        session = item["session"]
        lang = await self._lang(session, item["lang"])

        connected = HandoffChange(HandoffStatus(item=item_id, active=True, agent=agent.first_name),
                                  outcome="handoff:connected", leave_flow=True)
        stored = await self.engine.post(session, [Reply(self.t("handoff.connected", lang, agent=agent.first_name))],
                                        sender=SYSTEM, change=connected)
        self.mark_seen(agent.username, item_id, stored)
        log.info("handoff accepted")
        self.spawn(self.announce_positions())
        self.spawn(self.hub.publish({"type": "queue"}))
        return item

    async def send(self, item_id: str, agent: Agent, text: str) -> list[dict]:
        """Deliver an agent's message to the guardian's channel; return the stored entries."""
        item = self.queue.require_assigned(item_id, agent.username)
        # An identity number an agent pastes is masked as the guardian's are: the transcript keeps none.
        stored = await self.engine.post(item["session"], [Reply(privacy.mask(text).text)], sender="agent")
        self.memory.typing.delete(item["session"])
        self.mark_seen(agent.username, item_id, stored)
        await self.queue.audit(agent.username, "message", item_id)
        self.spawn(self.hub.publish({"type": "message", "id": item_id}))
        return stored

    async def close(self, item_id: str, agent: Agent, outcome: str, callback: dict | None = None) -> dict:
        """End the conversation (or mark a left message done); the guardian is back with the bot.
        Closing as "callback" with `callback` (contact, name, note) puts the call in the list."""
        current = self.queue.get(item_id)
        if current is None:
            raise QueueError("there is no such conversation or message", 404)
        if current["kind"] == "message":
            item = await self.queue.mark_done(item_id, agent.username)
            await self.queue.audit(agent.username, "message_done", item_id)
            self.spawn(self.hub.publish({"type": "queue"}))
            return item
        facts = await self._facts(current["session"])
        if outcome == "callback" and callback is not None:
            item, task = await self.queue.close_for_callback(item_id, agent.username, callback, facts)
            await self.queue.audit(agent.username, "callback_added", task["id"], source=item_id)
        else:
            item = await self.queue.close(item_id, agent.username, outcome, facts)
        await self.queue.audit(agent.username, "close", item_id, outcome=outcome)
        if not item.get("guardian_left"):
            await self._tell_closed(item, agent)
        log.info("handoff closed outcome=%s", outcome)
        self.spawn(self.hub.publish({"type": "queue"}))
        return item

    async def _tell_closed(self, item: dict, agent: Agent) -> None:
        session = item["session"]
        lang = await self._lang(session, item["lang"])
        buttons = tuple(Button(self.t("handoff.csat_label", lang, n=str(n)), f"{CSAT_PREFIX}{n}")
                        for n in range(1, 6))
        back_with_bot = HandoffChange(HandoffStatus(csat_for=item["id"]), outcome="handoff:closed",
                                      leave_flow=True, offer=buttons)
        await self.engine.post(session, [
            Reply(self.t("handoff.closed", lang, agent=agent.first_name)),
            Reply(self.t("handoff.csat_question", lang), buttons),
        ], sender=SYSTEM, change=back_with_bot)

    async def mark_done(self, item_id: str, agent: Agent) -> dict:
        current = self.queue.get(item_id)
        if current is None or current["kind"] != "message":
            raise QueueError("there is no such left message", 404)
        return await self.close(item_id, agent, "resolved")

    async def _facts(self, session: str) -> dict:
        """Read a finished conversation's transcript for the record: the data-rights references it
        named (in order, once each) and the FAQ entry the guardian last asked about."""
        entries = await self.engine.transcript(session)
        found: list[str] = []
        for entry in entries:
            for reference in DSR_REFERENCE.findall(entry.get("text") or ""):
                if reference not in found:
                    found.append(reference)
        asked = Words(self.engine).asked_entry(entries)
        return {"references": found, "topic": asked.id if asked else None}

    # Agent tools: hand back, transfer, notes, callbacks, typing, unread ------------------------

    async def hand_back(self, item_id: str, agent: Agent) -> dict:
        """Give the guardian back to the assistant, and tell them so (no satisfaction question:
        the conversation goes on with the bot)."""
        current = self.queue.require_assigned(item_id, agent.username)
        item = await self.queue.close(item_id, agent.username, HANDED_BACK, await self._facts(current["session"]))
        await self.queue.audit(agent.username, "hand_back", item_id)
        session = item["session"]
        lang = await self._lang(session, item["lang"])
        menu = tuple(self.engine.menu_buttons(lang))
        back = HandoffChange(None, outcome="handoff:handed_back", leave_flow=True, offer=menu)
        await self.engine.post(session, [Reply(self.t("handoff.handed_back", lang, agent=agent.first_name), menu)],
                               sender=SYSTEM, change=back)
        log.info("handoff handed back to the assistant")
        self.spawn(self.hub.publish({"type": "queue"}))
        return item

    def transfer_targets(self, agent: Agent) -> list[Agent]:
        """Return the other agents available for chats now."""
        return [a for a in self.available_agents() if a.username != agent.username]

    async def transfer(self, item_id: str, agent: Agent, to_username: str, note: str) -> dict:
        """Give the conversation to another available agent with a note; tell the guardian."""
        target = next((a for a in self.transfer_targets(agent) if a.username == to_username), None)
        if target is None:
            raise QueueError("that agent is not available for chats now; choose another", 409)
        record = self._note(agent, note, kind="transfer", to=target.username, to_name=target.display_name)
        item = await self.queue.transfer(item_id, agent.username, (target.username, target.display_name), record)
        await self.queue.audit(agent.username, "transfer", item_id, to=target.username)
        session = item["session"]
        lang = await self._lang(session, item["lang"])
        moved = HandoffChange(HandoffStatus(item=item_id, active=True, agent=target.first_name),
                              outcome="handoff:transferred")
        await self.engine.post(session, [Reply(self.t("handoff.transferred", lang, agent=agent.first_name,
                                                      to=target.first_name))], sender=SYSTEM, change=moved)
        log.info("handoff transferred")
        self.spawn(self.hub.publish({"type": "transfer", "id": item_id, "to": target.username}))
        return item

    def _note(self, agent: Agent, text: str, **extra: str) -> dict:
        masked = privacy.mask(text.strip()[:MAX_NOTE]).text
        return {"at": self.engine.clock().isoformat(), "by": agent.username, "by_name": agent.display_name,
                "text": masked, "kind": "note", **extra}

    async def add_note(self, item_id: str, agent: Agent, text: str) -> dict:
        """Keep an internal note on an item: in the record for agents, never shown to the guardian."""
        item = await self.queue.add_note(item_id, self._note(agent, text))
        await self.queue.audit(agent.username, "note", item_id)
        self.spawn(self.hub.publish({"type": "note", "id": item_id}))
        return item

    async def message_to_callback(self, item_id: str, agent: Agent, note: str) -> dict:
        """Answer a left message by phone: a callback task with its contact details."""
        message = self.queue.get(item_id)
        if message is None or message["kind"] != "message":
            raise QueueError("there is no such left message", 404)
        if message.get("contact_kind") != "phone":
            raise QueueError("this message gives no phone number to call; answer it by e-mail and mark it done")
        contact = {"name": message.get("name"), "contact": message.get("contact"),
                   "contact_kind": message.get("contact_kind"), "note": privacy.mask(note).text}
        _, task = await self.queue.message_to_callback(item_id, agent.username, contact)
        await self.queue.audit(agent.username, "callback_added", task["id"], source=item_id)
        self.spawn(self.hub.publish({"type": "queue"}))
        return task

    async def callback_done(self, item_id: str, agent: Agent, result: str, note: str) -> dict:
        """Record how the call went; the task leaves the list."""
        item = await self.queue.callback_done(item_id, agent.username, result, privacy.mask(note).text)
        await self.queue.audit(agent.username, "callback_done", item_id, result=result)
        self.spawn(self.hub.publish({"type": "queue"}))
        return item

    def mark_seen(self, username: str, item_id: str, entries: list[dict]) -> None:
        """Remember that `username` has read the conversation up to the last of `entries`."""
        seqs = [e["seq"] for e in entries if isinstance(e.get("seq"), int)]
        if seqs:
            key = f"{username}\t{item_id}"
            before = (self.memory.seen.get(key) or {}).get("seq", 0)
            if max(seqs) > before:
                self.memory.seen.set(key, {"seq": max(seqs)})

    def unread(self, username: str, item_id: str, entries: list[dict]) -> int:
        """Count the guardian's messages `username` has not read (a first look reads them all)."""
        key = f"{username}\t{item_id}"
        if self.memory.seen.get(key) is None:
            self.mark_seen(username, item_id, entries)
        seen = (self.memory.seen.get(key) or {}).get("seq", 0)
        return sum(1 for e in entries if e.get("from") == "user" and e.get("seq", 0) > seen)

    async def guardian_typing(self, session: str) -> None:
        """Tell the agent holding the guardian's chat that the guardian is typing (for a channel
        that reports typing)."""
        item = self.queue.open_for_session(session)
        if item is not None and item["status"] == "assigned":
            await self.hub.publish({"type": "typing", "id": item["id"]})

    async def agent_typing(self, item_id: str, agent: Agent) -> None:
        """Record that the agent is typing to the guardian and tell the typing listeners."""
        item = self.queue.require_assigned(item_id, agent.username)
        self.memory.typing.set(item["session"], {"name": agent.first_name, "at": self.memory.now()})
        for listener in self.typing_listeners:
            await listener(item["session"], agent.first_name)

    def agent_typing_in(self, session: str) -> str | None:
        """Return the first name of the agent typing to this guardian now, or None."""
        typing = self.memory.typing.get(session)
        if typing is None:
            return None
        if self.memory.now() - typing["at"] > TYPING_SECONDS:
            self.memory.typing.delete(session)
            return None
        return typing["name"]

    # Keeping guardians told --------------------------------------------------------------------

    async def announce_positions(self) -> None:
        """Tell every waiting guardian whose place in the queue changed their new place and wait."""
        for position, item in enumerate(self.queue.waiting(), 1):
            if (self.memory.announced.get(item["id"]) or {}).get("position") == position:
                continue
            self._told_position(item["id"], position)
            lang = await self._lang(item["session"], item["lang"])
            text = self.t("handoff.queue_update", lang, position=str(position),
                          minutes=str(self.estimate_minutes(position)))
            try:
                await self.engine.post(item["session"], [Reply(text)], sender=SYSTEM)
            except KeyError:
                continue

    async def sweep_once(self) -> None:
        """Return the conversations of agents who stopped answering to the queue, and tidy up."""
        await self.memory.catch_up()
        for username in self.presence.expired(self.heartbeat_timeout):
            self.presence.forget(username)
            items = await self.queue.requeue(username)
            if not items:
                continue
            log.info("handoff agent heartbeat lost requeued=%d", len(items))
            for item in items:
                await self.queue.audit("system", "requeue_after_timeout", item["id"], agent=username)
                if item["status"] != "waiting":
                    continue
                position = self.queue.position(item["id"]) or 1
                self._told_position(item["id"], position)
                lang = await self._lang(item["session"], item["lang"])

                back_in_queue = HandoffChange(HandoffStatus(item=item["id"], waiting=True),
                                              outcome="handoff:requeued")
                try:
                    await self.engine.post(item["session"], [Reply(self.t(
                        "handoff.agent_lost", lang, position=str(position),
                        minutes=str(self.estimate_minutes(position)))),
                    ], sender=SYSTEM, change=back_in_queue)
                except KeyError:
                    pass
            await self.announce_positions()
            await self.hub.publish({"type": "queue"})
        await self._tell_stranded()
        await self.queue.flush_counters()
        if time.monotonic() - self._last_purge > 3600:
            self._last_purge = time.monotonic()
            privacy = self.engine.knowledge.settings.get("privacy") or {}
            days = privacy.get("retention_days", 90)
            if isinstance(days, int) and days > 0:
                await self.queue.purge(retention_cutoff(self.engine.clock(), days))

    async def _tell_stranded(self) -> None:
        """Tell each waiting guardian, once, when no agent is available any more, and how to
        leave a message instead of waiting for nobody."""
        if self.available_agents():
            return
        for item in self.queue.waiting():
            if not await self.memory.claims.first(f"stranded:{item['id']}"):
                continue
            lang = await self._lang(item["session"], item["lang"])
            try:
                await self.engine.post(item["session"], [Reply(self.t("handoff.queue_unstaffed", lang))],
                                       sender=SYSTEM)
            except KeyError:
                continue

    async def run_sweeper(self) -> None:
        """Sweep for as long as the server runs (cancelled at cleanup)."""
        while True:
            await asyncio.sleep(max(0.05, min(5.0, self.heartbeat_timeout / 4)))
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handoff sweep failed")
