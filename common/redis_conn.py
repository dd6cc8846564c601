"""The connection to Redis when several serve processes share one (`--redis-url`, issue 17).

`RedisSettings(url, prefix)` is what `serve` is told; `connect()` opens the maintained asyncio
client (redis-py's `redis.asyncio`) with bytes replies; `key()` puts every key under the prefix
(default `halmstad:`) so several municipalities can share one Redis. Without `--redis-url` nothing
here is used and everything stays in the process and its files, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import secrets

import redis
from redis.asyncio import Redis

DEFAULT_PREFIX = "halmstad:"


@dataclass(frozen=True)
class RedisSettings:
    url: str
    prefix: str = DEFAULT_PREFIX

    def key(self, *parts: str) -> str:
        """`settings.key("conv", session)` → "halmstad:conv:<session>"."""
        return self.prefix + ":".join(parts)

    def connect(self) -> Redis:
        """A client pool for this URL; commands retry once after a dropped connection."""
        return Redis.from_url(self.url, decode_responses=False, health_check_interval=30,
                              socket_connect_timeout=5, retry_on_timeout=True)


def shared_secret(settings: RedisSettings, name: str, size: int = 32) -> bytes:
    """Return the secret every process sharing this Redis uses for `name`, made by the first
    that asks (SET NX, so two starting together agree). Called once at start-up, before the event
    loop serves, hence the blocking client."""
    client = redis.Redis.from_url(settings.url, socket_connect_timeout=5)
    try:
        key = settings.key("secret", name)
        client.set(key, secrets.token_bytes(size), nx=True)
        value = client.get(key)
    finally:
        client.close()
    if not value or len(value) < 16:
        raise ValueError(f"the shared secret {name!r} in Redis is missing or too short")
    return value


def check_prefix(prefix: str) -> str | None:
    """Return why a `--redis-prefix` is unusable, or None."""
    if not prefix or len(prefix) > 64 or any(c.isspace() for c in prefix):
        return "--redis-prefix must be 1–64 characters without spaces, e.g. halmstad:"
    return None
