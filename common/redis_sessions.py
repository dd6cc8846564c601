"""Staff login sessions in Redis, so a staff member signed in through one `serve` process is
signed in on every one (issue 17). One key per session, `<prefix>sessions:<name>:<digest>`, holding
the record as JSON and expiring with it; the `SessionKeeper` of common/sessionkeeper.py.
"""
from __future__ import annotations

import json

from redis.asyncio import Redis

from common.redis_conn import RedisSettings


class RedisSessions:
    """Sessions of one kind of login (`name`, e.g. "dsr") in Redis."""

    def __init__(self, redis: Redis, settings: RedisSettings, name: str) -> None:
        self.redis = redis
        self.prefix = settings.key("sessions", name, "")

    async def get(self, digest: str) -> dict | None:
        raw = await self.redis.get(self.prefix + digest)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    async def put(self, digest: str, record: dict, ttl: float) -> None:
        await self.redis.set(self.prefix + digest, json.dumps(record), px=max(1, int(min(ttl, 366 * 86400) * 1000)))

    async def drop(self, digest: str) -> None:
        await self.redis.delete(self.prefix + digest)
