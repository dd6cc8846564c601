"""The Redis `SessionStore`: conversations shared by every `serve` process on one Redis (issue 17).

Keys, all under the settings' prefix (default `halmstad:`), so two prefixes on one Redis never
see each other:

    <prefix>conv:<session>         a hash: `state` (the state as JSON) and `commit` (the last
                                   commit's id, the seq it followed and the seq it ended at)
    <prefix>conv:<session>:log     a list: the transcript entries as JSON, entry `seq` at index seq-1
    <prefix>conversations          a set: every stored session id (what `sessions()` returns)

`commit` is one Lua script: it numbers the new entries after the last commit's end, appends them,
replaces the state and adds a new conversation's id to the set, all in one step, so neither a
crash of Redis (the AOF holds a script's effects as one MULTI/EXEC) nor a second process
committing to the same conversation can leave a turn half-written or two entries with one seq.
With `appendfsync always` a commit is on disk before its reply, so before the guardian's.

redis-py sends a command again after a dropped connection; a commit whose reply was lost would
then be stored twice. Each commit therefore carries a random id, and the script returns the
first run's result when the conversation's last commit already has that id. Inside a turn that
holds the conversation's Redis lock (`bot.store.redis_lock`), the script also checks the lock is
still this turn's, stores nothing (`LockLost`) when another process may have taken it, and
otherwise releases the lock with the commit: a turn costs two round trips, the lock's (which also
read the state `load_state` then answers from) and this one.

Values go in and out as JSON, so what the caller passed or got back is a copy, and what JSON
cannot hold fails with TypeError before anything is written. Redis being down surfaces as
redis-py's ConnectionError / TimeoutError; the app answers those with 503 (`bot.redis_health`).
The client belongs to whoever built it (bot/app.py), so `close()` leaves it open.
"""
from __future__ import annotations

import json
import uuid

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.store.base import Conversation
from bot.store.redis_lock import NOT_READ, LockLost, held_lock
from common.redis_conn import RedisSettings
from common.session_ids import validate_session

# KEYS: conversation hash, log, index, lock. ARGV: session, commit id, lock token ('' for none),
# fence ('release': check the token, then delete the lock with the commit; else the id of this
# turn's previous commit, which released the lock: no one may hold it or have committed since),
# state JSON, then each new entry as a JSON object without "seq". The hash's `commit` is
# "<id> <seq before> <seq after>": a commit id seen last time is a resend (answer as the first
# time, write nothing), and the seq after spares an LLEN. Entries are numbered last+1, last+2, ...
# by writing "seq" first into their text and pushed in one RPUSH; a new conversation joins the
# index.
_COMMIT = """
local done = redis.call('HGET', KEYS[1], 'commit')
local done_id, last = nil, 0  -- no hash: a new conversation (its log goes and comes with it)
if done then
  last = nil
  local before, after
  done_id, before, after = string.match(done, '^(%S+) (%d+) ?(%d*)$')
  if done_id == ARGV[2] then return tonumber(before) end
  if after ~= '' then last = tonumber(after) end
end
if ARGV[3] ~= '' then
  local fenced
  if ARGV[4] == 'release' then fenced = redis.call('GET', KEYS[4]) ~= ARGV[3]
  else fenced = done_id ~= ARGV[4] or redis.call('EXISTS', KEYS[4]) == 1 end
  if fenced then return redis.error_reply('LOCKLOST the conversation lock is no longer held') end
end
if not last then last = redis.call('LLEN', KEYS[2]) end
local count = #ARGV - 5
local batch = {}
for i = 1, count do
  local entry = ARGV[i + 5]
  if entry == '{}' then
    entry = '{"seq":' .. (last + i) .. '}'
  else
    entry = '{"seq":' .. (last + i) .. ',' .. string.sub(entry, 2)
  end
  batch[#batch + 1] = entry
  if #batch == 500 or i == count then
    redis.call('RPUSH', KEYS[2], unpack(batch))
    batch = {}
  end
end
redis.call('HSET', KEYS[1], 'state', ARGV[5], 'commit', ARGV[2] .. ' ' .. last .. ' ' .. (last + count))
if not done then redis.call('SADD', KEYS[3], ARGV[1]) end
if ARGV[3] ~= '' then redis.call('DEL', KEYS[4]) end
return last
"""

_COMPACT = (",", ":")


class RedisStore:
    """Keeps each conversation as a hash (state, last commit) and a transcript list in Redis."""

    def __init__(self, client: Redis, settings: RedisSettings) -> None:
        self._redis = client
        self._settings = settings
        self._commit_script = client.register_script(_COMMIT)

    def _keys(self, session: str) -> tuple[str, str]:
        validate_session(session)
        return self._settings.key("conv", session), self._settings.key("conv", session, "log")

    @property
    def _index(self) -> str:
        return self._settings.key("conversations")

    async def load(self, session: str) -> Conversation | None:
        """Return the stored conversation (state and transcript read in one transaction), or None."""
        conv_key, log_key = self._keys(session)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(conv_key, "state")
            pipe.lrange(log_key, 0, -1)
            raw_state, raw_entries = await pipe.execute()
        if raw_state is None:
            return None
        return Conversation(session=session, state=json.loads(raw_state),
                            transcript=[json.loads(raw) for raw in raw_entries])

    async def load_state(self, session: str) -> dict | None:
        """Return the conversation's state only, or None; inside a turn, the state its lock read."""
        conv_key, _ = self._keys(session)
        held = held_lock(session)
        raw = held.state if held is not None and held.state is not NOT_READ else await self._redis.hget(conv_key, "state")
        return None if raw is None else json.loads(raw)

    def state_key(self, session: str) -> str:
        """The hash whose `state` a turn's lock reads with the lock (`RedisLocks(state_key=...)`)."""
        return self._keys(session)[0]

    async def commit(self, session: str, state: dict, new_entries: list[dict]) -> list[dict]:
        """Store `state` and append `new_entries` with the next seqs, in one atomic script."""
        return await self._commit(session, state, new_entries, uuid.uuid4().hex)

    async def _commit(self, session: str, state: dict, new_entries: list[dict], commit_id: str) -> list[dict]:
        conv_key, log_key = self._keys(session)
        if not isinstance(state, dict):
            raise TypeError("state must be a dict")
        entries = list(new_entries)
        if not all(isinstance(e, dict) for e in entries):
            raise TypeError("every transcript entry must be a dict")
        # Serialising first copies the values and fails on what JSON cannot hold, before any write.
        state_json = json.dumps(state, separators=_COMPACT, ensure_ascii=False)
        texts = [json.dumps({k: v for k, v in e.items() if k != "seq"}, separators=_COMPACT, ensure_ascii=False)
                 for e in entries]
        held = held_lock(session)
        lock_key, token = (held.key, held.token) if held else (conv_key, "")
        fence = "" if held is None else held.last_commit if held.released else "release"
        try:
            last = int(await self._commit_script(keys=[conv_key, log_key, self._index, lock_key],
                                                 args=[session, commit_id, token, fence, state_json, *texts]))
        except ResponseError as exc:
            if str(exc).startswith("LOCKLOST"):
                raise LockLost("the conversation's lock was lost before the turn was stored") from exc
            raise
        if held is not None:  # the script released the lock: the turn is stored
            held.released, held.last_commit, held.state = True, commit_id, NOT_READ
        return [{"seq": last + offset, **json.loads(text)} for offset, text in enumerate(texts, start=1)]

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        """Return the entries with seq > after, in order (entry seq n is the list's item n-1)."""
        _, log_key = self._keys(session)
        raws = await self._redis.lrange(log_key, max(0, int(after)), -1)
        return [json.loads(raw) for raw in raws]

    async def delete(self, session: str) -> None:
        """Remove a conversation and its id in one transaction; an unknown one is not an error."""
        conv_key, log_key = self._keys(session)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(conv_key, log_key)
            pipe.srem(self._index, session)
            await pipe.execute()

    async def sessions(self) -> list[str]:
        """Return every stored session id (one SMEMBERS of the index set, not a key scan)."""
        return [raw.decode("ascii") for raw in await self._redis.smembers(self._index)]

    async def close(self) -> None:
        """Nothing to finish: every commit is awaited by its caller. The client is closed by its
        owner (bot/app.py), since other parts share it."""
