"""The per-conversation lock across processes: at most one turn of a conversation at a time, in
whichever `serve` process it arrives (the `Locks` port of `bot.store.base`, used with `--redis-url`).

`async with locks.lock(session):` first takes an in-process lock for the key (so the waiters of
one process queue here, not by polling Redis), then a Redis lock (redis-py's `Lock`: SET NX PX
with a random token, released by a Lua compare-and-delete) at `<prefix>lock:conv:<session>`.
The lock is a lease of `lease` seconds, renewed every third of it while the turn runs, so a slow
turn (a backend call near its timeout) keeps it, and a process killed mid-turn frees it after at
most one lease. A turn that cannot get the lock within `wait` seconds fails with `LockBusy`
(answered with 503, like Redis being down), rather than waiting without end.

Release is best effort: the turn is already stored when it runs, so a release that fails (Redis
just went down, or the lease was lost) is logged and left to expire, never turned into an error
that would make the guardian send the turn again.

A lease can still be lost while a turn runs (the process stalled past it, or a Redis failover
dropped the key) and another process may then take the conversation. So the lock is also a
fence: while it is held, `held_lock(session)` names its key and token, and `RedisStore.commit`
stores the turn only if the key still holds that token; otherwise it raises `LockLost` and
stores nothing (the guardian gets 503 and sends the turn again).
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
from contextlib import asynccontextmanager
from typing import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from common.locks import KeyedLocks
from common.redis_conn import RedisSettings

log = logging.getLogger("halmstad.redis_lock")

LEASE = 10.0  # seconds a lock is held without renewal; a killed holder blocks this long at most
WAIT = 15.0  # seconds a turn waits for its conversation's lock before giving up (503)
POLL = 0.01  # seconds between tries while another process holds the lock


# The Redis lock the running task holds: (session, lock key, token), for the commit's fence.
_HELD: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar("held_lock", default=None)


class LockBusy(Exception):
    """The conversation's lock was not free within the wait; the turn was not taken."""


class LockLost(LockBusy):
    """The lease ran out while the turn ran and the conversation may be another's: not stored."""


def held_lock(session: str) -> tuple[str, str] | None:
    """The (lock key, token) of `session`'s Redis lock when this task holds it, else None."""
    held = _HELD.get()
    return (held[1], held[2]) if held is not None and held[0] == session else None


class RedisLocks:
    """Per-key locks held in Redis, so two processes never run one conversation's turns at once."""

    def __init__(self, client: Redis, settings: RedisSettings, *, lease: float = LEASE,
                 wait: float = WAIT, poll: float = POLL) -> None:
        self._redis = client
        self._settings = settings
        self._local = KeyedLocks()
        self.lease, self.wait, self.poll = lease, wait, poll

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Hold `key` in this process and in Redis for the body of the `async with`."""
        async with self._local.lock(key):
            name, token = self._settings.key("lock", "conv", key), secrets.token_hex(16)
            lock = Lock(self._redis, name, timeout=self.lease, sleep=self.poll, blocking_timeout=self.wait,
                        thread_local=False)
            if not await lock.acquire(token=token):
                raise LockBusy("the conversation is busy in another process")
            renewal = asyncio.get_running_loop().create_task(self._renew(lock))
            held = _HELD.set((key, name, token))
            try:
                yield
            finally:
                _HELD.reset(held)
                renewal.cancel()
                await asyncio.gather(renewal, return_exceptions=True)
                await _release(lock)

    async def _renew(self, lock: Lock) -> None:
        """Put the lease back to full length every third of it until cancelled."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await lock.reacquire()
            except LockError:
                log.warning("conversation lock lost before the turn ended (lease expired)")
                return
            except RedisError as exc:
                log.warning("conversation lock not renewed: %s", type(exc).__name__)


async def _release(lock: Lock) -> None:
    try:
        await lock.release()
    except LockError:
        log.warning("conversation lock had expired before its release")
    except RedisError as exc:
        log.warning("conversation lock not released (it expires by itself): %s", type(exc).__name__)
