"""The per-conversation lock across processes (`RedisLocks`), on a real redis-server.

Two engines with their own Redis clients stand for two `serve` processes: turns of one
conversation sent to both at once never overlap and the transcript stays numbered 1, 2, 3, ...
The control case (each engine with only its in-process lock) shows the probe does see overlaps.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.store.redis_lock import LockBusy, LockLost, RedisLocks
from bot.store.redis_store import RedisStore
from common.messages import Inbound

SESSION = "shared-conversation"


class Probe:
    """A store that records, per engine, when a turn reads the state and when it commits, and
    widens the window between the two so that unlocked turns would overlap."""

    def __init__(self, store: RedisStore, name: str, log: list) -> None:
        self.store, self.name, self.log = store, name, log

    async def load_state(self, session: str):
        self.log.append(("load", self.name))
        await asyncio.sleep(0.005)
        return await self.store.load_state(session)

    async def commit(self, session: str, state: dict, entries: list[dict]):
        stored = await self.store.commit(session, state, entries)
        self.log.append(("commit", self.name))
        return stored

    def __getattr__(self, name: str):
        return getattr(self.store, name)


async def run_two_engines(make_engine, redis_clients, *, shared_lock: bool, turns: int = 15):
    log: list = []
    engines = []
    for name in ("A", "B"):
        client, settings = redis_clients()  # a client of its own, as another process has
        locks = RedisLocks(client, settings) if shared_lock else None
        engines.append(make_engine(store=Probe(RedisStore(client, settings), name, log), locks=locks))

    async def guardian(engine, who: str) -> None:
        for n in range(turns):
            await engine.handle(Inbound(session=SESSION, text=f"hej {who}{n}", channel="web"))

    await asyncio.gather(guardian(engines[0], "a"), guardian(engines[1], "b"))
    return log, await engines[0].store.store.transcript(SESSION)


async def test_two_processes_never_run_two_turns_of_one_conversation_at_once(make_engine, redis_clients):
    log, transcript = await run_two_engines(make_engine, redis_clients, shared_lock=True)

    # Every turn's read and commit are back to back: load A, commit A, load B, commit B, ...
    pairs = [log[i:i + 2] for i in range(0, len(log), 2)]
    assert all(p[0][0] == "load" and p[1] == ("commit", p[0][1]) for p in pairs), log
    assert {p[0][1] for p in pairs} == {"A", "B"}
    assert [e["seq"] for e in transcript] == list(range(1, len(transcript) + 1))
    user_texts = [e["text"] for e in transcript if e["from"] == "user"]
    assert sorted(user_texts) == sorted([f"hej a{n}" for n in range(15)] + [f"hej b{n}" for n in range(15)])
    # Each turn's entries stay together: a guardian's message, then the bot's replies to it.
    assert transcript[0]["from"] == "user" and all(
        e["from"] == "bot" for e in transcript if e["from"] != "user")


async def test_control_in_process_locks_alone_let_two_engines_overlap(make_engine, redis_clients):
    log, _ = await run_two_engines(make_engine, redis_clients, shared_lock=False, turns=5)
    pairs = [log[i:i + 2] for i in range(0, len(log), 2)]
    assert not all(p[0][0] == "load" and p[1] == ("commit", p[0][1]) for p in pairs)


async def test_a_slow_turn_keeps_its_lock_past_the_lease(redis_clients):
    client, settings = redis_clients()
    holder = RedisLocks(client, settings, lease=0.6)
    other = RedisLocks(*redis_clients(), wait=0.1)
    async with holder.lock("s1"):
        await asyncio.sleep(2.0)  # more than three leases: only the renewal keeps the key alive
        assert await client.get(settings.key("lock", "conv", "s1")) is not None
        with pytest.raises(LockBusy):
            async with other.lock("s1"):
                raise AssertionError("ran while another process held the conversation")
    assert await client.exists(settings.key("lock", "conv", "s1")) == 0
    async with other.lock("s1"):
        pass


async def test_a_lock_left_by_a_killed_process_frees_itself_after_its_lease(redis_clients):
    client, settings = redis_clients()
    await client.set(settings.key("lock", "conv", "s1"), b"token-of-a-dead-process", px=300)
    ran = False
    async with RedisLocks(client, settings, wait=10).lock("s1"):
        ran = True
    assert ran
    assert await client.exists(settings.key("lock", "conv", "s1")) == 0


async def test_a_lock_that_stays_busy_gives_lockbusy_without_running_the_turn(redis_clients):
    client, settings = redis_clients()
    await client.set(settings.key("lock", "conv", "s1"), b"someone-else", px=60_000)
    with pytest.raises(LockBusy):
        async with RedisLocks(client, settings, wait=0.2).lock("s1"):
            raise AssertionError("the turn ran without the lock")
    # Other conversations are not held up, and the holder's lock is untouched.
    async with RedisLocks(client, settings, wait=0.2).lock("s2"):
        pass
    assert await client.get(settings.key("lock", "conv", "s1")) == b"someone-else"


async def test_prefixes_have_their_own_locks(redis_clients):
    a = RedisLocks(*redis_clients("halmstad:"), wait=0.2)
    b = RedisLocks(*redis_clients("falkenberg:"), wait=0.2)
    async with a.lock("s1"):
        async with b.lock("s1"):
            pass


async def test_release_while_redis_is_down_does_not_fail_the_stored_turn(redis_server, redis_clients):
    locks = RedisLocks(*redis_clients())
    async with locks.lock("s1"):
        redis_server.kill()
    redis_server.start()
    # The AOF brings the lock back with its absolute expiry, so the next turn gets it within a lease.
    async with RedisLocks(*redis_clients(), wait=12).lock("s1"):
        pass


async def test_a_turn_whose_lock_was_taken_over_stores_nothing(redis_clients):
    """The lease ran out (a stalled process, a failover that lost the key) and another process
    took the conversation: the first turn's commit is refused, the other's goes through."""
    client, settings = redis_clients()
    store, locks = RedisStore(client, settings), RedisLocks(client, settings)
    await store.commit("s1", {"step": "a"}, [{"from": "user", "text": "1"}])
    with pytest.raises(LockLost):
        async with locks.lock("s1"):
            await client.set(settings.key("lock", "conv", "s1"), b"another-process")
            # Another conversation is not fenced by this one's lock.
            await store.commit("s2", {"step": "x"}, [{"from": "user", "text": "other"}])
            await store.commit("s1", {"step": "b"}, [{"from": "user", "text": "2"}])
    assert await store.load_state("s1") == {"step": "a"}
    assert [e["text"] for e in await store.transcript("s1")] == ["1"]
    assert await store.load_state("s2") == {"step": "x"}
    async with locks.lock("s2"):
        await store.commit("s2", {"step": "y"}, [])  # the fence passes while the lock is ours
    assert await store.load_state("s2") == {"step": "y"}
