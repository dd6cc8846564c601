"""The change stream every `serve` process follows (issue 17): one Redis stream, `<prefix>events`.

Every change to shared state is written together with an entry in the stream, in one Lua call
(so one AOF record): a hash field set or deleted, and `{k: kind, o: origin, p: JSON payload}`
appended. Each process follows the stream from where it started (`run`, XREAD BLOCK) and hands
each entry to the handlers of its kind: the handoff queue's copy of the items, the shared maps
(presence, console sessions), the push sockets and the agent consoles of this process.

Entries are applied in stream order, once each (`last_id`), whoever reads them: the follower, or
`catch_up()` which reads what is new right now (one round trip), or the script that takes a
turn's conversation lock (bot/store/redis_lock.py, `took`), in the same round trip. A process
that has caught up has seen every change acknowledged before, so a request on B that follows a
write on A sees it: the agent console's requests and the handoff interceptor catch up first (the
interceptor with its turn's lock, `catch_up_turn`).

Writes a caller cannot await (a console session started by a sync method, a heartbeat) are queued
in order and flushed by `flush()`; the `flushed` middleware awaits them before a response leaves.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import time
from typing import Any, Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.store.redis_lock import current_lock
from common.redis_conn import RedisSettings

log = logging.getLogger("halmstad.shared")
STREAM_MAXLEN = 50_000  # entries kept (approximately); a process never lags that far behind
BLOCK_MS = 2_000  # under the client's socket timeout (redis-py: 5 s), so a quiet stream is no error
CATCH_UP_BATCH = 1_000
GAP_CHECK_SECONDS = 60.0

# KEYS: stream, hash, lock. ARGV: maxlen, kind, origin, payload, op (set|del|none), field, value,
# lock token ("" when no lock is to be checked). Returns the entry id, or false when the caller no
# longer holds the lock (it expired: the change is refused, nothing is written).
WRITE_SCRIPT = """
if ARGV[8] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[8] then return false end
if ARGV[5] == 'set' then redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])
elseif ARGV[5] == 'del' then redis.call('HDEL', KEYS[2], ARGV[6]) end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[2], 'o', ARGV[3], 'p', ARGV[4])
"""

Handler = Callable[[dict, bool], Any]  # (payload, from this process) -> None or a coroutine


async def read_json_hash(redis: Redis, key: str) -> dict[str, dict]:
    """Read a hash of JSON values (a field that is not JSON is left out and logged)."""
    found = {}
    for field, value in (await redis.hgetall(key)).items():
        try:
            found[field.decode()] = json.loads(value)
        except ValueError:
            log.error("shared value unreadable key=%s", key)
    return found


def _cancel_requested() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class LockLost(RuntimeError):
    """A change made under a cross-process lock that had expired meanwhile; nothing was written."""


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class EventBus:
    """Writes changes with their stream entry, and follows the stream for this process."""

    def __init__(self, redis: Redis, settings: RedisSettings, *, maxlen: int = STREAM_MAXLEN,
                 block_ms: int = BLOCK_MS) -> None:
        self.redis = redis
        self.settings = settings
        self.stream = settings.key("events")
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.origin = secrets.token_hex(8)
        self.last_id = (0, 0)
        self._handlers: dict[str, list[Handler]] = {}
        self._write = redis.register_script(WRITE_SCRIPT)
        self._pending: list[tuple] = []
        self._flush_lock = asyncio.Lock()
        self._flusher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.closing = False
        self._resync: list[Callable[[], Awaitable[None]]] = []

    def key(self, *parts: str) -> str:
        return self.settings.key(*parts)

    def on(self, kind: str, handler: Handler) -> None:
        """Call `handler(payload, own)` for every entry of `kind`, in stream order."""
        self._handlers.setdefault(kind, []).append(handler)

    async def start(self) -> None:
        """Start after the newest entry: what the hashes hold now already includes the rest."""
        newest = await self.redis.xrevrange(self.stream, count=1)
        self.last_id = _id_tuple(newest[0][0]) if newest else (0, 0)

    # Writing ------------------------------------------------------------------------------------

    async def write(self, kind: str, payload: dict, *, op: str = "none", hash_key: str = "", field: str = "",
                    value: str = "", lock: tuple[str, str] | None = None) -> None:
        """Change one hash field (or nothing) and append the entry, atomically; LockLost when
        `lock` (key, token) is no longer held."""
        lock_key, token = lock or ("", "")
        entry = await self._write(keys=[self.stream, hash_key or self.stream, lock_key or self.stream],
                                  args=[self.maxlen, kind, self.origin, json.dumps(payload, ensure_ascii=False),
                                        op, field, value, token])
        if entry is None:
            raise LockLost("the shared lock expired before the change was written")

    async def publish(self, kind: str, payload: dict) -> None:
        """Tell every process (this one too) about something that changed nothing stored."""
        await self.write(kind, payload)

    def write_soon(self, kind: str, payload: dict, **change: str) -> None:
        """Queue a write for a caller that cannot await; `flush()` (or the next loop turn) does it."""
        self._pending.append((kind, payload, change))
        if self._flusher is None or self._flusher.done():
            try:
                self._flusher = asyncio.get_running_loop().create_task(self.flush())
            except RuntimeError:  # no loop (a sync test): flushed by the next flush()
                pass

    async def flush(self) -> None:
        """Write the queued writes, in the order they were made."""
        async with self._flush_lock:
            while self._pending:
                batch, self._pending = self._pending, []
                for kind, payload, change in batch:
                    try:
                        await self.write(kind, payload, **change)
                    except RedisError:
                        log.error("shared write failed kind=%s", kind)

    # Following ----------------------------------------------------------------------------------

    def position(self) -> str:
        """Where this process stands in the stream, for a read by another's script ("" before
        `start()`: nothing to read with it then)."""
        return "%d-%d" % self.last_id if self.last_id != (0, 0) else ""

    def applied(self, entry_id: bytes | str) -> bool:
        """Whether the stream entry `entry_id` has been applied here already (entries are applied
        in stream order, so every entry up to `last_id` has)."""
        return _id_tuple(entry_id) <= self.last_id

    def took(self, entries: list) -> None:
        """Apply the entries a turn's lock read (bot/store/redis_lock.py) in its own script, as
        `[id, [field, value, ...]]` lists."""
        self._apply([(entry_id, dict(zip(flat[::2], flat[1::2]))) for entry_id, flat in entries])

    async def catch_up_turn(self) -> None:
        """`catch_up()`, unless this task holds a conversation's lock whose script has just read
        every entry: the handoff interceptor, the first thing a turn does after its lock (the
        state comes with the lock, so nothing has waited in between). Once only: a later call in
        the same turn reads."""
        held = current_lock()
        if held is not None and held.caught_up:
            held.caught_up = False
            return
        await self.catch_up()

    async def catch_up(self) -> None:
        """Apply every entry written so far (one round trip when nothing is new)."""
        while True:
            found = await self.redis.xread({self.stream: "%d-%d" % self.last_id}, count=CATCH_UP_BATCH)
            entries = found[0][1] if found else []
            self._apply(entries)
            if len(entries) < CATCH_UP_BATCH:
                return

    def _apply(self, entries: list) -> None:
        for entry_id, fields in entries:
            position = _id_tuple(entry_id)
            if position <= self.last_id:
                continue
            self.last_id = position
            kind = fields.get(b"k", b"").decode()
            try:
                payload = json.loads(fields.get(b"p", b"{}"))
            except ValueError:
                log.error("shared event unreadable kind=%s", kind)
                continue
            own = fields.get(b"o", b"").decode() == self.origin
            for handler in self._handlers.get(kind, ()):
                self._call(handler, payload, own, kind)

    def _call(self, handler: Handler, payload: dict, own: bool, kind: str) -> None:
        try:
            result = handler(payload, own)
        except Exception:
            log.exception("shared event handler failed kind=%s", kind)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Follow the stream until cancelled; after a lost connection, retry with back-off."""
        delay, checked = 0.1, time.monotonic()
        while not self.closing:
            if _cancel_requested():
                raise asyncio.CancelledError  # redis-py may swallow a cancel that hits a blocking read
            try:
                if delay > 0.1 or time.monotonic() - checked > GAP_CHECK_SECONDS:
                    await self.check_gap()  # after an outage, and now and then
                    checked = time.monotonic()
                found = await self.redis.xread({self.stream: "%d-%d" % self.last_id}, count=CATCH_UP_BATCH,
                                               block=self.block_ms)
                self._apply(found[0][1] if found else [])
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.closing or _cancel_requested():
                    raise asyncio.CancelledError from exc  # the client turned the cancel into an error
                log.warning("shared stream unreachable error=%s; retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def on_resync(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Call `reload` (read the whole shared state again) when entries were missed."""
        self._resync.append(reload)

    async def check_gap(self) -> bool:
        """Read everything again if entries this process never applied are gone from the stream
        (trimmed while it lagged far behind, or a Redis that lost its data); say whether it did."""
        if self.last_id == (0, 0):
            return False
        oldest = await self.redis.xrange(self.stream, count=1)
        if oldest and _id_tuple(oldest[0][0]) <= self.last_id:
            return False
        log.warning("shared stream has entries this process missed; reading the shared state again")
        await self.start()
        for reload in self._resync:
            await reload()
        return True

    async def close(self) -> None:
        self.closing = True
        await self.flush()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
