"""Shared test fixtures: the project's knowledge, an engine, a conversation driver, a server."""
from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import make_clock
from bot.holder import KnowledgeHolder
from bot.state import ConversationState
from bot.engine import Engine
from flows.ports import Services
from bot.knowledge import default_knowledge_dir
from common.messages import Button, Inbound, Reply
from bot.store.memory import MemoryStore
from flows.registry import all_flows
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def holder() -> KnowledgeHolder:
    """The project's shipped knowledge, loaded and validated once."""
    return KnowledgeHolder(default_knowledge_dir(), all_flows())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Talk:
    """Drives one conversation through the engine like a channel would, collecting replies.

    `await talk("hur aktiverar jag appen")`, then `talk.last.text`, `talk.text` (all replies of the
    turn joined), `talk.buttons`, `await talk.press("Ja")` (by label or payload).
    """

    def __init__(self, engine: Engine, session: str = "t-session", channel: str = "web") -> None:
        self.engine = engine
        self.session = session
        self.channel = channel
        self.replies: list[Reply] = []

    async def __call__(self, text: str, lang_hint: str | None = None) -> list[Reply]:
        self.replies = await self.engine.handle(Inbound(session=self.session, text=text,
                                                        channel=self.channel, lang_hint=lang_hint))
        return self.replies

    async def press(self, label_or_payload: str) -> list[Reply]:
        for button in self.buttons:
            if label_or_payload in (button.label, button.payload):
                self.replies = await self.engine.handle(Inbound(session=self.session, button=button.payload,
                                                                channel=self.channel))
                return self.replies
        raise AssertionError(f"no button {label_or_payload!r} among {[b.label for b in self.buttons]}")

    @property
    def last(self) -> Reply:
        assert self.replies, "the bot said nothing"
        return self.replies[-1]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.replies)

    @property
    def buttons(self) -> list[Button]:
        return [b for r in self.replies for b in r.buttons]

    async def state(self) -> ConversationState:
        return await self.engine.peek(self.session) or ConversationState()


@pytest.fixture
def make_engine(holder):
    """Build an engine on the shipped knowledge with a memory store and an optional fixed clock."""

    def make(now: str | datetime | None = "2026-12-01T10:00", services: Services | None = None,
             store: Any = None, **hooks: Any) -> Engine:
        """`hooks`: the engine's interceptors, listeners and turn_hooks, as bot/app.py passes them."""
        return Engine(source=holder, store=store or MemoryStore(), flows=all_flows(),
                      clock=make_clock(now), services=services or Services(), **hooks)
    return make


@pytest.fixture
def talk(make_engine) -> Talk:
    """A conversation on a Tuesday morning (2026-12-01 10:00, Halmstad direkt open)."""
    return Talk(make_engine())


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port with AOF (appendfsync always) in a temp dir."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
