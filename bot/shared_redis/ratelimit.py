"""The chat API's rate limits counted in Redis, so every process counts the same messages.

A sliding window like bot/channels/web.py's `RateLimiter`: one sorted set per key
(`<prefix>rate:<name>:<key>`) holds the times of the messages of the last `window` seconds, timed
by Redis's own clock (the processes' clocks need not agree); one Lua call prunes, counts, adds
and sets the expiry, so two processes cannot both let the last allowed message through.
"""
from __future__ import annotations

from redis.asyncio import Redis

from common.redis_conn import RedisSettings

# KEYS[1]: the key's sorted set. ARGV: window in ms, limit. Returns 0 (allowed, counted) or the
# milliseconds until the oldest counted message leaves the window.
HIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. redis.call('INCR', KEYS[1] .. ':n'))
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[1] .. ':n', window)
return 0
"""


class RedisRateLimiter:
    """At most `limit` events per key in `window` seconds, across every process; 0 turns it off."""

    def __init__(self, redis: Redis, settings: RedisSettings, name: str, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window_ms = int(window * 1000)
        self.prefix = settings.key("rate", name, "")
        self._hit = redis.register_script(HIT_SCRIPT)

    async def hit(self, key: str) -> float:
        """Record an event for `key`; return 0 if allowed, else seconds until it would be."""
        if self.limit <= 0:
            return 0.0
        wait_ms = await self._hit(keys=[self.prefix + key], args=[self.window_ms, self.limit])
        return 0.0 if not wait_ms else max(0.1, int(wait_ms) / 1000)
