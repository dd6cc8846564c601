"""What `serve --redis-url` does while Redis cannot be reached: answer 503, not hang or 500.

`redis_unavailable` is a middleware (inside `api_errors`, so it sees the error first): any request
whose handler fails because Redis is down, still loading its data after a restart, read-only
during a failover, out of memory (`maxmemory-policy noeviction`), refusing writes because it
cannot persist them (MISCONF), or because a conversation's lock stayed busy (`LockBusy`), gets
503 {"error": ...} with Retry-After. Nothing was stored for such a request, so sending it again
is safe. The log line names the kind of failure only. `redis_check` is the /healthz probe.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import TryAgainError

from bot.store.redis_lock import LockBusy

log = logging.getLogger("halmstad.redis")

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OutOfMemoryError, MasterDownError,
               TryAgainError, LockBusy)
RETRY_AFTER = "5"
PING_TIMEOUT = 2.0


@web.middleware
async def redis_unavailable(request: web.Request, handler):
    """Turn "Redis cannot be reached" into 503 JSON on every path."""
    try:
        return await handler(request)
    except (*UNAVAILABLE, ResponseError) as exc:
        if not isinstance(exc, UNAVAILABLE) and not str(exc).startswith("MISCONF"):
            raise
        log.warning("shared store unavailable path=%s error=%s", request.path.split("/")[1:3], type(exc).__name__)
        message = ("this conversation is busy; please try again" if isinstance(exc, LockBusy)
                   else "the service is temporarily unavailable; please try again")
        return web.json_response({"error": message}, status=503, headers={"Retry-After": RETRY_AFTER})


def redis_check(client: Redis) -> Callable[[], Awaitable[bool]]:
    """A /healthz probe: True when Redis answers PING within PING_TIMEOUT seconds."""

    async def check() -> bool:
        try:
            return bool(await asyncio.wait_for(client.ping(), PING_TIMEOUT))
        except (RedisError, OSError, asyncio.TimeoutError):
            return False

    return check
