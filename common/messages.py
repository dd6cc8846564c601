"""The channel-neutral messages that pass between channels and the engine."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    """A choice the bot offers; `payload` comes back as `Inbound.button` when chosen."""

    label: str
    payload: str

    def to_json(self) -> dict:
        return {"label": self.label, "payload": self.payload}


@dataclass(frozen=True)
class Reply:
    """One message from the bot to the guardian."""

    text: str
    buttons: tuple[Button, ...] = ()

    def to_json(self) -> dict:
        return {"text": self.text, "buttons": [b.to_json() for b in self.buttons]}


@dataclass(frozen=True)
class Inbound:
    """One input from a guardian: typed text or a pressed button (exactly one of them)."""

    session: str
    text: str | None = None
    button: str | None = None
    channel: str = "web"
    lang_hint: str | None = None  # e.g. the browser's or Telegram's language; only a hint
    # A keyed hash of the client's address (common/netaddr.py), never the address itself: flows pass
    # it to backends' per-client limits, so a new conversation per request does not reset them.
    client: str | None = None
    # Where the channel delivers later messages (an agent's reply) for this conversation, e.g.
    # {"telegram_chat_id": 7}; kept with the conversation and handed back on `Outbound`.
    reply_to: dict | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.button is None):
            raise ValueError("an Inbound carries exactly one of text and button")


@dataclass
class Outbound:
    """A message the core sends on its own (an agent's reply, a late reference) to a session."""

    session: str
    channel: str
    replies: list[Reply] = field(default_factory=list)
    sender: str = "bot"  # "bot" | "agent" | "system"
    reply_to: dict = field(default_factory=dict)  # the channel's address (see Inbound.reply_to)
