"""The handoff queue's items in Redis, shared by every `serve` process (issue 17).

`RedisItems` is the `ItemStorage` of bot/handoff/queue.py for `serve --redis-url`: the items in
the hash `<prefix>handoff:items` (id -> JSON), the audit log in the list `<prefix>handoff:audit`,
the conversation counter in `<prefix>handoff:counters`. Every process keeps a copy of the items
for its synchronous reads (the console's lists, the interceptor), kept fresh by the change stream.

A change holds a cross-process lock (`<prefix>handoff:lock`, SET NX with an expiry, so a killed
process cannot keep it), catches up with the stream (so the copy is exactly what Redis holds; the
script that takes the lock reads the stream too, bot/store/redis_lock.py's `LeaseLock`), and writes the item with its stream entry in one Lua call that first checks the lock is still
this process's: "accept" stays atomic across processes, and with `appendfsync always` a queued
handoff or left message is on Redis's disk before the guardian is told.

A left message is written without the lock (`insert`, see bot/handoff/queue.py): a new item
under a fresh id, set only if Redis does not hold that id yet (HSETNX) and with its stream entry,
in one Lua call, so no fence is needed and no item is ever overwritten. Every change to an
existing item still holds the lock.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import AsyncIterator

from redis.exceptions import RedisError

from bot.handoff.queue import IndexedItemsField, QueueError
from bot.shared_redis.bus import EventBus, read_json_hash
from bot.shared_redis.maps import apply_change
from bot.store.redis_lock import Held, LeaseLock, LockBusy

log = logging.getLogger("halmstad.shared")
ITEM_EVENT = "handoff:item"
LOCK_SECONDS = 10.0  # a change takes milliseconds; a killed holder blocks others this long at most
POLL = 0.003  # seconds between tries while another process changes the queue (a change is ~2 round trips)

# KEYS: stream, items hash. ARGV: maxlen, kind, origin, payload, id, item JSON. A new item: set
# only if the id is free, with its stream entry (bus.py's WRITE_SCRIPT, with HSETNX for HSET and
# no lock). Returns the entry id, or false (nothing written) when the id is taken.
_INSERT = """
if redis.call('HSETNX', KEYS[2], ARGV[5], ARGV[6]) == 0 then return false end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[2], 'o', ARGV[3], 'p', ARGV[4])
"""


class RedisItems:
    """The queue's items, audit log and counters in Redis; changes under a Redis lock."""

    items = IndexedItemsField()

    def __init__(self, bus: EventBus, *, lock_seconds: float = LOCK_SECONDS) -> None:
        self.bus = bus
        self.items = {}
        self.hash_key = bus.key("handoff", "items")
        self.audit_key = bus.key("handoff", "audit")
        self.counters_key = bus.key("handoff", "counters")
        self.lock_key = bus.key("handoff", "lock")
        self._local = asyncio.Lock()
        self._insert = bus.redis.register_script(_INSERT)
        self._lease = LeaseLock(bus.redis, lease=lock_seconds, wait=lock_seconds * 2, poll=POLL, follower=bus)
        self._token: str | None = None
        self._counters = {"name": "totals", "conversations": 0}
        bus.on(ITEM_EVENT, self._on_item)

    @property
    def lock_seconds(self) -> float:
        """How long the queue's lock lasts (a killed holder blocks the others this long)."""
        return self._lease.lease

    @lock_seconds.setter
    def lock_seconds(self, seconds: float) -> None:
        self._lease.lease, self._lease.wait = seconds, seconds * 2

    async def load(self) -> None:
        """Read every item and the counter (at startup, after the bus noted the stream's end)."""
        self.items = await read_json_hash(self.bus.redis, self.hash_key)
        total = await self.bus.redis.hget(self.counters_key, "conversations")
        self._counters = {"name": "totals", "conversations": int(total or 0)}

    def _on_item(self, payload: dict, _own: bool) -> None:
        apply_change(self.items, payload)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        async with self._local:
            # One round trip takes the lock and reads the stream's news (catching up the copy).
            held = Held("handoff", self.lock_key, secrets.token_hex(16))
            try:
                await self._lease.take(held)
            except LockBusy:
                raise QueueError("the queue is busy; please try again", 503) from None
            self._token = held.token
            try:
                if not held.caught_up:
                    await self.bus.catch_up()
                yield
            finally:
                self._token = None
                try:
                    if not await self._lease.release(held):
                        log.warning("handoff lock had expired before it was released")
                except RedisError as exc:
                    log.warning("handoff lock not released (it expires by itself): %s", type(exc).__name__)

    def lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locked()

    def _fence(self) -> tuple[str, str]:
        if self._token is None:
            raise RuntimeError("a handoff item is changed only under the queue's lock")
        return self.lock_key, self._token

    async def save(self, item: dict) -> None:
        await self.bus.write(ITEM_EVENT, {"key": item["id"], "value": item}, op="set", hash_key=self.hash_key,
                             field=item["id"], value=json.dumps(item, ensure_ascii=False), lock=self._fence())
        self.items[item["id"]] = item

    async def remove(self, ids: list[str]) -> None:
        for item_id in ids:
            await self.bus.write(ITEM_EVENT, {"key": item_id, "value": None}, op="del", hash_key=self.hash_key,
                                 field=item_id, lock=self._fence())
            self.items.pop(item_id, None)

    async def insert(self, item: dict) -> bool:
        """Write a new item without the queue's lock; False, writing nothing, when Redis holds its
        id already. The copy takes it only if the follower has not applied its entry yet: else
        the copy already has it, or a later change made by another process (which saw it)."""
        bus = self.bus
        entry = await self._insert(keys=[bus.stream, self.hash_key],
                                   args=[bus.maxlen, ITEM_EVENT, bus.origin,
                                         json.dumps({"key": item["id"], "value": item}, ensure_ascii=False),
                                         item["id"], json.dumps(item, ensure_ascii=False)])
        if entry is None:
            return False
        if not bus.applied(entry):
            self.items[item["id"]] = item
        return True

    async def catch_up(self) -> None:
        """Apply every change written so far (another process's left message, for the repeat check)."""
        await self.bus.catch_up()

    async def audit(self, line: str) -> None:
        await self.bus.redis.rpush(self.audit_key, line)

    def audit_log(self) -> list[dict]:
        raise RuntimeError("the shared audit log is read with `await RedisItems.audit_records()`")

    async def audit_records(self) -> list[dict]:
        """Return the audit records every process wrote, oldest first."""
        return [json.loads(line) for line in await self.bus.redis.lrange(self.audit_key, 0, -1)]

    def counters(self) -> dict:
        return self._counters

    async def add_conversations(self, count: int) -> dict:
        total = await self.bus.redis.hincrby(self.counters_key, "conversations", count)
        self._counters = {"name": "totals", "conversations": int(total)}
        return self._counters


class RedisClaims:
    """Once-only notices across processes: the first SET NX wins (kept `days` days)."""

    def __init__(self, bus: EventBus, days: int = 30) -> None:
        self.redis = bus.redis
        self.prefix = bus.key("claim", "")
        self.seconds = days * 86400

    async def first(self, name: str) -> bool:
        return bool(await self.redis.set(self.prefix + name, b"1", nx=True, ex=self.seconds))
