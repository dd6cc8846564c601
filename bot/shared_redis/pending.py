"""The data-rights outbox in Redis, shared by every `serve` process (issue 17).

The same rules as bot/pending.py's file outbox (`PendingRules`): a request is stored (and, with
`appendfsync always`, on Redis's disk) before the guardian hears "received", and delivered with
its own idempotency key. Here the items live in `<prefix>pending:items` (id -> JSON), the ids
not yet closed in `<prefix>pending:open`, each conversation's ids in `<prefix>pending:session:<s>`.

Two processes' workers never deliver one request at once: a delivery holds the item's lock in
Redis (`<prefix>pending:lock:<id>`, SET NX with an expiry longer than a delivery may take) and
reads the item again under it, so the second finds it delivered. Should a lock lapse under a very
slow backend, the second attempt carries the same Idempotency-Key and the backend answers the
same case: never two cases. Telling the guardian is claimed once (`claim`), by one process.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone
from typing import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import LockError

from bot.pending import BACKOFF_CAP, BACKOFF_START, PendingRules
from common.locks import KeyedLocks
from common.redis_conn import RedisSettings

LOCK_SECONDS = 120.0  # longer than any delivery attempt (the worker's timeout is 10 s)


class LockTimeout(RuntimeError):
    """The item's lock could not be taken in time (another process is delivering it)."""


class RedisPendingQueue(PendingRules):
    """Keeps data-rights requests in Redis until the backend has them and the guardian is told."""

    def __init__(self, redis: Redis, settings: RedisSettings, *, clock: Callable[[], datetime] | None = None,
                 backoff_start: float = BACKOFF_START, backoff_cap: float = BACKOFF_CAP) -> None:
        self.redis = redis
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.backoff_start = backoff_start
        self.backoff_cap = backoff_cap
        self.changed = asyncio.Event()
        self._locks = KeyedLocks()
        self.items_key = settings.key("pending", "items")
        self.open_key = settings.key("pending", "open")

    def _session_key(self, session: str) -> str:
        return self.settings.key("pending", "session", session)

    @staticmethod
    def _closed(item: dict) -> bool:
        return bool(item.get("announced")) and bool(item.get("delivered") or item.get("rejected"))

    async def _put(self, item: dict) -> None:
        """Write the item, its place among the open ones and its conversation's index, atomically."""
        if self._closed(item) and item.get("delivered"):
            item["body"] = None  # the backend holds the request now; keep no second copy
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.items_key, item["id"], json.dumps(item, ensure_ascii=False, separators=(",", ":")))
            if self._closed(item):
                pipe.srem(self.open_key, item["id"])
            else:
                pipe.sadd(self.open_key, item["id"])
            pipe.sadd(self._session_key(item["session"]), item["id"])
            await pipe.execute()

    async def _store_new(self, item: dict) -> None:
        await self._put(item)

    async def _store(self, item: dict) -> None:
        await self._put(item)

    async def _many(self, ids) -> list[dict]:
        ids = sorted(i.decode() if isinstance(i, bytes) else i for i in ids)
        if not ids:
            return []
        raw = await self.redis.hmget(self.items_key, ids)
        items = [json.loads(r) for r in raw if r is not None]
        items.sort(key=lambda i: (i.get("created_at", ""), i["id"]))
        return items

    async def get(self, item_id: str) -> dict | None:
        raw = await self.redis.hget(self.items_key, item_id)
        return json.loads(raw) if raw is not None else None

    async def open_items(self) -> list[dict]:
        return await self._many(await self.redis.smembers(self.open_key))

    async def for_session(self, session: str) -> list[dict]:
        return await self._many(await self.redis.smembers(self._session_key(session)))

    @contextlib.asynccontextmanager
    async def _locked(self, item_id: str) -> AsyncIterator[None]:
        async with self._locks.lock(item_id):
            lock = self.redis.lock(self.settings.key("pending", "lock", item_id), timeout=LOCK_SECONDS,
                                   sleep=0.05, blocking_timeout=LOCK_SECONDS)
            if not await lock.acquire():
                raise LockTimeout("another process is still delivering this request")
            try:
                yield
            finally:
                with contextlib.suppress(LockError):
                    await lock.release()

    def lock(self, item_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locked(item_id)

    async def claim(self, name: str, seconds: float) -> bool:
        return bool(await self.redis.set(self.settings.key("pending", "claim", name), b"1", nx=True,
                                         px=int(seconds * 1000)))

    async def unclaim(self, name: str) -> None:
        await self.redis.delete(self.settings.key("pending", "claim", name))

    async def prune(self, before: datetime) -> int:
        """Delete closed items created before `before` (they follow the transcripts' retention)."""
        removed = 0
        async for field, raw in self.redis.hscan_iter(self.items_key, count=500):
            item = json.loads(raw)
            if not self._closed(item):
                continue
            try:
                created = datetime.fromisoformat(item["created_at"])
            except (KeyError, TypeError, ValueError):
                continue
            if created.tzinfo is not None and created < before:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(self.items_key, field)
                    pipe.srem(self._session_key(item["session"]), field)
                    await pipe.execute()
                removed += 1
        return removed
