"""Telegram messages the core posts on its own, sent once and not lost when a process dies (issue 17).

With several processes, a message posted through `engine.post` (an agent's reply, a late
data-rights reference) reaches the engine's listeners of the one process that posted it, so that
process sends it: never two processes. What a single process could lose is a message whose
process died between the post and the send. So with `--redis-url` this outbox is the engine's
Telegram listener: it records the message in `<prefix>telegram:outbox` with a lease
(`<prefix>telegram:lease:<id>`, this process's, LEASE_SECONDS) and sends it through the channel
(in the chat's order, under the channel's chat lock); the record goes once the channel is done.
Every process looks for records whose lease has lapsed (their process died mid-send) and sends
them, taking the lease first, so one process does. The lease outlasts the channel's own retries
(three attempts, flood waits of at most 30 s), so a slow send is never sent again by another;
a process that dies after Telegram took the message but before the record went sends it twice
at most, the price of never losing one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.channels.telegram import CHANNEL
from common.messages import Button, Outbound, Reply
from common.redis_conn import RedisSettings

log = logging.getLogger("halmstad.shared")
LEASE_SECONDS = 300.0
RECOVER_SECONDS = 30.0


def _replies(raw: list[dict]) -> list[Reply]:
    return [Reply(r["text"], tuple(Button(b["label"], b["payload"]) for b in r.get("buttons", ()))) for r in raw]


def _telegram_chat(outbound: Outbound) -> int | None:
    """The chat a posted message goes to, or None when it is not one for Telegram."""
    chat_id = outbound.reply_to.get("telegram_chat_id") if outbound.channel == CHANNEL else None
    return chat_id if isinstance(chat_id, int) and outbound.replies else None


class TelegramOutbox:
    """The engine's Telegram listener on a shared Redis: record, send, forget; recover the lapsed."""

    def __init__(self, redis: Redis, settings: RedisSettings, channel: Any, *, lease: float = LEASE_SECONDS,
                 interval: float = RECOVER_SECONDS) -> None:
        self.redis = redis
        self.channel = channel  # a TelegramChannel: `locks(chat_id)`, `send(...)`, `engine`, `ready`
        self.hash_key = settings.key("telegram", "outbox")
        self.lease_prefix = settings.key("telegram", "lease", "")
        self.lease_ms = int(lease * 1000)
        self.interval = interval
        self.origin = uuid.uuid4().hex
        self._tasks: set[asyncio.Task] = set()

    async def on_outbound(self, outbound: Outbound) -> None:
        """Record a posted Telegram message with this process's lease, then send it in a task."""
        chat_id = _telegram_chat(outbound)
        if chat_id is None:
            return
        state = await self.channel.engine.peek(outbound.session)
        record = {"chat_id": chat_id, "lang": state.lang if state is not None else "sv",
                  "replies": [reply.to_json() for reply in outbound.replies]}
        item_id = uuid.uuid4().hex
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.hash_key, item_id, json.dumps(record, ensure_ascii=False))
            pipe.set(self.lease_prefix + item_id, self.origin, px=self.lease_ms)
            await pipe.execute()
        self._spawn(item_id, record)

    def _spawn(self, item_id: str, record: dict) -> None:
        task = asyncio.get_running_loop().create_task(self._send(item_id, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, item_id: str, record: dict) -> None:
        async with self.channel.locks(record["chat_id"]):
            await self.channel.send(record["chat_id"], _replies(record["replies"]), record["lang"])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.hash_key, item_id)
            pipe.delete(self.lease_prefix + item_id)
            await pipe.execute()

    async def recover_once(self) -> int:
        """Send the recorded messages whose lease has lapsed (their process died); return how many."""
        taken = 0
        for field in await self.redis.hkeys(self.hash_key):
            item_id = field.decode()
            if not await self.redis.set(self.lease_prefix + item_id, self.origin, nx=True, px=self.lease_ms):
                continue  # its process (or another recovering one) is sending it
            raw = await self.redis.hget(self.hash_key, item_id)
            if raw is None:  # sent meanwhile: its process removes record and lease together
                await self.redis.delete(self.lease_prefix + item_id)
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                await self.redis.hdel(self.hash_key, item_id)
                continue
            taken += 1
            log.info("telegram message of a stopped process sent by this one")
            self._spawn(item_id, record)
        return taken

    async def run(self) -> None:
        """Once the channel is connected, recover lapsed messages every `interval` seconds."""
        await self.channel.ready.wait()
        while True:
            try:
                await self.recover_once()
            except (RedisError, OSError) as exc:
                log.warning("telegram outbox unreachable error=%s", type(exc).__name__)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        """Let the sends in progress finish (a few seconds at most) at shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
