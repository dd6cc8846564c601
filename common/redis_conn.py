"""The connection to Redis when several serve processes share one (`--redis-url`, issue 17).

`RedisSettings(url, prefix)` is what `serve` is told; `connect()` opens the maintained asyncio
client (redis-py's `redis.asyncio`) with bytes replies; `key()` puts every key under the prefix
(default `halmstad:`) so several municipalities can share one Redis. Without `--redis-url` nothing
here is used and everything stays in the process and its files, as before.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis
from redis.asyncio import BlockingConnectionPool, Redis

DEFAULT_PREFIX = "halmstad:"
MAX_CONNECTIONS = 128  # per process; redis-server's default maxclients is 10,000
POOL_WAIT = 10.0  # seconds a command waits for a free connection (then 503, like a busy lock)


@dataclass(frozen=True)
class RedisSettings:
    url: str
    prefix: str = DEFAULT_PREFIX

    def key(self, *parts: str) -> str:
        """`settings.key("conv", session)` → "halmstad:conv:<session>"."""
        return self.prefix + ":".join(parts)

    def connect(self, max_connections: int = MAX_CONNECTIONS) -> Redis:
        """A client with its own pool for this URL; commands retry once after a dropped
        connection. When every connection is busy (more turns in flight than `max_connections`)
        a command waits up to POOL_WAIT seconds for one instead of failing at once (redis-py's
        plain pool raised MaxConnectionsError: 966 of the 200-concurrent benchmark's requests)."""
        pool = BlockingConnectionPool.from_url(
            self.url, max_connections=max_connections, timeout=POOL_WAIT, decode_responses=False,
            health_check_interval=30, socket_connect_timeout=5, retry_on_timeout=True)
        return Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


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
