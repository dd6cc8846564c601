"""Plug the handoff into `serve`: the queue, the engine interceptor, the agent console, metrics.

`bot/app.py` calls `setup(app, runtime)` when this module exists. The heartbeat timeout (how long
an agent's console may stay silent before its conversations go back to the queue) is 60 seconds,
or `HALMSTAD_AGENT_HEARTBEAT_SECONDS`; tests may also change `app[HANDOFF_KEY].heartbeat_timeout`.
"""
from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web

from bot.handoff.agents import Presence
from bot.handoff.console import Console, setup_routes
from bot.handoff.queue import HandoffQueue
from bot.handoff.service import HandoffService, Hub

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


def setup(app: web.Application, runtime) -> HandoffService:
    """Wire the handoff into the app and the engine; return the service (also in app[HANDOFF_KEY])."""
    queue = HandoffQueue(runtime.config.data_dir, runtime.clock)
    presence = Presence()
    hub = Hub()
    service = HandoffService(runtime.engine, queue, presence, hub, heartbeat_timeout=_heartbeat_seconds())
    # Agents who held conversations when the server stopped get one timeout to come back.
    for item in queue.assigned():
        presence.expect(item["agent"])
    runtime.engine.services.handoff = service
    runtime.engine.interceptors.insert(0, service.intercept)
    runtime.engine.turn_hooks.append(service.after_turn)
    app[HANDOFF_KEY] = service
    setup_routes(app, Console(runtime, service, presence))

    async def start_sweeper(_app: web.Application) -> None:
        runtime.background.append(asyncio.get_running_loop().create_task(service.run_sweeper()))

    async def close_consoles(_app: web.Application) -> None:
        await hub.close()

    async def close() -> None:
        await service.drain()
        await queue.flush_counters()
        queue.shutdown()

    app.on_startup.append(start_sweeper)
    app.on_shutdown.append(close_consoles)
    runtime.closers.append(close)
    return service
