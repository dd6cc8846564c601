"""The dialogue manager: one turn of a conversation, whatever the channel.

A turn: lock the conversation, load its `ConversationState`, mask the text, choose the language,
let the interceptors (a live handoff) take it, else dispatch it: a command (bot/commands.py), an
answer to the active step (bot/flow_runner.py; detours in bot/interruptions.py) or a question for
the FAQ (bot/answering.py). Then state and transcript are stored together. Only the engine
changes a conversation's state; the handoff and the channels ask it (`post`, `peek`).
"""
from __future__ import annotations

import contextvars
import logging
from datetime import datetime
from typing import Any, Awaitable, Callable, Protocol, Sequence

from bot.answering import Answering
from bot.commands import Commands, UnknownButton
from bot.flow_runner import FlowRunner
from bot.interruptions import Interruptions
from bot.knowledge import LANGS, Knowledge, VersionCache
from bot.language import choose_language
from bot.state import ConversationState, HandoffChange
from bot.store.base import Locks, SessionStore
from bot.turn import Interception, Turn
from bot.understanding import Understanding
from common import privacy
from common.locks import KeyedLocks
from common.logtally import LogTally
from common.messages import Inbound, Outbound, Reply
from flows.machine import Answer, Flow
from flows.ports import Services

log = logging.getLogger("halmstad.engine")
TURN_SUMMARY_SECONDS = 60.0

# The knowledge and understanding one turn uses, fixed at its start, so that a live reload in the
# middle of a turn never mixes two versions (a context variable: each turn's task sees its own).
_TURN_SOURCE: contextvars.ContextVar[tuple] = contextvars.ContextVar("turn_source")


class KnowledgeSource(Protocol):
    """Gives the knowledge and understanding in force now (swapped on live reload)."""

    knowledge: Knowledge
    understanding: Understanding


Interceptor = Callable[[Turn], Awaitable[Interception | None]]
Listener = Callable[[Outbound], Awaitable[None]]
TurnHook = Callable[[Turn, list[Reply]], Awaitable[None]]


class Engine:
    """Handles inputs for every conversation; the only place that changes conversation state.

    `interceptors` run in order before the bot sees a turn; `listeners` get every message the
    engine posts on its own (an agent's reply); `turn_hooks` run after each turn is stored;
    `locks` serialise one conversation's turns (default: in this process only).
    """

    def __init__(self, *, source: KnowledgeSource, store: SessionStore, flows: dict[str, Flow],
                 clock: Callable[[], datetime], services: Services | None = None,
                 interceptors: Sequence[Interceptor] = (), listeners: Sequence[Listener] = (),
                 turn_hooks: Sequence[TurnHook] = (), locks: Locks | None = None) -> None:
        self.source = source
        self.store = store
        self.flows = flows
        self.clock = clock
        self.services = services or Services()
        self.interceptors = tuple(interceptors)
        self.listeners = tuple(listeners)
        self.turn_hooks = tuple(turn_hooks)
        # One turn per conversation at a time: in this process, or across processes (Redis).
        self.locks: Locks = locks if locks is not None else KeyedLocks()
        self.answering = Answering(self)
        self.commands = Commands(self)
        self.runner = FlowRunner(self)
        self.interruptions = Interruptions(self)
        # A line per turn at DEBUG; at INFO one summary a minute of the turns by channel and outcome.
        self.turn_log = LogTally(log, "turns", TURN_SUMMARY_SECONDS)
        self._texts = VersionCache()

    @property
    def knowledge(self) -> Knowledge:
        """The knowledge of the turn in progress (or the current one outside a turn)."""
        snapshot = _TURN_SOURCE.get(None)
        return snapshot[0] if snapshot else self.source.knowledge

    @property
    def understanding(self) -> Understanding:
        snapshot = _TURN_SOURCE.get(None)
        return snapshot[1] if snapshot else self.source.understanding

    def t(self, key: str, lang: str, **fmt: Any) -> str:
        knowledge = self.knowledge
        if fmt:
            return knowledge.text(key, lang, **fmt)
        # A text without arguments is the same every time for one knowledge version (its facts
        # and weekly hours filled in): made once per version, not on every turn that says it.
        made = self._texts.made(knowledge)
        text = made.get((key, lang))
        if text is None:
            text = made[(key, lang)] = knowledge.text(key, lang)
        return text

    def menu_buttons(self, lang: str):
        return self.answering.menu_buttons(lang)

    async def peek(self, session: str) -> ConversationState | None:
        """Return a copy of the conversation's state to read (None for an unknown session)."""
        stored = await self.store.load_state(session)
        return None if stored is None else ConversationState.from_json(stored)

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        return await self.store.transcript(session, after)

    async def post(self, session: str, replies: list[Reply], *, sender: str = "agent",
                   change: HandoffChange | None = None) -> list[dict]:
        """Add messages the guardian did not ask for (an agent's reply, a late reference) to a
        conversation, with the handoff's state change, and push them to its channel; returns the
        stored entries. KeyError for an unknown conversation."""
        async with self.locks.lock(session):
            stored = await self.store.load_state(session)
            if stored is None:
                raise KeyError("no such conversation")
            state = ConversationState.from_json(stored)
            now = self.clock()
            if change is not None:
                state.apply(change)
            state.updated_at = now.isoformat()
            entries = [_entry(sender, r, now) for r in replies]
            stored = await self.store.commit(session, state.to_json(), entries)
        await self._notify(Outbound(session, state.channel, replies, sender, dict(state.reply_to)))
        return stored

    async def _notify(self, outbound: Outbound) -> None:
        for listener in self.listeners:
            try:
                await listener(outbound)
            except Exception:  # a broken channel must not break the conversation
                log.exception("outbound listener failed channel=%s", outbound.channel)

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one input and return the bot's replies, in order."""
        replies, _ = await self.handle_turn(inbound)
        return replies

    async def handle_turn(self, inbound: Inbound) -> tuple[list[Reply], ConversationState]:
        """Handle one input; return the replies and the conversation's state after the turn."""
        understanding = self.source.understanding
        token = _TURN_SOURCE.set((understanding.knowledge, understanding))
        try:
            async with self.locks.lock(inbound.session):
                turn, replies = await self._turn(inbound)
        finally:
            _TURN_SOURCE.reset(token)
        for hook in self.turn_hooks:
            try:
                await hook(turn, replies)
            except Exception:
                log.exception("turn hook failed")
        return replies, turn.state

    async def _turn(self, inbound: Inbound) -> tuple[Turn, list[Reply]]:
        now = self.clock()
        stored = await self.store.load_state(inbound.session)
        state = (ConversationState.new(channel=inbound.channel, lang_hint=inbound.lang_hint, now=now)
                 if stored is None else ConversationState.from_json(stored))
        state.channel = inbound.channel
        if inbound.reply_to:
            state.reply_to = dict(inbound.reply_to)
        turn = Turn(self, inbound, state, None, now, [])
        replies = self._read_input(turn, is_new=stored is None)
        intercepted = None
        for interceptor in self.interceptors:
            interception = await interceptor(turn)
            if interception is not None and interception.change is not None:
                state.apply(interception.change)
            if interception is not None and interception.replies is not None:
                intercepted = interception.replies
                break
        replies += intercepted if intercepted is not None else await self._dispatch(turn)
        offered = [b for r in replies for b in r.buttons]
        if offered or intercepted is None:
            state.offer(offered)
        state.updated_at = now.isoformat()
        # What the turn led to, per message, so `halmstad-bot knowledge gaps` can list the
        # questions nobody has answered yet.
        turn.entries[0]["outcome"] = state.last_outcome
        entries = turn.entries + [_entry("bot", r, now) for r in replies]
        await self.store.commit(inbound.session, state.to_json(), entries)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("turn channel=%s flow=%s step=%s outcome=%s", inbound.channel, state.flow, state.step,
                      state.last_outcome)
        self.turn_log.add(f"{inbound.channel} {state.last_outcome}")
        return turn, replies

    def _read_input(self, turn: Turn, *, is_new: bool) -> list[Reply]:
        """Mask the typed text and choose the reply language, or check the pressed button; add
        the guardian's transcript entry. Returns the masking warning, if any."""
        inbound, state, at = turn.inbound, turn.state, turn.now.isoformat()
        if inbound.text is None:
            payload = inbound.button or ""
            self.commands.check_payload(state, payload)
            turn.entries.append({"from": "user", "text": state.label_of(payload), "button": payload,
                                 "buttons": [], "at": at})
            return []
        masked = privacy.mask(inbound.text)
        turn.text = masked.text
        # The reply follows the message's language when it is clear; otherwise the client's
        # language (at the start, or when it changed: the widget's switch), else the session's.
        hint = inbound.lang_hint if inbound.lang_hint in LANGS else None
        prior = hint if hint and (is_new or hint != state.lang_hint) else state.lang
        if hint:
            state.lang_hint = hint
        state.lang = choose_language(inbound.text, prior)
        turn.entries.append({"from": "user", "text": masked.text, "buttons": [], "at": at})
        return [Reply(self.t("privacy.masked_warning", state.lang))] if masked.found else []

    async def _dispatch(self, turn: Turn) -> list[Reply]:
        state, button = turn.state, turn.inbound.button
        if button is not None:
            kind, _, value = button.partition(":")
            if kind == "cmd":
                return await self.commands.run(turn, value)
            if kind == "flow":
                return await self.runner.start(turn, value, {}, None)
            if kind == "faq":
                return await self.answering.answer_entry(turn, self.knowledge.entries[value], None)
            if kind == "ans" and state.flow:
                state.detours = 0
                return await self.runner.run_step(turn, Answer(choice=value))
            raise UnknownButton("this button is not offered in the conversation")
        text = turn.text or ""
        command = self.commands.command_of(text, state)
        if command:
            return await self.commands.run(turn, command)
        match = self.understanding.match(text)
        if state.flow:
            return await self.runner.in_flow(turn, text, match)
        return await self.answering.understood(turn, text, match)


def _entry(sender: str, reply: Reply, now: datetime) -> dict:
    return {"from": sender, "text": reply.text, "buttons": [b.to_json() for b in reply.buttons],
            "at": now.isoformat()}
