"""What one turn is, as the engine's parts see it: the `Turn` being handled, the `Interception` an
interceptor may answer with, and `Dialogue`, the engine as its parts call it back (so the parts
need not import the engine that owns them)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.knowledge import Knowledge
from bot.state import ConversationState, HandoffChange
from bot.understanding import Understanding
from common.messages import Button, Inbound, Reply


class Dialogue(Protocol):
    """The engine's face to its parts (commands, flow runner, interruptions, answering)."""

    flows: dict
    services: Any
    runner: Any
    answering: Any
    commands: Any
    interruptions: Any

    @property
    def knowledge(self) -> Knowledge: ...

    @property
    def understanding(self) -> Understanding: ...

    def t(self, key: str, lang: str, **fmt: Any) -> str: ...

    def menu_buttons(self, lang: str) -> tuple[Button, ...]: ...


@dataclass
class Turn:
    """One input being handled: what interceptors (e.g. a live handoff) see."""

    engine: Dialogue
    inbound: Inbound
    state: ConversationState
    text: str | None
    now: datetime
    entries: list[dict]
    command: str | None = None  # the global command being carried out, if any


@dataclass(frozen=True)
class Interception:
    """An interceptor's state change for the engine to make, and its replies if it takes the turn."""

    change: HandoffChange | None = None
    replies: list[Reply] | None = None
