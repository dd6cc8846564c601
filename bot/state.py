"""The typed state of one conversation, stored as JSON (schema version 2) after every turn.

Only the engine changes a `ConversationState`; the handoff and the channels ask the engine (an
interceptor returns a `HandoffChange`, `Engine.post` takes one). `from_json` reads what any
earlier version wrote (version 1: a flat dict with `telegram`, `offered` payloads and ad-hoc keys)
and never fails on a stored value of the wrong type: it falls back to the default for that field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.messages import Button

VERSION = 2
LANGS = ("sv", "en")


@dataclass
class FlowPosition:
    """Where a guided conversation stands: the flow, the step waiting for an answer, its data."""

    flow: str
    step: str
    data: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"flow": self.flow, "step": self.step, "data": self.data}

    @classmethod
    def from_json(cls, raw: Any) -> "FlowPosition | None":
        if not isinstance(raw, dict) or not isinstance(raw.get("flow"), str) or not isinstance(raw.get("step"), str):
            return None
        data = raw.get("data")
        return cls(raw["flow"], raw["step"], data if isinstance(data, dict) else {})


@dataclass
class HandoffStatus:
    """The conversation's place in the handoff: waiting in the queue, talking to an agent, or
    back with the bot with a satisfaction question open (`csat_for` the queue item)."""

    item: str | None = None
    waiting: bool = False
    active: bool = False  # an agent is connected: the guardian's messages go to the agent
    agent: str | None = None  # the agent's first name, as the guardian was told it
    csat_for: str | None = None

    def to_json(self) -> dict:
        return {"item": self.item, "waiting": self.waiting, "active": self.active, "agent": self.agent,
                "csat_for": self.csat_for}

    @classmethod
    def from_json(cls, raw: Any) -> "HandoffStatus | None":
        if not isinstance(raw, dict):
            return None
        item = raw.get("item", raw.get("id"))  # version 1 called it "id"
        return cls(item=_str(item), waiting=raw.get("waiting") is True, active=raw.get("active") is True,
                   agent=_str(raw.get("agent")), csat_for=_str(raw.get("csat_for")))


@dataclass(frozen=True)
class HandoffChange:
    """What the handoff asks the engine to do to a conversation's state (the engine applies it)."""

    handoff: HandoffStatus | None
    outcome: str | None = None
    leave_flow: bool = False
    offer: tuple[Button, ...] = ()


@dataclass
class ConversationState:
    """Everything the assistant remembers between two turns of one conversation."""

    lang: str = "sv"
    channel: str = "web"
    created_at: str = ""
    updated_at: str = ""
    lang_hint: str | None = None  # the client's last language hint (the widget's switch)
    position: FlowPosition | None = None  # the guided conversation in progress
    paused: FlowPosition | None = None  # one set aside after repeated detours, to resume
    detours: int = 0  # questions answered on the side since the step was last answered
    misses: int = 0  # fallbacks in a row
    topic: str | None = None  # the FAQ entry or flow the conversation is about
    last_outcome: str | None = None  # answer | clarify | fallback | flow:x | cmd:x | handoff:x ...
    offered: list[Button] = field(default_factory=list)  # the buttons of the bot's last turn
    handoff: HandoffStatus | None = None
    reply_to: dict = field(default_factory=dict)  # channel metadata, e.g. {"telegram_chat_id": 7}

    # Reading ------------------------------------------------------------------------------------

    @property
    def flow(self) -> str | None:
        return self.position.flow if self.position else None

    @property
    def step(self) -> str | None:
        return self.position.step if self.position else None

    @property
    def data(self) -> dict:
        """The active flow's form data (an empty scratch dict outside a flow)."""
        if self.position is None:
            return {}
        return self.position.data

    def offered_payloads(self) -> list[str]:
        return [b.payload for b in self.offered]

    def label_of(self, payload: str) -> str:
        return next((b.label for b in self.offered if b.payload == payload), payload)

    # Transitions --------------------------------------------------------------------------------

    def enter_flow(self, flow: str, step: str, data: dict | None = None) -> None:
        self.position = FlowPosition(flow, step, data if data is not None else {})
        self.detours = 0

    def move_to(self, step: str) -> None:
        if self.position is None:
            raise RuntimeError("no flow is active")
        self.position.step = step

    def leave_flow(self) -> None:
        self.position = None

    def pause(self) -> None:
        """Set the active flow aside, to be resumed on request."""
        self.paused, self.position, self.detours = self.position, None, 0

    def resume(self) -> FlowPosition | None:
        """Take the paused flow back up; return it (None if nothing was paused)."""
        paused, self.paused = self.paused, None
        if paused is not None:
            self.position, self.detours = paused, 0
        return paused

    def offer(self, buttons: list[Button] | tuple[Button, ...]) -> None:
        self.offered = list(buttons)

    def apply(self, change: HandoffChange) -> None:
        self.handoff = change.handoff
        if change.outcome:
            self.last_outcome = change.outcome
        if change.leave_flow:
            self.leave_flow()
        if change.offer:
            self.offer(change.offer)

    # JSON ---------------------------------------------------------------------------------------

    @classmethod
    def new(cls, *, channel: str, lang_hint: str | None, now: datetime) -> "ConversationState":
        return cls(lang=lang_hint if lang_hint in LANGS else "sv", channel=channel,
                   created_at=now.isoformat(), updated_at=now.isoformat())

    def to_json(self) -> dict:
        return {
            "v": VERSION, "lang": self.lang, "channel": self.channel, "created_at": self.created_at,
            "updated_at": self.updated_at, "lang_hint": self.lang_hint,
            "position": self.position.to_json() if self.position else None,
            "paused": self.paused.to_json() if self.paused else None,
            "detours": self.detours, "misses": self.misses, "topic": self.topic,
            "last_outcome": self.last_outcome, "offered": [b.to_json() for b in self.offered],
            "handoff": self.handoff.to_json() if self.handoff else None, "reply_to": dict(self.reply_to),
        }

    @classmethod
    def from_json(cls, raw: dict) -> "ConversationState":
        """Read a stored state of any version (1 or 2); a wrong-typed value gets its default."""
        if not isinstance(raw, dict):
            raw = {}
        if raw.get("v", 1) == 1:
            raw = _from_v1(raw)
        lang = raw.get("lang")
        return cls(
            lang=lang if lang in LANGS else "sv", channel=_str(raw.get("channel")) or "web",
            created_at=_str(raw.get("created_at")) or "", updated_at=_str(raw.get("updated_at")) or "",
            lang_hint=raw.get("lang_hint") if raw.get("lang_hint") in LANGS else None,
            position=FlowPosition.from_json(raw.get("position")), paused=FlowPosition.from_json(raw.get("paused")),
            detours=_count(raw.get("detours")), misses=_count(raw.get("misses")), topic=_str(raw.get("topic")),
            last_outcome=_str(raw.get("last_outcome")), offered=_buttons(raw.get("offered")),
            handoff=HandoffStatus.from_json(raw.get("handoff")),
            reply_to=raw["reply_to"] if isinstance(raw.get("reply_to"), dict) else {},
        )


def _from_v1(raw: dict) -> dict:
    """Version 1 kept the flow position flat, offered payloads and buttons apart, and the
    Telegram chat id under "telegram"."""
    out = dict(raw)
    out["position"] = ({"flow": raw.get("flow"), "step": raw.get("step"), "data": raw.get("data")}
                       if raw.get("flow") else None)
    buttons = raw.get("offered_buttons")
    if not isinstance(buttons, list):
        buttons = [{"label": p, "payload": p} for p in raw.get("offered") or [] if isinstance(p, str)]
    out["offered"] = buttons
    chat = (raw.get("telegram") or {}).get("chat_id") if isinstance(raw.get("telegram"), dict) else None
    out["reply_to"] = {"telegram_chat_id": chat} if isinstance(chat, int) else {}
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _buttons(raw: Any) -> list[Button]:
    if not isinstance(raw, list):
        return []
    return [Button(str(b.get("label", b["payload"])), b["payload"]) for b in raw
            if isinstance(b, dict) and isinstance(b.get("payload"), str)]
