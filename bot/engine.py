"""The dialogue manager: one turn of a conversation, whatever the channel.

For each input: global commands first (cancel, menu, help, language, privacy, a person), then the
active flow's step; input that does not answer the step but clearly asks something else is answered
and the step asked again (an interruption). Without a flow, the understanding decides: answer an
FAQ entry or start a flow, offer the best candidates, or fall back. State is plain JSON with a
schema version, stored through the `SessionStore` port after every turn, one lock per conversation.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Protocol

from common import privacy
from bot.knowledge import LANGS, Entry, Knowledge
from bot.language import choose_language
from common.messages import Button, Inbound, Outbound, Reply
from bot.store.base import SessionStore
from bot.understanding import Match, Understanding, normalize
from flows import answers
from flows.machine import (
    Answer, Escalate, Finish, Flow, FlowContext, FlowDefinitionError, Goto, NotAnAnswer, Stay,
    choice_payload,
)

log = logging.getLogger("halmstad.engine")
STATE_VERSION = 1
MAX_HOPS = 12

# Typed words that act as commands at any point (normalised, whole message).
COMMANDS = {
    "cancel": {"avbryt", "cancel", "stopp", "stop", "sluta", "avsluta", "abort", "quit", "/avbryt",
               "avbryt allt", "borja om", "start over", "restart"},
    "menu": {"meny", "menu", "huvudmeny", "main menu", "/meny", "/menu", "/start", "start", "tillbaka",
             "back"},
    "help": {"hjalp", "help", "/hjalp", "/help", "?", "hjalpa"},
    "language": {"sprak", "language", "/sprak", "/language", "byt sprak", "change language"},
    "resume": {"fortsatt", "fortsatt dar vi var", "continue", "resume", "go on", "ta upp igen"},
    "lang:en": {"english", "engelska", "in english", "pa engelska", "english please", "/en"},
    "lang:sv": {"svenska", "swedish", "in swedish", "pa svenska", "/sv"},
    "privacy": {"integritet", "/integritet", "privacy", "/privacy", "integritetspolicy",
                "privacy notice", "personuppgifter", "dataskydd"},
}
_COMMAND_OF = {word: cmd for cmd, words in COMMANDS.items() for word in words}
_QUESTION_WORDS = {"nar", "vad", "hur", "var", "vem", "vilka", "vilken", "varfor", "kan", "ar", "har",
                   "when", "what", "how", "where", "who", "which", "why", "can", "are", "is", "do", "does"}


# The knowledge and understanding one turn uses, fixed at its start, so that a live reload in the
# middle of a turn never mixes two versions (a context variable: each turn's task sees its own).
_TURN_SOURCE: contextvars.ContextVar[tuple] = contextvars.ContextVar("turn_source")


class UnknownButton(ValueError):
    """Raised for a button payload the conversation never offered."""


class KnowledgeSource(Protocol):
    """Gives the knowledge and understanding in force now (swapped on live reload)."""

    knowledge: Knowledge
    understanding: Understanding


@dataclass
class StaticKnowledge:
    """A knowledge source that never changes (tests, `chat`)."""

    knowledge: Knowledge
    understanding: Understanding = field(init=False)

    def __post_init__(self) -> None:
        self.understanding = Understanding(self.knowledge)


@dataclass
class Services:
    """What flows may call: backend clients and the hours calendar factory. All optional."""

    activation: Any = None
    dsr: Any = None
    handoff: Any = None
    pending: Any = None  # durable queue of data-rights requests waiting for delivery
    extra: dict = field(default_factory=dict)


Interceptor = Callable[["Turn"], Awaitable[list[Reply] | None]]
Listener = Callable[[Outbound], Awaitable[None]]


@dataclass
class Turn:
    """One input being handled: what interceptors (e.g. a live handoff) see and may change."""

    engine: "Engine"
    inbound: Inbound
    state: dict
    text: str | None
    now: datetime
    entries: list[dict]


def new_state(inbound: Inbound, now: datetime) -> dict:
    """Return the state of a conversation that starts with `inbound`."""
    lang = inbound.lang_hint if inbound.lang_hint in LANGS else "sv"
    return {
        "v": STATE_VERSION, "lang": lang, "channel": inbound.channel, "flow": None, "step": None,
        "data": {}, "offered": [], "misses": 0, "topic": None, "created_at": now.isoformat(),
        "updated_at": now.isoformat(), "handoff": None, "last_outcome": None,
    }


_DEFAULTS = {"lang": "sv", "channel": "web", "flow": None, "step": None, "offered": [], "misses": 0,
             "topic": None, "handoff": None, "last_outcome": None}


def migrate_state(state: dict) -> dict:
    """Bring a stored state to the current schema version, filling what an older one lacks."""
    for key, default in _DEFAULTS.items():
        state.setdefault(key, list(default) if isinstance(default, list) else default)
    if not isinstance(state.get("data"), dict):
        state["data"] = {}
    if state["lang"] not in LANGS:
        state["lang"] = "sv"
    state["v"] = STATE_VERSION
    return state


class Engine:
    """Handles inputs for every conversation; the only place that changes conversation state."""

    def __init__(
        self,
        *,
        source: KnowledgeSource,
        store: SessionStore,
        flows: dict[str, Flow],
        clock: Callable[[], datetime],
        services: Services | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.flows = flows
        self.clock = clock
        self.services = services or Services()
        self.interceptors: list[Interceptor] = []
        self.listeners: list[Listener] = []
        self.turn_hooks: list[Callable[[Turn, list[Reply]], Awaitable[None]]] = []
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # Locks and outbound ---------------------------------------------------------------------

    def lock(self, session: str) -> asyncio.Lock:
        """Return the conversation's lock, so two inputs of one user never race."""
        lock = self._locks.get(session)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session] = lock
        return lock

    async def post(self, session: str, replies: list[Reply], *, sender: str = "agent",
                   state_update: Callable[[dict], None] | None = None) -> list[dict]:
        """Add messages the guardian did not ask for (an agent's reply, a late reference) to a
        conversation and push them to its channel; returns the stored entries."""
        async with self.lock(session):
            stored = await self.store.load_state(session)
            if stored is None:
                raise KeyError("no such conversation")
            state = migrate_state(stored)
            now = self.clock()
            if state_update:
                state_update(state)
            state["updated_at"] = now.isoformat()
            entries = [self._entry(sender, r, now) for r in replies]
            stored = await self.store.commit(session, state, entries)
        await self._notify(Outbound(session, state.get("channel", "web"), replies, sender))
        return stored

    async def _notify(self, outbound: Outbound) -> None:
        for listener in list(self.listeners):
            try:
                await listener(outbound)
            except Exception:  # a broken channel must not break the conversation
                log.exception("outbound listener failed channel=%s", outbound.channel)

    # Texts ----------------------------------------------------------------------------------

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
        return self.knowledge.text(key, lang, **fmt)

    def menu_buttons(self, lang: str) -> tuple[Button, ...]:
        k = self.knowledge
        return tuple(Button(k.text(f"menu.{name}", lang), payload) for name, payload in (
            ("account", "flow:account"), ("activation", "flow:activation"), ("hours", "faq:hours-overview"),
            ("data_rights", "flow:data_rights"), ("human", "cmd:human"),
        ) if payload[4:] in k.entries or not payload.startswith("faq:"))

    @staticmethod
    def _entry(sender: str, reply: Reply, now: datetime) -> dict:
        return {"from": sender, "text": reply.text, "buttons": [b.to_json() for b in reply.buttons],
                "at": now.isoformat()}

    # The turn -------------------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one input and return the bot's replies, in order."""
        replies, _ = await self.handle_turn(inbound)
        return replies

    async def handle_turn(self, inbound: Inbound) -> tuple[list[Reply], dict]:
        """Handle one input; return the replies and the conversation's state after the turn."""
        understanding = self.source.understanding
        token = _TURN_SOURCE.set((understanding.knowledge, understanding))
        try:
            return await self._handle_turn(inbound)
        finally:
            _TURN_SOURCE.reset(token)

    async def _handle_turn(self, inbound: Inbound) -> tuple[list[Reply], dict]:
        async with self.lock(inbound.session):
            now = self.clock()
            stored = await self.store.load_state(inbound.session)
            is_new = stored is None
            state = new_state(inbound, now) if is_new else migrate_state(stored)
            state["channel"] = inbound.channel
            text = None
            replies: list[Reply] = []
            user_entry: dict
            if inbound.text is not None:
                masked = privacy.mask(inbound.text)
                text = masked.text
                # The reply follows the message's language when it is clear; otherwise the client's
                # language (at the start, or when it changed: the widget's switch), else the session's.
                hint = inbound.lang_hint if inbound.lang_hint in LANGS else None
                prior = hint if hint and (is_new or hint != state.get("lang_hint")) else state["lang"]
                if hint:
                    state["lang_hint"] = hint
                state["lang"] = choose_language(inbound.text, prior)
                user_entry = {"from": "user", "text": text, "buttons": [], "at": now.isoformat()}
                if masked.found:
                    replies.append(Reply(self.t("privacy.masked_warning", state["lang"])))
            else:
                payload = inbound.button or ""
                self._check_payload(state, payload)
                label = next((b.get("label") for b in state.get("offered_buttons", [])
                              if b.get("payload") == payload), payload)
                user_entry = {"from": "user", "text": label, "button": payload, "buttons": [],
                              "at": now.isoformat()}
            turn = Turn(self, inbound, state, text, now, [user_entry])
            intercepted = None
            for interceptor in self.interceptors:
                intercepted = await interceptor(turn)
                if intercepted is not None:
                    break
            if intercepted is not None:
                replies += intercepted
            else:
                replies += await self._dispatch(turn)
            offered = [b for r in replies for b in r.buttons]
            if offered or intercepted is None:
                state["offered"] = [b.payload for b in offered]
                state["offered_buttons"] = [b.to_json() for b in offered]
            state["updated_at"] = now.isoformat()
            # What the turn led to (answer, clarify, fallback, flow:..., cmd:...), per message, so
            # `halmstad-bot knowledge gaps` can list the questions nobody has answered yet.
            user_entry["outcome"] = state.get("last_outcome")
            entries = turn.entries + [self._entry("bot", r, now) for r in replies]
            await self.store.commit(inbound.session, state, entries)
            log.info("turn channel=%s flow=%s step=%s outcome=%s", inbound.channel, state.get("flow"),
                     state.get("step"), state.get("last_outcome"))
        for hook in self.turn_hooks:
            try:
                await hook(turn, replies)
            except Exception:
                log.exception("turn hook failed")
        return replies, state

    def _check_payload(self, state: dict, payload: str) -> None:
        kind, _, value = payload.partition(":")
        known = (
            (kind == "cmd" and value in {"menu", "help", "cancel", "human", "privacy", "language",
                                         "lang:sv", "lang:en", "resume"})
            or (kind == "flow" and value in self.flows)
            or (kind == "faq" and value in self.knowledge.entries
                and not self.knowledge.entries[value].out_of_scope)
            or payload in state.get("offered", [])
        )
        if not known:
            raise UnknownButton("this button is not offered in the conversation")

    async def _dispatch(self, turn: Turn) -> list[Reply]:
        state, inbound = turn.state, turn.inbound
        if inbound.button is not None:
            kind, _, value = inbound.button.partition(":")
            if kind == "cmd":
                return await self.command(turn, value)
            if kind == "flow":
                return await self.start_flow(turn, value, {}, None)
            if kind == "faq":
                return await self.answer_entry(turn, self.knowledge.entries[value], None)
            if kind == "ans" and state.get("flow"):
                state["detours"] = 0
                return await self.run_step(turn, Answer(choice=value))
            raise UnknownButton("this button is not offered in the conversation")
        text = turn.text or ""
        norm = normalize(text)
        command = _COMMAND_OF.get(norm) or _COMMAND_OF.get(text.strip().lower())
        if command == "resume" and (state.get("flow") or not state.get("paused")):
            command = None  # "fortsätt" is then an ordinary answer (e.g. a step's "Fortsätt" button)
        if command:
            return await self.command(turn, command)
        match = self.understanding.match(text)
        if state.get("flow"):
            return await self._in_flow(turn, text, match)
        return await self.understood(turn, text, match)

    async def _in_flow(self, turn: Turn, text: str, match: Match) -> list[Reply]:
        """Give typed text to the active step, read by the one interpreter of flows/answers.py:
        a change of mind, a choice (typed or in words), a person, a correction, an age; only input
        that answers nothing and clearly asks something else is a detour to the FAQ."""
        state = turn.state
        flow = self.flows.get(state["flow"])
        step = flow.by_id.get(state.get("step") or "") if flow else None
        if flow is None or step is None:
            state["flow"], state["step"], state["data"] = None, None, {}
            return await self.understood(turn, text, match)
        reading = answers.read(text, step, flow, self.knowledge, state["data"])
        if reading.cancel:
            return await self.command(turn, "cancel")
        if reading.exact is not None:
            replies = await self.run_step(turn, Answer(text=text, choice=reading.exact))
            if replies is not None:
                state["detours"] = 0
                return replies
        best = match.best
        entry = self.knowledge.entries.get(best.entry_id) if best else None
        if flow.name != "handoff" and (reading.human or (
                match.outcome == "answer" and entry and entry.flow == "handoff")):
            return await self.start_flow(turn, "handoff", {"reason": "asked"}, text)
        if reading.correction:
            state["detours"] = 0
            return await self._correct(turn, flow, step, reading.field, text)
        if reading.unsure:
            state["detours"] = 0
            return [Reply(self.t(reading.unsure, state["lang"]), self._prompt_buttons(turn, step))]
        if reading.choice is not None:
            replies = await self.run_step(turn, Answer(text=text, choice=reading.choice))
            if replies is not None:
                state["detours"] = 0
                return self._also_answer(turn, reading.question) + replies
        if (step.free_text and match.outcome == "answer" and entry is not None
                and self._looks_like_question(text) and entry.flow != flow.name):
            return await self.interrupt(turn, entry, text, flow)
        replies = await self.run_step(turn, Answer(text=text))
        if replies is not None:
            state["detours"] = 0
            return replies
        if match.outcome == "answer" and entry is not None and entry.flow != flow.name:
            return await self.interrupt(turn, entry, text, flow)
        lang = state["lang"]
        if not reading.answered:  # a worded answer the step could not take is no detour
            state["detours"] = state.get("detours", 0) + 1
        if match.outcome == "clarify":
            out = await self.understood(turn, text, match)
            return out + await self._prompt(turn, flow, flow.by_id[state["step"]])
        out = [Reply(self.t("core.not_an_answer", lang))]
        if state.get("detours", 0) >= 3:
            return out + self._pause(turn, flow)
        out += await self._prompt(turn, flow, flow.by_id[state["step"]])
        return out

    async def _correct(self, turn: Turn, flow: Flow, step, field_name: str | None, text: str) -> list[Reply]:
        """Go back to the field a correction names ("oj, fel adress"), taking a new value typed with
        it ("fel nummer, det är 070-765 43 21"); with no field named, the step's "change" choice."""
        state = turn.state
        fld = next((f for f in flow.fields if f.name == field_name), None) if field_name else None
        if fld is None:
            replies = await self.run_step(turn, Answer(text=text, choice="change"))
            if replies is not None:
                return replies
            return [Reply(self.t("core.not_an_answer", state["lang"]))] + await self._prompt(turn, flow, step)
        flow.check_transition(step, Goto(fld.step))
        for key in fld.keys:
            state["data"].pop(key, None)
        target = flow.by_id[fld.step]
        state["step"] = fld.step
        if target.choices:  # "fel, det gäller ett nytt konto": the sentence may answer it again
            again = answers.read(text, target, flow, self.knowledge, state["data"])
            answer = Answer(text=text, choice=again.exact or again.choice) if again.exact or again.choice else None
        else:
            value = answers.find_contact(text).value if target.expects in ("contact", "email") else None
            answer = Answer(text=value) if value else None
        if answer is not None:
            replies = await self.run_step(turn, answer)
            if replies is not None:
                return replies
        return await self._enter(turn, flow, fld.step)

    def _also_answer(self, turn: Turn, question: str | None) -> list[Reply]:
        """Answer a question typed after a yes or no ("ja men hur gör jag om …?") when the FAQ
        knows it clearly and it needs no guided conversation of its own."""
        if not question:
            return []
        match = self.understanding.match(question)
        entry = self.knowledge.entries.get(match.best.entry_id) if match.best else None
        if match.outcome != "answer" or entry is None or entry.flow or not entry.answer:
            return []
        return [self.render_entry(entry, turn.state["lang"])]

    def _prompt_buttons(self, turn: Turn, step) -> tuple[Button, ...]:
        lang = turn.state["lang"]
        return tuple(Button(self.t(c.label, lang), choice_payload(c.value)) for c in step.choices)

    def _pause(self, turn: Turn, flow: Flow) -> list[Reply]:
        """Set the flow aside after repeated detours: the guardian has moved on; offer to resume."""
        state = turn.state
        lang = state["lang"]
        state["paused"] = {"flow": state["flow"], "step": state["step"], "data": state["data"]}
        state["flow"], state["step"], state["data"] = None, None, {}
        state["detours"] = 0
        title = self.t(flow.title, lang)
        log.info("flow paused flow=%s", flow.name)
        return [Reply(self.t("core.flow_paused", lang, title=title),
                      (Button(self.t("core.resume_button", lang, title=title), "cmd:resume"),
                       Button(self.t("core.none_of_these_menu", lang), "cmd:menu")))]

    @staticmethod
    def _looks_like_question(text: str) -> bool:
        words = normalize(text).split()
        return text.strip().endswith("?") or bool(words and words[0] in _QUESTION_WORDS)

    async def interrupt(self, turn: Turn, entry: Entry, text: str, flow: Flow) -> list[Reply]:
        """Answer a question asked in the middle of a flow, then ask the step again."""
        state = turn.state
        saved = (state["flow"], state["step"], dict(state["data"]))
        detours = state.get("detours", 0)  # a one-shot flow run on the side starts its own count
        out: list[Reply] = []
        if entry.flow and entry.flow != flow.name and self._is_one_shot(entry.flow):
            # A one-step flow (hours) answers and ends at once; run it on a scratch state.
            out += await self.start_flow(turn, entry.flow, entry.flow_args, text, say_answer=entry)
        elif entry.flow and entry.flow != flow.name:
            lang = state["lang"]
            out.append(Reply(self.t("core.other_flow_offer", lang, title=self.t(self.flows[entry.flow].title, lang)),
                             (Button(self.t(self.flows[entry.flow].title, lang), f"flow:{entry.flow}"),)))
        else:
            out += await self.answer_entry(turn, entry, text, resume=True)
        state["flow"], state["step"], state["data"] = saved
        state["last_outcome"] = "interruption"
        state["detours"] = detours + 1
        if state["detours"] >= 3:
            return out + self._pause(turn, flow)
        out.append(Reply(self.t("core.resume", state["lang"])))
        out += await self._prompt(turn, flow, flow.by_id[state["step"]])
        return out

    def _is_one_shot(self, name: str) -> bool:
        return getattr(self.flows.get(name), "one_shot", False)

    async def understood(self, turn: Turn, text: str, match: Match) -> list[Reply]:
        """Act on the understanding's decision when no flow is waiting for an answer."""
        state = turn.state
        lang = state["lang"]
        knowledge = self.knowledge
        state["last_outcome"] = match.outcome
        if match.outcome == "answer":
            state["misses"] = 0
            entry = knowledge.entries[match.best.entry_id]
            state["topic"] = entry.id
            if entry.flow:
                return await self.start_flow(turn, entry.flow, entry.flow_args, text, say_answer=entry)
            return await self.answer_entry(turn, entry, text)
        if match.outcome == "clarify":
            state["misses"] = 0
            buttons = []
            for cand in match.candidates[:3]:
                entry = knowledge.entries[cand.entry_id]
                label = entry.phrasings.get(lang, entry.phrasings["sv"])[0]
                buttons.append(Button(_sentence(label), f"faq:{entry.id}"))
            buttons.append(Button(self.t("core.none_of_these", lang), "cmd:menu"))
            return [Reply(self.t("core.clarify", lang), tuple(buttons))]
        state["misses"] = state.get("misses", 0) + 1
        buttons = list(self.menu_buttons(lang))
        if state["misses"] >= 2:
            return [Reply(self.t("core.fallback_twice", lang),
                          (Button(self.t("menu.human", lang), "cmd:human"),) + tuple(
                              b for b in buttons if b.payload != "cmd:human"))]
        return [Reply(self.t("core.fallback", lang), tuple(buttons))]

    async def answer_entry(self, turn: Turn, entry: Entry, text: str | None, *, resume: bool = False) -> list[Reply]:
        """Say an FAQ entry's answer (and start its flow, if it has one and no flow is active)."""
        state = turn.state
        state["topic"] = entry.id
        state["last_outcome"] = "answer"
        if entry.flow and not resume:
            return await self.start_flow(turn, entry.flow, entry.flow_args, text, say_answer=entry)
        return [self.render_entry(entry, state["lang"])] if entry.answer else []

    def render_entry(self, entry: Entry, lang: str) -> Reply:
        """Render an entry's answer with its links and follow-up buttons."""
        knowledge = self.knowledge
        body = knowledge.render(entry.answer[lang], lang) if entry.answer else ""
        if entry.links:
            body += "\n" + "\n".join(f"{link['label'][lang]}: {link['url']}" for link in entry.links)
        buttons = tuple(Button(b["label"][lang], b["payload"]) for b in entry.buttons)
        return Reply(body.strip(), buttons)

    # Commands -------------------------------------------------------------------------------

    async def command(self, turn: Turn, command: str) -> list[Reply]:
        """Carry out a global command, available at every step."""
        state = turn.state
        lang = state["lang"]
        state["last_outcome"] = f"cmd:{command}"
        if command == "cancel":
            had_flow = state.get("flow") is not None or state.pop("paused", None) is not None
            state["flow"], state["step"], state["data"] = None, None, {}
            key = "core.cancelled" if had_flow else "core.nothing_to_cancel"
            return [Reply(self.t(key, lang), self.menu_buttons(lang))]
        if command == "menu":
            state["flow"], state["step"], state["data"] = None, None, {}
            return [Reply(self.t("core.menu", lang), self.menu_buttons(lang))]
        if command == "help":
            flow = self.flows.get(state.get("flow") or "")
            step = flow.by_id.get(state.get("step") or "") if flow else None
            if step and step.help:
                out = [Reply(self.t(step.help, lang))]
                return out + await self._prompt(turn, flow, step)
            return [Reply(self.t("core.help", lang), self.menu_buttons(lang))]
        if command in ("lang:sv", "lang:en", "language"):
            if command == "language":
                new = "en" if lang == "sv" else "sv"
            else:
                new = command.split(":")[1]
            state["lang"] = new
            out = [Reply(self.t("core.language_set", new))]
            flow = self.flows.get(state.get("flow") or "")
            if flow and state.get("step") in flow.by_id:
                out += await self._prompt(turn, flow, flow.by_id[state["step"]])
            else:
                out[0] = Reply(out[0].text, self.menu_buttons(new))
            return out
        if command == "privacy":
            knowledge = self.knowledge
            privacy_settings = knowledge.settings.get("privacy", {})
            decision = privacy_settings.get("retention_decision", {}).get(lang, "")
            out = [Reply(self.t("privacy.notice", lang, retention_days=privacy_settings.get("retention_days", 90),
                                retention_decision=decision))]
            flow = self.flows.get(state.get("flow") or "")
            if flow and state.get("step") in flow.by_id:
                out += await self._prompt(turn, flow, flow.by_id[state["step"]])
            return out
        if command == "human":
            return await self.start_flow(turn, "handoff", {"reason": "asked"}, turn.text)
        if command == "resume":
            paused = state.pop("paused", None)
            flow = self.flows.get((paused or {}).get("flow") or "")
            if not paused or flow is None or paused.get("step") not in flow.by_id:
                return [Reply(self.t("core.nothing_to_resume", lang), self.menu_buttons(lang))]
            state["flow"], state["step"], state["data"] = paused["flow"], paused["step"], paused["data"]
            state["detours"] = 0
            return [Reply(self.t("core.resume", lang))] + await self._prompt(turn, flow, flow.by_id[state["step"]])
        raise UnknownButton(f"unknown command {command!r}")

    # Flows ----------------------------------------------------------------------------------

    def _context(self, turn: Turn) -> FlowContext:
        state = turn.state
        return FlowContext(
            session=turn.inbound.session, channel=turn.inbound.channel, lang=state["lang"],
            data=state["data"], now=turn.now, texts=self.t, services=self.services,
            knowledge=self.knowledge, client=turn.inbound.client,
        )

    async def start_flow(self, turn: Turn, name: str, args: dict, text: str | None, *,
                         say_answer: Entry | None = None) -> list[Reply]:
        """Start flow `name` (leaving any other), optionally after an entry's answer."""
        flow = self.flows.get(name)
        state = turn.state
        out: list[Reply] = []
        if say_answer is not None and say_answer.answer:
            out.append(self.render_entry(say_answer, state["lang"]))
        if flow is None:
            return out or [Reply(self.t("core.fallback", state["lang"]), self.menu_buttons(state["lang"]))]
        state["flow"], state["step"] = name, flow.start
        state["data"] = {"args": dict(args or {}), "text": text}
        state["detours"] = 0
        if name != "handoff" and not self._is_one_shot(name):
            state.pop("paused", None)
        state["topic"] = state.get("topic") or name
        state["last_outcome"] = f"flow:{name}"
        log.info("flow start flow=%s", name)
        return out + await self._enter(turn, flow, flow.start)

    async def run_step(self, turn: Turn, answer: Answer) -> list[Reply] | None:
        """Give the answer to the active step; None when it is not an answer to it."""
        state = turn.state
        flow = self.flows[state["flow"]]
        step = flow.by_id[state["step"]]
        ctx = self._context(turn)
        transition = await step.on_answer(ctx, answer)
        if isinstance(transition, NotAnAnswer):
            if ctx.out:
                return ctx.out
            return None
        return ctx.out + await self._follow(turn, flow, step, transition, ctx)

    async def _follow(self, turn: Turn, flow: Flow, step, transition, ctx: FlowContext, hops: int = 0) -> list[Reply]:
        flow.check_transition(step, transition)
        state = turn.state
        if hops > MAX_HOPS:
            raise FlowDefinitionError(f"flow {flow.name!r} moved more than {MAX_HOPS} times in one turn")
        if isinstance(transition, Goto):
            return await self._enter(turn, flow, transition.step, hops + 1)
        if isinstance(transition, Stay):
            return await self._prompt(turn, flow, step) if transition.reprompt else []
        if isinstance(transition, Finish):
            state["flow"], state["step"], state["data"] = None, None, {}
            log.info("flow end flow=%s", flow.name)
            if transition.menu:
                return [Reply(self.t("core.anything_else", state["lang"]), self.menu_buttons(state["lang"]))]
            return []
        if isinstance(transition, Escalate):
            log.info("flow escalate flow=%s reason=%s", flow.name, transition.reason)
            return await self.start_flow(turn, "handoff", {"reason": transition.reason, "from": flow.name}, None)
        raise FlowDefinitionError(f"flow {flow.name!r}: unknown transition {transition!r}")

    async def _enter(self, turn: Turn, flow: Flow, step_id: str, hops: int = 0) -> list[Reply]:
        state = turn.state
        step = flow.by_id[step_id]
        state["step"] = step_id
        out: list[Reply] = []
        if step.on_enter is not None:
            ctx = self._context(turn)
            transition = await step.on_enter(ctx)
            out += ctx.out
            if transition is not None and not isinstance(transition, Stay):
                return out + await self._follow(turn, flow, step, transition, ctx, hops)
            if isinstance(transition, Stay) and not transition.reprompt:
                return out
        return out + await self._prompt(turn, flow, step)

    async def _prompt(self, turn: Turn, flow: Flow, step) -> list[Reply]:
        if step.prompt is None and not step.choices:
            return []
        lang = turn.state["lang"]
        data = {k: v for k, v in turn.state["data"].items() if isinstance(v, (str, int, float))}
        text = self.t(step.prompt, lang, **data) if step.prompt else ""
        buttons = tuple(Button(self.t(c.label, lang), choice_payload(c.value)) for c in step.choices)
        return [Reply(text, buttons)]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
