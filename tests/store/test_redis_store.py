"""What is particular to the Redis store, on a real redis-server (AOF, appendfsync always).

The shared behaviour is in test_contract.py; here: prefixes keep tenants apart, `sessions()` reads
the index set and nothing else, a commit is one step for a reader and for a crash (a truncated
AOF is replayed to before the turn, never between), acknowledged commits survive SIGKILL, and the
retention sweep disposes of conversations in Redis.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.retention import sweep
from bot.store.redis_store import RedisStore
from common.privacy import RetentionPolicy

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)


def user(text: str) -> dict:
    return {"from": "user", "text": text, "buttons": [], "at": "2026-12-01T10:00:00+01:00"}


async def test_two_prefixes_on_one_redis_do_not_see_each_other(redis_clients):
    halmstad = RedisStore(*redis_clients("halmstad:"))
    falkenberg = RedisStore(*redis_clients("falkenberg:"))
    await halmstad.commit("same-id", {"town": "halmstad"}, [user("h1"), user("h2")])
    await falkenberg.commit("other", {"town": "falkenberg"}, [user("f1")])

    assert await falkenberg.load("same-id") is None
    assert await falkenberg.transcript("same-id") == []
    assert await halmstad.sessions() == ["same-id"]
    assert await falkenberg.sessions() == ["other"]

    # The same id under the other prefix is its own conversation, numbered from 1.
    stored = await falkenberg.commit("same-id", {"town": "falkenberg"}, [user("f2")])
    assert [e["seq"] for e in stored] == [1]
    await falkenberg.delete("same-id")
    conv = await halmstad.load("same-id")
    assert conv.state == {"town": "halmstad"}
    assert [e["text"] for e in conv.transcript] == ["h1", "h2"]


async def test_keys_are_under_the_prefix_and_sessions_reads_only_the_index(redis_clients):
    client, settings = redis_clients("kommun:")
    store = RedisStore(client, settings)
    await store.commit("s1", {"v": 1}, [user("a")])
    await client.set("kommun:queue:something", b"x")  # another shared part's key (handoff, rate limits)
    await client.set("unrelated", b"y")

    keys = sorted(k.decode() for k in await client.keys("*"))
    assert keys == ["kommun:conv:s1", "kommun:conv:s1:log", "kommun:conversations",
                    "kommun:queue:something", "unrelated"]
    assert await store.sessions() == ["s1"]
    await store.delete("s1")
    assert sorted(k.decode() for k in await client.keys("kommun:conv*")) == []


async def test_entries_keep_their_fields_and_text_exactly(redis_clients):
    store = RedisStore(*redis_clients())
    odd = [{}, {"text": "Åsa på förskolan — \"citat\" \\ och \n rad", "buttons": [], "nested": {"a": [1, None]}}]
    stored = await store.commit("s1", {"v": 1, "name": "Örjan"}, odd)

    assert stored == [{"seq": 1}, {"seq": 2, **odd[1]}]
    assert await store.transcript("s1") == stored
    assert (await store.load_state("s1"))["name"] == "Örjan"
    assert await store.transcript("s1", after=5) == []


async def test_a_commit_sent_again_after_a_lost_reply_is_stored_once(redis_clients):
    """redis-py resends a command after a dropped connection; the second run of one commit
    (same id) answers like the first and stores nothing more."""
    store = RedisStore(*redis_clients())
    first = await store._commit("s1", {"step": "b"}, [user("1"), user("2")], "commit-1")
    again = await store._commit("s1", {"step": "b"}, [user("1"), user("2")], "commit-1")
    later = await store.commit("s1", {"step": "c"}, [user("3")])

    assert again == first and [e["seq"] for e in first] == [1, 2]
    assert [e["seq"] for e in later] == [3]
    assert [e["text"] for e in await store.transcript("s1")] == ["1", "2", "3"]
    assert await store.load_state("s1") == {"step": "c"}


async def test_a_reader_never_sees_the_state_without_its_entries(redis_clients):
    """Writer and reader on separate clients (as two processes): every load finds the state's
    turn number matching the transcript's length, so state and entries land in one step."""
    writer = RedisStore(*redis_clients())
    reader = RedisStore(*redis_clients())
    await writer.commit("s1", {"turns": 0}, [])
    done = asyncio.Event()
    seen = []

    async def write() -> None:
        for n in range(1, 301):
            await writer.commit("s1", {"turns": n}, [user(f"u{n}"), user(f"b{n}")])
        done.set()

    async def read() -> None:
        while not done.is_set():
            conv = await reader.load("s1")
            seen.append((conv.state["turns"], len(conv.transcript)))

    await asyncio.gather(write(), read(), read())
    assert len(seen) > 10
    assert all(length == 2 * turns for turns, length in seen), [s for s in seen if s[1] != 2 * s[0]][:5]


async def test_acknowledged_commits_survive_sigkill(redis_server, redis_clients):
    store = RedisStore(*redis_clients())
    for n in range(1, 51):
        await store.commit(f"s{n % 5}", {"n": n}, [user(f"u{n}")])

    redis_server.kill()
    redis_server.start()

    again = RedisStore(*redis_clients())
    assert sorted(await again.sessions()) == [f"s{i}" for i in range(5)]
    for i in range(5):
        conv = await again.load(f"s{i}")
        numbers = [n for n in range(1, 51) if n % 5 == i]
        assert conv.state == {"n": numbers[-1]}
        assert [(e["seq"], e["text"]) for e in conv.transcript] == [(k, f"u{n}") for k, n in enumerate(numbers, 1)]


async def test_a_commit_cut_off_in_the_aof_is_replayed_as_never_made(redis_server, redis_clients):
    """A crash in the middle of writing a commit to the AOF: Redis drops the unfinished
    MULTI/EXEC on restart, so the conversation is at the turn before, state and transcript alike."""
    store = RedisStore(*redis_clients())
    await store.commit("s1", {"step": "one"}, [user("1"), user("2")])
    await store.commit("s1", {"step": "two"}, [user("3"), user("4")])
    redis_server.kill()

    aof = next(redis_server.directory.rglob("*.incr.aof"))
    raw = aof.read_bytes()
    last_multi = raw.rindex(b"MULTI\r\n")
    cut = raw.index(b'{"seq":4', last_multi)  # after the first entry of the second commit
    aof.write_bytes(raw[:cut])
    redis_server.start()

    conv = await RedisStore(*redis_clients()).load("s1")
    assert conv.state == {"step": "one"}
    assert [e["text"] for e in conv.transcript] == ["1", "2"]


async def test_retention_sweep_disposes_of_old_conversations_in_redis(redis_clients):
    client, settings = redis_clients()
    store = RedisStore(client, settings)
    for session, age in (("old", 91), ("recent", 2)):
        moment = (NOW - timedelta(days=age)).isoformat()
        await store.commit(session, {"v": 1, "created_at": moment, "updated_at": moment}, [user("hej")])
    await store.commit("undated", {"v": 1}, [user("hej")])
    policy = RetentionPolicy(days=90, decision={"sv": "Gallringsbeslut X", "en": "Disposal decision X"})

    assert await sweep(store, policy, NOW) == 1

    assert sorted(await store.sessions()) == ["recent", "undated"]
    assert await store.load("old") is None
    assert await client.exists(settings.key("conv", "old"), settings.key("conv", "old", "log")) == 0
    assert await sweep(store, policy, NOW) == 0
