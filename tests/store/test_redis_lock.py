"""The per-conversation lock across processes (`RedisLocks`), on a real redis-server.

Two engines with their own Redis clients stand for two `serve` processes: turns of one
conversation sent to both at once never overlap and the transcript stays numbered 1, 2, 3, ...
The control case (each engine with only its in-process lock) shows the probe does see overlaps.
"""
from __future__ import annotations

import asyncio
import contextvars

import pytest

from bot.store.redis_lock import LockBusy, LockLost, RedisLocks, held_lock
from bot.shared_redis.bus import EventBus
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
        # Logged as the commit is sent: its script releases the lock, so another process's turn
        # may load before this call returns (after the commit is stored, which is what counts).
        self.log.append(("commit", self.name))
        return await self.store.commit(session, state, entries)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


async def run_two_engines(make_engine, redis_clients, *, shared_lock: bool, turns: int = 15,
                          prefetch: bool = True):
    log: list = []
    engines = []
    for name in ("A", "B"):
        client, settings = redis_clients()  # a client of its own, as another process has
        store = RedisStore(client, settings)
        # As bot/app.py wires them: the lock reads the state the turn then loads (or not).
        locks = (RedisLocks(client, settings, state_key=store.state_key if prefetch else None)
                 if shared_lock else None)
        engines.append(make_engine(store=Probe(store, name, log), locks=locks))

    async def guardian(engine, who: str) -> None:
        for n in range(turns):
            await engine.handle(Inbound(session=SESSION, text=f"hej {who}{n}", channel="web"))

    await asyncio.gather(guardian(engines[0], "a"), guardian(engines[1], "b"))
    return log, await engines[0].store.store.transcript(SESSION)


@pytest.mark.parametrize("prefetch", [True, False], ids=["state-read-with-lock", "state-read-after-lock"])
async def test_two_processes_never_run_two_turns_of_one_conversation_at_once(make_engine, redis_clients, prefetch):
    log, transcript = await run_two_engines(make_engine, redis_clients, shared_lock=True, prefetch=prefetch)

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


def elsewhere(coro):
    """Run `coro` as another process would: in a task that holds none of this task's locks."""
    return asyncio.get_running_loop().create_task(coro, context=contextvars.Context())


async def monitored(client, action) -> list[tuple[str, str]]:
    """Run `action` and return the commands Redis received meanwhile, as (source, command): the
    source is "lua" inside a script, else a client's round trip."""
    seen: list[tuple[str, str]] = []
    async with client.monitor() as monitor:
        async def listen() -> None:
            async for command in monitor.listen():
                seen.append((command["client_type"], command["command"]))

        listener = asyncio.get_running_loop().create_task(listen())
        await asyncio.sleep(0.1)
        await action()
        await client.ping()  # the last command seen: everything of `action` came before it
        for _ in range(200):
            if seen and seen[-1][1].startswith("PING"):
                break
            await asyncio.sleep(0.01)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    # Less the watcher's own: its PING, and the handshake of the connection it opens for it.
    return [(source, command) for source, command in seen if command.split()[0] not in ("PING", "HELLO")]


async def test_a_turn_is_two_round_trips_lock_and_read_then_store_and_release(make_engine, redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    engine = make_engine(store=store, locks=RedisLocks(client, settings, state_key=store.state_key))
    await engine.handle(Inbound(session="s1", text="hej", channel="web"))  # the conversation exists

    watcher, _ = redis_clients()
    seen = await monitored(watcher, lambda: engine.handle(Inbound(session="s1", text="tack", channel="web")))

    trips = [command.split()[0].strip('"').upper() for source, command in seen if source != "lua"]
    assert trips == ["EVALSHA", "EVALSHA"], seen
    inside = [command.split()[0].strip('"').upper() for source, command in seen if source == "lua"]
    assert inside[:2] == ["SET", "HGET"] and inside[-1] == "DEL", inside
    assert await client.exists(settings.key("lock", "conv", "s1")) == 0
    assert [e["text"] for e in await store.transcript("s1") if e["from"] == "user"] == ["hej", "tack"]


async def test_the_state_read_with_the_lock_is_what_the_turn_loads(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    locks = RedisLocks(client, settings, state_key=store.state_key)
    await store.commit("s1", {"step": "a"}, [])
    async with locks.lock("s1"):
        assert await store.load_state("s1") == {"step": "a"}
        assert await store.load_state("new") is None  # another conversation: read from Redis
        await store.commit("s1", {"step": "b"}, [])
        assert await store.load_state("s1") == {"step": "b"}  # after its commit: read again
    async with locks.lock("new"):
        assert await store.load_state("new") is None


async def test_the_commit_releases_the_lock_and_a_second_commit_is_fenced(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    locks = RedisLocks(client, settings, state_key=store.state_key)
    lock_key = settings.key("lock", "conv", "s1")
    async with locks.lock("s1"):
        await store.commit("s1", {"n": 1}, [{"from": "user", "text": "1"}])
        assert await client.exists(lock_key) == 0  # released by the commit, in its script
        # Nobody took the conversation since: a second commit of the same turn goes through.
        await store.commit("s1", {"n": 2}, [{"from": "bot", "text": "2"}])
    assert await store.load_state("s1") == {"n": 2}

    other = RedisStore(*redis_clients())
    with pytest.raises(LockLost):
        async with locks.lock("s1"):
            await store.commit("s1", {"n": 3}, [{"from": "user", "text": "3"}])
            await elsewhere(other.commit("s1", {"n": 4}, [{"from": "user", "text": "4"}]))  # another's turn
            await store.commit("s1", {"n": 5}, [{"from": "bot", "text": "5"}])
    with pytest.raises(LockLost):
        async with locks.lock("s1"):
            await store.commit("s1", {"n": 6}, [])
            await client.set(lock_key, b"another-process", px=60_000)  # another holds it now
            await store.commit("s1", {"n": 7}, [])
    assert await store.load_state("s1") == {"n": 6}
    assert await client.get(lock_key) == b"another-process"  # and keeps it
    assert [e["seq"] for e in await store.transcript("s1")] == [1, 2, 3, 4]


async def test_a_releasing_commit_sent_again_after_a_lost_reply_answers_as_the_first(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    locks = RedisLocks(client, settings, state_key=store.state_key)
    async with locks.lock("s1"):
        first = await store._commit("s1", {"n": 1}, [{"text": "a"}], "commit-1")
        held = held_lock("s1")
        held.released = False  # as redis-py resending the same command: the lock is gone by now
        again = await store._commit("s1", {"n": 1}, [{"text": "a"}], "commit-1")
    assert again == first == [{"seq": 1, "text": "a"}]
    assert len(await store.transcript("s1")) == 1


async def test_a_lock_taken_over_by_another_is_not_released_by_its_old_holder(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    lock_key = settings.key("lock", "conv", "s1")
    async with RedisLocks(client, settings, state_key=store.state_key).lock("s1"):
        await client.set(lock_key, b"another-process", px=60_000)  # the lease ran out, another took it
    assert await client.get(lock_key) == b"another-process"


async def test_a_slow_turn_renewed_by_the_timer_still_stores_and_releases(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    async with RedisLocks(client, settings, lease=0.6, state_key=store.state_key).lock("s1"):
        await asyncio.sleep(1.5)  # past two leases
        await store.commit("s1", {"n": 1}, [])
    assert await client.exists(settings.key("lock", "conv", "s1")) == 0
    assert await store.load_state("s1") == {"n": 1}


@pytest.mark.parametrize("batch", [100, 2])
async def test_a_turns_lock_catches_up_with_the_change_stream_in_its_round_trip(redis_clients, batch):
    """With `follower` (the process's change stream), the lock's script also reads what other
    processes changed: the handoff interceptor's catch-up inside the turn then needs no read of
    its own, unless the lock read a full batch (more may be waiting)."""
    writer_client, settings = redis_clients()
    client, _ = redis_clients()
    watcher, _ = redis_clients()
    writer, follower = EventBus(writer_client, settings), EventBus(client, settings)
    await writer.publish("news", {"n": 0})
    await follower.start()  # from after entry 0, as a process that started then
    got: list[int] = []
    follower.on("news", lambda payload, _own: got.append(payload["n"]))
    for n in (1, 2, 3):
        await writer.publish("news", {"n": n})
    store = RedisStore(client, settings)
    locks = RedisLocks(client, settings, state_key=store.state_key, follower=follower, batch=batch)
    async with locks.lock("s1"):
        assert got == ([1, 2, 3] if batch > 3 else [1, 2])
        inside = await monitored(watcher, follower.catch_up_turn)
        assert got == [1, 2, 3]
        later = await monitored(watcher, follower.catch_up_turn)  # a second catch-up in the turn reads
    assert [command.split()[0] for _, command in inside] == ([] if batch > 3 else ["XREAD"])
    assert [command.split()[0] for _, command in later] == ["XREAD"]
    outside = await monitored(watcher, follower.catch_up_turn)  # not in a turn: reads
    assert [command.split()[0] for _, command in outside] == ["XREAD"]
