"""The login throttle of common/loginguard.py with its counts in Redis, shared by every `serve`
process on it (issue 17): the agent console's and the staff page's logins, with `--redis-url`.

The same three rules as `LoginGuard` (an attempt is counted before its password is checked; per
account a growing delay after `free_failures` failures, forgotten after `forget_after` seconds
without one; per client address at most `per_address` attempts in `address_window` seconds), each
decided in one Lua script on Redis's clock, so two processes admitting attempts at the same moment
cannot both pass one limit. Keys, under the prefix, with the account and address hashed (no
username or address in a key name) and expiring by themselves:

    <prefix>login:<name>:account:<sha256>   a hash: failures, last (ms)
    <prefix>login:<name>:address:<sha256>   a sorted set: one member per counted attempt, by time

Redis being down surfaces as redis-py's ConnectionError (the app answers 503, bot/redis_health.py):
a login is never admitted uncounted.
"""
from __future__ import annotations

import hashlib
import math
import secrets

from redis.asyncio import Redis

from common.loginguard import Attempt
from common.redis_conn import RedisSettings

# KEYS: account hash, address set. ARGV: free failures, max delay ms, forget after ms, per address,
# window ms, member. Returns {0, wait ms} or {1, now ms}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, per_address, window = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = 0
local found = redis.call('HMGET', KEYS[1], 'failures', 'last')
local failures, last = tonumber(found[1] or '0'), tonumber(found[2] or '0')
if free > 0 and failures >= free then
  local delay = math.min(tonumber(ARGV[2]), 1000 * 2 ^ math.min(failures - free + 1, 62))
  wait = math.max(wait, last + delay - now)
end
if per_address > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= per_address then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return {0, math.ceil(wait)} end
redis.call('HSET', KEYS[1], 'failures', failures + 1, 'last', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if per_address > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[6])
  redis.call('PEXPIRE', KEYS[2], window)
end
return {1, now}
"""

# KEYS: account hash, address set. ARGV: member. Give back one reservation: its own.
_GIVE_BACK = """
if tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'failures', -1)
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RedisLoginGuard:
    """Admit or refuse the logins of `name` ("console", "staff") across processes (module doc)."""

    def __init__(self, redis: Redis, settings: RedisSettings, name: str, *, free_failures: int = 5,
                 max_delay: float = 300.0, forget_after: float = 3600.0, per_address: int = 20,
                 address_window: float = 900.0) -> None:
        self.prefix = settings.key("login", name, "")
        self.limits = [free_failures, int(max_delay * 1000), int(forget_after * 1000), per_address,
                       int(address_window * 1000)]
        self._reserve = redis.register_script(_RESERVE)
        self._give_back = redis.register_script(_GIVE_BACK)

    def _keys(self, account: str, address: str) -> list[str]:
        return [f"{self.prefix}account:{_digest(account)}", f"{self.prefix}address:{_digest(address)}"]

    async def reserve(self, account: str, address: str) -> Attempt | float:
        """Count an attempt for `account` from `address`; return it, or the seconds to wait."""
        ref = secrets.token_hex(8)
        admitted, value = await self._reserve(keys=self._keys(account, address), args=[*self.limits, ref])
        if not admitted:
            return max(1.0, float(math.ceil(int(value) / 1000)))
        return Attempt(account, address, int(value) / 1000, ref=ref)

    async def settle(self, attempt: Attempt, succeeded: bool) -> None:
        """A failure keeps its reservation; a success gives back its own (and nothing else)."""
        if attempt.done:
            return
        attempt.done = True
        if succeeded:
            await self._give_back(keys=self._keys(attempt.account, attempt.address), args=[attempt.ref])
