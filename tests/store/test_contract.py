"""The `SessionStore` contract, run against every adapter, so the engine can use either."""
from __future__ import annotations

import asyncio

import pytest

from bot.store.memory import MemoryStore
from bot.store.redis_store import RedisStore
from bot.store.tinydb_store import TinyDBStore
from common.redis_conn import RedisSettings


@pytest.fixture(params=["memory", "tinydb", "redis"])
async def store(request, tmp_path):
    client = None
    if request.param == "redis":
        # A real redis-server (tests/redis_server.py), one per test, so every test starts empty.
        settings = RedisSettings(request.getfixturevalue("redis_server").url, "contract:")
        client = settings.connect()
        s = RedisStore(client, settings)
    else:
        s = MemoryStore() if request.param == "memory" else TinyDBStore(tmp_path / "sessions")
    yield s
    await s.close()
    if client is not None:
        await client.aclose()


def user(text: str) -> dict:
    return {"from": "user", "text": text, "at": "2025-03-03T08:00:00+01:00"}


def bot(text: str) -> dict:
    return {"from": "bot", "text": text, "buttons": [{"label": "OK", "payload": "ok"}], "at": "2025-03-03T08:00:01+01:00"}


async def test_unknown_session_has_no_conversation(store):
    assert await store.load("nobody") is None
    assert await store.transcript("nobody") == []
    assert await store.sessions() == []


async def test_commit_then_load_returns_state_and_numbered_transcript(store):
    stored = await store.commit("s1", {"v": 1, "flow": "activation:ask_email"}, [user("hej"), bot("Hej!")])

    assert [e["seq"] for e in stored] == [1, 2]
    assert stored[0]["text"] == "hej" and stored[1]["buttons"] == [{"label": "OK", "payload": "ok"}]
    conv = await store.load("s1")
    assert conv.session == "s1"
    assert conv.state == {"v": 1, "flow": "activation:ask_email"}
    assert conv.transcript == stored


async def test_seqs_continue_across_commits_and_state_is_replaced(store):
    await store.commit("s1", {"v": 1, "step": "a"}, [user("1"), bot("2")])
    stored = await store.commit("s1", {"v": 1, "step": "b"}, [user("3")])
    await store.commit("s1", {"v": 1, "step": "c"}, [])  # a state-only turn adds no entries

    assert [e["seq"] for e in stored] == [3]
    conv = await store.load("s1")
    assert conv.state == {"v": 1, "step": "c"}
    assert [(e["seq"], e["text"]) for e in conv.transcript] == [(1, "1"), (2, "2"), (3, "3")]


async def test_seq_supplied_by_caller_is_overwritten(store):
    stored = await store.commit("s1", {"v": 1}, [{**user("x"), "seq": 99}])
    assert stored[0]["seq"] == 1
    assert [e["seq"] for e in await store.transcript("s1")] == [1]


async def test_transcript_after_returns_only_newer_entries(store):
    await store.commit("s1", {"v": 1}, [user("a"), bot("b")])
    await store.commit("s1", {"v": 1}, [user("c"), bot("d")])

    assert [e["text"] for e in await store.transcript("s1")] == ["a", "b", "c", "d"]
    assert [e["text"] for e in await store.transcript("s1", after=2)] == ["c", "d"]
    assert [e["seq"] for e in await store.transcript("s1", after=3)] == [4]
    assert await store.transcript("s1", after=4) == []


async def test_returned_and_passed_values_are_copies(store):
    state = {"v": 1, "answers": {"email": "masked"}}
    entries = [user("hej")]
    stored = await store.commit("s1", state, entries)

    # Mutating what was passed in or handed back must not reach the store.
    state["answers"]["email"] = "changed"
    entries[0]["text"] = "changed"
    stored[0]["text"] = "changed"
    conv = await store.load("s1")
    conv.state["answers"]["email"] = "changed again"
    conv.transcript[0]["text"] = "changed again"
    conv.transcript.append({"seq": 2})
    (await store.transcript("s1"))[0]["text"] = "changed again"

    again = await store.load("s1")
    assert again.state == {"v": 1, "answers": {"email": "masked"}}
    assert [(e["seq"], e["text"]) for e in again.transcript] == [(1, "hej")]


async def test_delete_removes_the_conversation(store):
    await store.commit("s1", {"v": 1}, [user("a")])
    await store.commit("s2", {"v": 1}, [user("b")])

    await store.delete("s1")
    await store.delete("never-existed")

    assert await store.load("s1") is None
    assert await store.transcript("s1") == []
    assert await store.sessions() == ["s2"]
    assert (await store.load("s2")).transcript[0]["text"] == "b"


async def test_sessions_lists_every_stored_id(store):
    ids = {"a", "B-2", "tg_123456789", "x" * 64}
    for sid in ids:
        await store.commit(sid, {"v": 1}, [])
    assert sorted(await store.sessions()) == sorted(ids)


async def test_concurrent_commits_to_one_session_keep_every_entry(store):
    async def turn(i: int) -> list[dict]:
        return await store.commit("busy", {"v": 1, "last": i}, [user(f"u{i}"), bot(f"b{i}")])

    results = await asyncio.gather(*(turn(i) for i in range(40)))

    transcript = await store.transcript("busy")
    assert [e["seq"] for e in transcript] == list(range(1, 81))
    assert sorted(e["text"] for e in transcript) == sorted([f"u{i}" for i in range(40)] + [f"b{i}" for i in range(40)])
    for i, stored in enumerate(results):
        # Each turn's two entries stay together and in order.
        assert [e["text"] for e in stored] == [f"u{i}", f"b{i}"]
        assert stored[1]["seq"] == stored[0]["seq"] + 1
    assert (await store.load("busy")).state["last"] in range(40)


@pytest.mark.parametrize("bad", ["", "x" * 65, "../etc", "a/b", "a.b", "a b", "åsa", "a\n", "corrupt/x", 42, None])
async def test_invalid_session_id_is_rejected_and_nothing_stored(store, bad):
    with pytest.raises(ValueError):
        await store.commit(bad, {"v": 1}, [user("x")])
    with pytest.raises(ValueError):
        await store.load(bad)
    with pytest.raises(ValueError):
        await store.transcript(bad)
    with pytest.raises(ValueError):
        await store.delete(bad)
    assert await store.sessions() == []


async def test_state_json_cannot_hold_is_rejected_and_nothing_stored(store):
    await store.commit("s1", {"v": 1}, [user("a")])
    with pytest.raises(TypeError):
        await store.commit("s1", {"v": 1, "when": {1, 2}}, [user("b")])
    with pytest.raises(TypeError):
        await store.commit("s1", {"v": 1}, [{"from": "user", "text": object()}])

    conv = await store.load("s1")
    assert conv.state == {"v": 1}
    assert [e["text"] for e in conv.transcript] == ["a"]


async def test_load_state_returns_a_copy_of_the_state_only(store):
    assert await store.load_state("nobody") is None
    await store.commit("ls", {"step": "a:b", "n": 1}, [{"from": "user", "text": "x"}])
    state = await store.load_state("ls")
    assert state == {"step": "a:b", "n": 1}
    state["n"] = 2
    assert (await store.load_state("ls"))["n"] == 1
