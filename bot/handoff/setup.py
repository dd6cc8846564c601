"""Plug the handoff into `serve`: the queue, the engine interceptor, the agent console, metrics.

`bot/app.py` builds the parts with `build_handoff` and mounts the console. The heartbeat timeout (how long
an agent's console may stay silent before its conversations go back to the queue) is 60 seconds,
or `HALMSTAD_AGENT_HEARTBEAT_SECONDS`; tests may also change `app[HANDOFF_KEY].heartbeat_timeout`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from aiohttp import web

from bot.handoff.agents import Presence, Sessions
from bot.handoff.console import Console, setup_routes
from bot.handoff.queue import HandoffQueue, ItemStorage
from bot.handoff.service import HandoffService, Hub, ServiceMemory

log = logging.getLogger("halmstad.handoff")
HANDOFF_KEY = web.AppKey("handoff_service", HandoffService)
DEFAULT_HEARTBEAT_SECONDS = 60.0


def _heartbeat_seconds() -> float:
    raw = os.environ.get("HALMSTAD_AGENT_HEARTBEAT_SECONDS")
    if not raw:
        return DEFAULT_HEARTBEAT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("HALMSTAD_AGENT_HEARTBEAT_SECONDS must be a number of seconds, e.g. 60") from None
    if value <= 0:
        raise ValueError("HALMSTAD_AGENT_HEARTBEAT_SECONDS must be more than 0")
    return value


@dataclass
class HandoffParts:
    """The handoff's parts: the durable queue, who is online, the consoles' sockets, the service;
    `sessions` replaces the console's own sessions when they are shared between processes."""

    queue: HandoffQueue
    presence: Presence
    hub: Hub
    service: HandoffService
    sessions: Sessions | None = None

    def mount(self, app: web.Application, runtime) -> None:
        """Add the agent console's routes; close its sockets at shutdown and flush the queue last."""
        console = Console(runtime, self.service, self.presence)
        if self.sessions is not None:
            console.sessions = self.sessions
        setup_routes(app, console)

        async def close_consoles(_app: web.Application) -> None:
            await self.hub.close()

        async def close() -> None:
            await self.service.drain()
            await self.queue.flush_counters()
            self.queue.shutdown()

        app.on_shutdown.append(close_consoles)
        runtime.closers.append(close)

    def expect_agents(self) -> None:
        """Agents who held conversations when the server stopped get one heartbeat timeout to
        come back (called once the queue's items are read)."""
        for item in self.queue.assigned():
            self.presence.expect(item["agent"])


def build_handoff(data_dir, clock, *, storage: ItemStorage | None = None, presence: Presence | None = None,
                  hub: Hub | None = None, memory: ServiceMemory | None = None,
                  sessions: Sessions | None = None) -> HandoffParts:
    """Open the queue (on the data dir, unless `storage` is given: then the caller reads its items
    and calls `expect_agents`); the other parts default to this process's own."""
    queue = HandoffQueue(data_dir, clock, storage)
    presence = presence or Presence()
    hub = hub or Hub()
    service = HandoffService(queue, presence, hub, heartbeat_timeout=_heartbeat_seconds(), memory=memory)
    parts = HandoffParts(queue, presence, hub, service, sessions)
    if storage is None:
        parts.expect_agents()
    return parts
