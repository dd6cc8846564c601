"""Everything several `serve` processes share besides conversations, in one Redis (issue 17).

`SharedState(redis, settings)` makes the Redis side of each part that has a process-local default,
for the composition root (bot/app.py) to plug in when `--redis-url` is given:

| part | local default | shared here |
| --- | --- | --- |
| handoff queue items, audit, counter | `FileItems` (DATA_DIR/handoff/) | `RedisItems` (hash + lock + list) |
| agent presence, console sessions | dicts in `Presence`/`Sessions` | `SharedMap`s, wall-clock time |
| places told, what agents read, typing | `ServiceMemory` dicts | `SharedMap`s; once-only notices as claims |
| console pushes (`Hub`) | this process's sockets | relayed through the change stream |
| widget pushes (`PushHub`) | this process's sockets | relayed through the change stream |
| chat rate limits | `RateLimiter` | `RedisRateLimiter` |
| data-rights outbox | `PendingQueue` (files) | `RedisPendingQueue` |
| data-rights staff sessions | `MemorySessions` | `RedisSessions` (common/) |
| console and staff page login throttles | `LoginGuard` | `RedisLoginGuard` (common/) |
| Telegram posts | sent by the posting process | the same, recorded first (`TelegramOutbox`) |

`start()` (at app startup) notes where the change stream stands, loads the maps and the items, and
follows the stream; the `middleware` makes an agent request see every change acknowledged before
it (catch up first) and be written before its answer leaves (flush after).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Callable

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.channels.push import PushHub
from bot.channels.telegram import TelegramChannel
from bot.handoff.agents import Presence, Sessions
from bot.handoff.service import Hub, ServiceMemory
from bot.shared_redis.bus import EventBus
from bot.shared_redis.handoff import RedisClaims, RedisItems
from bot.shared_redis.maps import SharedMap
from bot.shared_redis.pending import RedisPendingQueue
from bot.shared_redis.ratelimit import RedisRateLimiter
from bot.shared_redis.telegram_outbox import TelegramOutbox
from common.redis_conn import RedisSettings
from common.redis_loginguard import RedisLoginGuard
from common.redis_sessions import RedisSessions

log = logging.getLogger("halmstad.shared")
MAPS = ("agent_sessions", "presence", "heartbeats", "announced", "seen", "typing")
CATCH_UP_PATHS = ("/agent/",)
SWEEP_SECONDS = 600.0


class SharedState:
    """The shared parts of one process, on one Redis client."""

    def __init__(self, redis: Redis, settings: RedisSettings) -> None:
        self.redis = redis
        self.settings = settings
        self.bus = EventBus(redis, settings)
        self.maps = {name: SharedMap(self.bus, name) for name in MAPS}
        self.items = RedisItems(self.bus)
        self.bus.on_resync(self._reload)
        self._follower: asyncio.Task | None = None
        self._janitor: asyncio.Task | None = None
        self.sessions: Sessions | None = None

    # The parts ----------------------------------------------------------------------------------

    def presence(self) -> Presence:
        return Presence(entries=self.maps["presence"], beats=self.maps["heartbeats"], now=time.time)

    def agent_sessions(self, lifetime: float) -> Sessions:
        self.sessions = Sessions(lifetime, entries=self.maps["agent_sessions"], now=time.time)
        return self.sessions

    def service_memory(self) -> ServiceMemory:
        return ServiceMemory(announced=self.maps["announced"], seen=self.maps["seen"], typing=self.maps["typing"],
                             claims=RedisClaims(self.bus), now=time.time, catch_up=self.bus.catch_up_turn)

    def hub(self) -> Hub:
        """The consoles' hub: an event published anywhere reaches the consoles of every process."""
        hub = Hub(relay=lambda event: self.bus.publish("hub", event))
        self.bus.on("hub", lambda event, _own: hub.deliver(event))
        return hub

    def connect_push(self, push: PushHub) -> None:
        """A post on any process wakes the widget sockets of that conversation on every process."""
        push.relay = lambda session: self.bus.publish("push", {"session": session})
        self.bus.on("push", lambda payload, _own: push.wake(str(payload.get("session"))))

    def limiter(self, name: str, limit: int) -> RedisRateLimiter:
        return RedisRateLimiter(self.redis, self.settings, name, limit)

    def pending(self, clock: Callable[[], datetime]) -> RedisPendingQueue:
        return RedisPendingQueue(self.redis, self.settings, clock=clock)

    def telegram_outbox(self, channel: TelegramChannel) -> TelegramOutbox:
        return TelegramOutbox(self.redis, self.settings, channel)

    def claims(self, days: int = 30) -> RedisClaims:
        """Once-only claims every process shares (the weekly review reminders, …)."""
        return RedisClaims(self.bus, days=days)

    def staff_sessions(self, name: str) -> RedisSessions:
        return RedisSessions(self.redis, self.settings, name)

    def login_guard(self, name: str) -> RedisLoginGuard:
        """The login throttle of `name` ("console", "staff"), counting in Redis for every process."""
        return RedisLoginGuard(self.redis, self.settings, name)

    # Running ------------------------------------------------------------------------------------

    async def start(self, after_load: Callable[[], None] | None = None) -> None:
        """Load what is shared now and follow every change from here on; `after_load` runs once
        the items are read. With Redis down, keep trying in the background (turns answer 503
        meanwhile) rather than refuse to start."""
        try:
            await self._load(after_load)
        except (RedisError, OSError) as exc:
            log.warning("shared state unreachable at start error=%s; retrying", type(exc).__name__)
            self._follower = asyncio.get_running_loop().create_task(self._retry(after_load))

    async def _reload(self) -> None:
        for shared in self.maps.values():
            await shared.load()
        await self.items.load()

    async def _load(self, after_load: Callable[[], None] | None) -> None:
        await self.bus.start()
        await self._reload()
        if after_load is not None:
            after_load()
        self._follower = asyncio.get_running_loop().create_task(self.bus.run())
        self._janitor = asyncio.get_running_loop().create_task(self._sweep_sessions())

    async def _sweep_sessions(self) -> None:
        """Forget ended console sessions now and then (a shared map keeps them otherwise)."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            if self.sessions is not None:
                self.sessions.sweep()

    async def _retry(self, after_load: Callable[[], None] | None) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await self._load(after_load)
                return
            except (RedisError, OSError):
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        self.bus.closing = True
        running = [task for task in (self._follower, self._janitor) if task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.bus.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        """An agent request sees every change made before it (on any process); what a request
        changed without awaiting (a session, a heartbeat) is written before its answer leaves."""
        if request.path.startswith(CATCH_UP_PATHS):
            await self.bus.catch_up()
        try:
            return await handler(request)
        finally:
            await self.bus.flush()
