"""The per-conversation lock across processes: at most one turn of a conversation at a time, in
whichever `serve` process it arrives (the `Locks` port of `bot.store.base`, used with `--redis-url`).

`async with locks.lock(session):` first takes an in-process lock for the key (so the waiters of
one process queue here, not by polling Redis), then a Redis lock at `<prefix>lock:conv:<session>`:
SET NX PX with a random token, in a Lua script that, in the same round trip, also reads what the
turn needs first (the conversation's state, when the locks are given `state_key`; new entries of
the change stream, when given a `follower`). The state read is kept for the turn
(`prefetched_state`): the store's `load_state` answers from it, and it stays true while the lock
is held, since every other writer of the conversation needs the lock too.

The lock is a lease of `lease` seconds, renewed every third of it while the turn runs (a timer,
not a task per turn: most turns end before the first renewal), so a slow turn (a backend call near
its timeout) keeps it, and a process killed mid-turn frees it after at most one lease. A turn that
cannot get the lock within `wait` seconds fails with `LockBusy` (answered with 503, like Redis
being down), rather than waiting without end.

The lock is also a fence: while it is held, `held_lock(session)` gives its key and token, and
`RedisStore.commit` stores the turn only if the key still holds that token (else `LockLost`, and
nothing is stored: the lease ran out, a stalled process or a failover, and another process may
have the conversation). The commit releases the lock in the same script (`Held.released`), so a
turn is one round trip to lock and read and one to store and unlock. A lock the body did not
release that way (a turn that stored nothing, or failed) is released at the end by a
compare-and-delete script: a lock that expired and was taken by another is never deleted by its
old holder. Release is best effort: a release that fails (Redis just went down) is logged and left
to expire, never turned into an error that would make the guardian send the turn again.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.locks import KeyedLocks
from common.redis_conn import RedisSettings

log = logging.getLogger("halmstad.redis_lock")

LEASE = 10.0  # seconds a lock is held without renewal; a killed holder blocks this long at most
WAIT = 15.0  # seconds a turn waits for its conversation's lock before giving up (503)
POLL = 0.01  # seconds between tries while another process holds the lock
NOT_READ = object()  # `Held.state` when the lock did not read the state

# KEYS: lock, conversation hash, stream (each a dummy when unused). ARGV: token, lease ms, read
# the state ('1'/''), stream position ('' for none), stream batch. Returns false when the lock is
# another's, else {state or '', stream entries or ''}: one round trip for lock, state and news.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end  -- ours already: a resent try
end
local state = ''
if ARGV[3] ~= '' then state = redis.call('HGET', KEYS[2], 'state') or '' end
local news = ''
if ARGV[4] ~= '' then
  local found = redis.call('XREAD', 'COUNT', ARGV[5], 'STREAMS', KEYS[3], ARGV[4])
  if found then news = found[1][2] end
end
return {state, news}
"""

# KEYS: lock. ARGV: token, lease ms. Renew (1) or release (0 ms) only while the lock is ours.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


class LockBusy(Exception):
    """The conversation's lock was not free within the wait; the turn was not taken."""


class LockLost(LockBusy):
    """The lease ran out while the turn ran and the conversation may be another's: not stored."""


class Follower(Protocol):
    """The change stream a turn catches up with while it takes its lock (bot/shared_redis/bus.py)."""

    stream: str

    def position(self) -> str: ...
    def took(self, entries: list) -> None: ...


@dataclass
class Held:
    """A Redis lock this task holds: its key and token, the state read with it (raw JSON, None for
    a new conversation, NOT_READ), and whether a commit has released it already. A second commit
    in the same turn goes through only if nobody has held the lock or committed since the first."""

    session: str
    key: str
    token: str
    state: object = NOT_READ
    caught_up: bool = False  # the lock's script read every new entry of the change stream
    released: bool = False
    last_commit: str = ""  # the id of the commit that released it


# The Redis lock the running task holds, for the commit's fence and the prefetched state.
_HELD: contextvars.ContextVar[Held | None] = contextvars.ContextVar("held_lock", default=None)


def current_lock() -> Held | None:
    """The conversation lock this task holds, if any."""
    return _HELD.get()


def held_lock(session: str) -> Held | None:
    """The Redis lock of `session` when this task holds it, else None."""
    held = _HELD.get()
    return held if held is not None and held.session == session else None


class LeaseLock:
    """Takes, renews and releases lease locks in Redis by a random token (`Held`), polling while
    another holds one, and reading in the taking script what the holder needs first: a hash's
    `state`, and the `follower`'s news. The conversation locks use it, and the handoff queue's."""

    def __init__(self, client: Redis, *, lease: float, wait: float, poll: float,
                 follower: Follower | None = None, batch: int = 1000) -> None:
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self.lease, self.wait, self.poll = lease, wait, poll
        self.follower, self.batch = follower, batch

    async def take(self, held: Held, state_key: str | None = None) -> None:
        """Take `held.key` (LockBusy after `wait`); fill `held.state` (when `state_key`) and
        `held.caught_up` (the follower has every entry the script read and there were no more)."""
        follower = self.follower
        keys = [held.key, state_key or held.key, follower.stream if follower else held.key]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            position = follower.position() if follower else ""
            found = await self._acquire(keys=keys, args=[held.token, int(self.lease * 1000),
                                                         "1" if state_key else "", position, self.batch])
            if found:
                break
            if loop.time() + self.poll > deadline:
                raise LockBusy("the lock is held by another process")
            await asyncio.sleep(self.poll)
        state, news = found
        if state_key:
            held.state = state or None
        if position:
            entries = news or []
            follower.took(entries)
            held.caught_up = len(entries) < self.batch

    async def renew(self, held: Held) -> bool:
        """Put the lease back to full length; False when the lock is no longer `held`'s."""
        return bool(await self._renew(keys=[held.key], args=[held.token, int(self.lease * 1000)]))

    async def release(self, held: Held) -> bool:
        """Delete the lock if it is still `held`'s (never another's); False when it was not."""
        return bool(await self._renew(keys=[held.key], args=[held.token, 0]))


class RedisLocks:
    """Per-key locks held in Redis, so two processes never run one conversation's turns at once.
    `state_key(session)`: the conversation's hash, whose `state` is read with the lock."""

    def __init__(self, client: Redis, settings: RedisSettings, *, lease: float = LEASE, wait: float = WAIT,
                 poll: float = POLL, state_key: Callable[[str], str] | None = None,
                 follower: Follower | None = None, batch: int = 1000) -> None:
        self._settings = settings
        self._local = KeyedLocks()
        self._lease = LeaseLock(client, lease=lease, wait=wait, poll=poll, follower=follower, batch=batch)
        self.lease = lease
        self.state_key = state_key

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Hold `key` in this process and in Redis for the body of the `async with`."""
        async with self._local.lock(key):
            held = Held(key, self._settings.key("lock", "conv", key), secrets.token_hex(16))
            try:
                await self._lease.take(held, self.state_key(key) if self.state_key else None)
            except LockBusy:
                raise LockBusy("the conversation is busy in another process") from None
            timer = _Renewal(self._lease, held)
            context = _HELD.set(held)
            try:
                yield
            finally:
                _HELD.reset(context)
                await timer.stop()
                if not held.released:
                    await _release(self._lease, held)


async def _release(lease: LeaseLock, held: Held) -> None:
    try:
        if not await lease.release(held):
            log.warning("lock had expired before its release")
    except RedisError as exc:
        log.warning("lock not released (it expires by itself): %s", type(exc).__name__)


class _Renewal:
    """Renews a held lock every third of its lease, from a timer that starts a task only when a
    turn outlasts the first third."""

    def __init__(self, lease: LeaseLock, held: Held) -> None:
        self.lease_lock, self.held = lease, held
        self.task: asyncio.Task | None = None
        self.handle = asyncio.get_running_loop().call_later(lease.lease / 3, self._start)

    def _start(self) -> None:
        if not self.held.released:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self.held.released:
            try:
                if not await self.lease_lock.renew(self.held):
                    if not self.held.released:
                        log.warning("lock lost before its holder ended (lease expired)")
                    return
            except RedisError as exc:
                log.warning("lock not renewed: %s", type(exc).__name__)
            await asyncio.sleep(self.lease_lock.lease / 3)

    async def stop(self) -> None:
        self.handle.cancel()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
