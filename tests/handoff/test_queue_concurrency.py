"""Left messages are written without the queue-wide lock, and every item is found by its session
(bot/handoff/queue.py's `add_message`, `ItemsBySession`; bot/shared_redis/handoff.py's `insert`).

Real files in a temp dir and a real redis-server. Whether the lock is held during a write is shown
by blocking one write (a threading.Event in the file write, an asyncio.Event before the Redis
call) and letting other changes finish meanwhile; nothing here is timed.
"""
from __future__ import annotations

import asyncio
import copy
import errno
import json
import pickle
import threading
from datetime import datetime, timedelta, timezone

import pytest
from redis.exceptions import RedisError

from bot.handoff.queue import REPEAT_WINDOW, FileItems, HandoffQueue, ItemsBySession
from bot.shared_redis.state import SharedState
from common.redis_conn import RedisSettings

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
PREFIX = "conc:"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def leave(queue: HandoffQueue, session: str, text: str = "Ring mig", name: str = "Anna"):
    return queue.add_message(session, name=name, contact="anna@example.com", contact_kind="email", text=text,
                             lang="sv", channel="web", reason="closed", context={"topic": "school"})


def check_index(items: ItemsBySession) -> None:
    """The index holds exactly the items' sessions, in the items' order."""
    expected: dict = {}
    for item_id, item in items.items():
        expected.setdefault(item["session"], []).append(item_id)
    assert {s: [i["id"] for i in items.of_session(s)] for s in expected} == expected
    assert set(items._by_session) == set(expected)


async def turns(n: int = 20) -> None:
    """Let every ready task run as far as it can without waiting for anything outside the loop."""
    for _ in range(n):
        await asyncio.sleep(0)


# The index ------------------------------------------------------------------------------------------

def item(item_id: str, session: str, **extra) -> dict:
    return {"id": item_id, "session": session, "kind": "message", **extra}


def test_the_index_follows_every_way_the_items_change():
    items = ItemsBySession({"a": item("a", "s1"), "b": item("b", "s2")})
    items["c"] = item("c", "s1")
    assert [i["id"] for i in items.of_session("s1")] == ["a", "c"]
    items["a"] = item("a", "s3")  # replaced with another session: moves
    assert [i["id"] for i in items.of_session("s1")] == ["c"] and items.of_session("s3")[0]["id"] == "a"
    del items["b"]
    assert items.of_session("s2") == []
    assert items.pop("c")["id"] == "c" and items.pop("missing", None) is None
    with pytest.raises(KeyError):
        items.pop("missing")
    items.update({"d": item("d", "s4")}, e=item("e", "s4"))
    items |= {"f": item("f", "s5")}
    assert items.setdefault("g", item("g", "s6"))["id"] == "g"
    assert items.setdefault("g", item("g", "other"))["session"] == "s6"
    check_index(items)
    popped, _ = items.popitem()
    assert popped == "g" and items.of_session("s6") == []
    for clone in (items.copy(), copy.deepcopy(items), pickle.loads(pickle.dumps(items))):
        assert isinstance(clone, ItemsBySession) and clone == items
        check_index(clone)
    items.clear()
    assert items == {} and items._by_session == {}


async def test_an_assigned_plain_dict_becomes_an_index(tmp_path):
    storage = FileItems(tmp_path)
    storage.items = {"m-1": item("m-1", "s1")}
    assert isinstance(storage.items, ItemsBySession) and storage.items.of_session("s1")


async def test_open_for_session_through_join_accept_close_and_leaving(tmp_path):
    queue = HandoffQueue(tmp_path, Clock())
    await leave(queue, "g1")
    assert queue.open_for_session("g1") is None  # a left message is not a conversation
    first, _ = await queue.join("g1", lang="sv", channel="web", reason=None, context={})
    assert queue.open_for_session("g1")["status"] == "waiting"
    await queue.accept(first["id"], "alex", "Alex")
    assert queue.open_for_session("g1")["status"] == "assigned"
    await queue.close(first["id"], "alex", "resolved")
    assert queue.open_for_session("g1") is None
    second, is_new = await queue.join("g1", lang="sv", channel="web", reason=None, context={})
    assert is_new and queue.open_for_session("g1")["id"] == second["id"]
    await queue.accept(second["id"], "alex", "Alex")
    await queue.guardian_leaves("g1")
    assert queue.open_for_session("g1") is None
    third, _ = await queue.join("g1", lang="sv", channel="web", reason=None, context={})
    await queue.guardian_leaves("g1")
    assert queue.get(third["id"])["status"] == "abandoned" and queue.open_for_session("g1") is None
    assert queue.open_for_session("g2") is None
    assert len(queue.items.of_session("g1")) == 4
    check_index(queue.items)
    again = HandoffQueue(tmp_path, Clock())
    check_index(again.items)
    assert len(again.items.of_session("g1")) == 4
    assert await again.purge(NOW + timedelta(days=1)) == 2  # closed and abandoned; the left one is assigned
    check_index(again.items)
    assert sorted(i["kind"] for i in again.items.of_session("g1")) == ["conversation", "message"]
    assert again.get(second["id"])["guardian_left"]


async def test_the_same_message_again_is_the_stored_one_until_the_window_has_passed(tmp_path):
    clock = Clock()
    queue = HandoffQueue(tmp_path, clock)
    first = await leave(queue, "g1")
    clock.now += REPEAT_WINDOW - timedelta(seconds=1)
    assert (await leave(queue, "g1"))["id"] == first["id"]
    assert (await leave(queue, "g1", text="Något annat"))["id"] != first["id"]
    assert (await leave(queue, "g2"))["id"] != first["id"]  # another conversation's
    clock.now += timedelta(seconds=1)
    assert (await leave(queue, "g1"))["id"] != first["id"]
    assert len(queue.items) == 4


# Files ------------------------------------------------------------------------------------------

async def test_many_concurrent_messages_are_all_stored_and_read_back(tmp_path):
    queue = HandoffQueue(tmp_path, Clock())
    stored = await asyncio.gather(*(leave(queue, f"g{n}", text=f"Ring mig {n}") for n in range(60)))
    ids = {m["id"] for m in stored}
    assert len(ids) == 60 and set(queue.items) == ids
    again = FileItems(tmp_path)
    assert {i: m["text"] for i, m in again.items.items()} == {m["id"]: m["text"] for m in stored}
    check_index(again.items)


def blocking_writes(storage: FileItems, monkeypatch, blocked_session: str):
    """Make the file writes of `blocked_session` wait for the returned event; return it and the
    list of sessions whose write has started."""
    release, started = threading.Event(), []
    write = storage._write_sync

    def write_sync(item: dict) -> None:
        started.append(item["session"])
        if item["session"] == blocked_session:
            assert release.wait(60), "the test never released the write"
        write(item)
    monkeypatch.setattr(storage, "_write_sync", write_sync)
    return release, started


async def test_the_queue_lock_is_not_held_while_a_message_is_written(tmp_path, monkeypatch):
    queue = HandoffQueue(tmp_path, Clock())
    release, started = blocking_writes(queue.storage, monkeypatch, "slow")
    slow = asyncio.create_task(leave(queue, "slow"))
    try:
        while "slow" not in started:
            await asyncio.sleep(0.01)
        other = await leave(queue, "quick")  # would wait for the slow write under the old lock
        joined, _ = await queue.join("waiting", lang="sv", channel="web", reason=None, context={})
        accepted = await queue.accept(joined["id"], "alex", "Alex")  # an agent's change, under the lock
        assert not slow.done() and accepted["status"] == "assigned"
        assert set(queue.items) == {other["id"], joined["id"]}  # not the slow one: not durable yet
    finally:
        release.set()
    message = await slow
    assert queue.items[message["id"]]["session"] == "slow"
    assert set(FileItems(tmp_path).items) == {message["id"], other["id"], joined["id"]}


async def test_overlapping_identical_messages_of_one_conversation_store_one(tmp_path, monkeypatch):
    queue = HandoffQueue(tmp_path, Clock())
    release, started = blocking_writes(queue.storage, monkeypatch, "g1")
    calls = [asyncio.create_task(leave(queue, "g1")) for _ in range(3)]
    try:
        while not started:
            await asyncio.sleep(0.01)
        await turns()
        assert started == ["g1"]  # the others wait for the first one's result
    finally:
        release.set()
    results = await asyncio.gather(*calls)
    assert len({m["id"] for m in results}) == 1
    assert len(FileItems(tmp_path).items) == 1 and len(queue.items.of_session("g1")) == 1


async def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    queue = HandoffQueue(tmp_path, Clock())
    kept = await leave(queue, "g0")
    write = queue.storage._write_sync

    def disk_full(item: dict) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(queue.storage, "_write_sync", disk_full)
    with pytest.raises(OSError):
        await leave(queue, "g1")
    assert set(queue.items) == {kept["id"]} and queue.items.of_session("g1") == []
    assert queue._writing == set()
    check_index(queue.items)
    assert [p.stem for p in (tmp_path / "handoff" / "items").iterdir()] == [kept["id"]]
    monkeypatch.setattr(queue.storage, "_write_sync", write)
    again = await leave(queue, "g1")  # the guardian sends it again: stored now, once
    assert set(FileItems(tmp_path).items) == {kept["id"], again["id"]}


async def test_an_id_being_written_is_not_given_to_another_item(tmp_path, monkeypatch):
    queue = HandoffQueue(tmp_path, Clock())
    tokens = iter(["aaaaaaaaaa", "aaaaaaaaaa", "bbbbbbbbbb"])
    monkeypatch.setattr("bot.handoff.queue.secrets.token_hex", lambda n: next(tokens))
    release, started = blocking_writes(queue.storage, monkeypatch, "slow")
    slow = asyncio.create_task(leave(queue, "slow"))
    try:
        while not started:
            await asyncio.sleep(0.01)
        other = await leave(queue, "quick")
    finally:
        release.set()
    assert (await slow)["id"] == "m-aaaaaaaaaa" and other["id"] == "m-bbbbbbbbbb"


# Redis ------------------------------------------------------------------------------------------

async def new_process(url: str) -> SharedState:
    settings = RedisSettings(url, PREFIX)
    shared = SharedState(settings.connect(), settings)
    await shared.start()
    return shared


@pytest.fixture
async def processes(redis_server):
    made: list[SharedState] = []

    async def make() -> SharedState:
        made.append(await new_process(redis_server.url))
        return made[-1]
    yield make
    for shared in made:
        await shared.close()
        await shared.redis.aclose()


def queue_on(shared: SharedState, clock=None) -> HandoffQueue:
    return HandoffQueue(None, clock or Clock(), shared.items)


async def test_redis_many_concurrent_messages_from_two_processes_are_all_stored(processes):
    a, b = await processes(), await processes()
    qa, qb = queue_on(a), queue_on(b)
    stored = await asyncio.gather(*(leave(qa if n % 2 else qb, f"g{n}", text=f"Ring mig {n}") for n in range(60)))
    ids = {m["id"] for m in stored}
    assert len(ids) == 60
    later = await processes()
    assert set(later.items.items) == ids
    check_index(later.items.items)
    for shared in (a, b):
        await shared.bus.catch_up()
        assert set(shared.items.items) == ids  # each process has the other's through the stream
        check_index(shared.items.items)


async def test_redis_overlapping_identical_messages_store_one(processes):
    a = await processes()
    qa = queue_on(a)
    results = await asyncio.gather(*(leave(qa, "g1") for _ in range(4)))
    assert len({m["id"] for m in results}) == 1
    later = await processes()
    assert len(later.items.items) == 1


async def test_redis_the_same_message_on_another_process_is_the_stored_one(processes):
    a, b = await processes(), await processes()
    b._follower.cancel()  # b learns of a's change only by catching up, as a busy process may
    await asyncio.gather(b._follower, return_exceptions=True)
    first = await leave(queue_on(a), "g1")  # the process then died before answering
    assert b.items.items == {}
    assert (await leave(queue_on(b), "g1"))["id"] == first["id"]  # caught up before the check
    assert len((await processes()).items.items) == 1


async def test_redis_a_new_item_never_overwrites_a_stored_id(processes):
    a, b = await processes(), await processes()
    first = await leave(queue_on(a), "g1")
    clash = dict(first, session="g2", text="Ett annat")
    assert await b.items.insert(clash) is False
    assert b.items.items.get(first["id"], first)["session"] == "g1"  # b has a's item or none yet
    raw = await a.redis.hget(a.items.hash_key, first["id"])
    assert json.loads(raw)["session"] == "g1"


async def test_redis_the_queue_lock_is_not_held_while_a_message_is_written(processes, monkeypatch):
    a, b = await processes(), await processes()
    qa, qb = queue_on(a), queue_on(b)
    gate, waiting = asyncio.Event(), asyncio.Event()
    insert = a.items._insert

    async def held_back(**call):
        if json.loads(call["args"][5])["session"] == "slow":
            waiting.set()
            await gate.wait()
        return await insert(**call)
    monkeypatch.setattr(a.items, "_insert", held_back)
    slow = asyncio.create_task(leave(qa, "slow"))
    try:
        await waiting.wait()
        joined, _ = await qa.join("waiting", lang="sv", channel="web", reason=None, context={})
        accepted = await qb.accept(joined["id"], "bo", "Bo")  # another process takes the lock
        other = await leave(qa, "quick")
        assert not slow.done() and accepted["agent"] == "bo"
    finally:
        gate.set()
    message = await slow
    later = await processes()
    assert set(later.items.items) == {message["id"], joined["id"], other["id"]}


async def test_redis_a_late_write_does_not_undo_a_later_change_by_another_process(processes, monkeypatch):
    """The write is done but its continuation waits (a busy loop) while an agent on another
    process marks the message done and this process follows the stream: the copy keeps "done"."""
    a, b = await processes(), await processes()
    qa, qb = queue_on(a), queue_on(b)
    gate, written = asyncio.Event(), asyncio.Event()
    insert = a.items._insert

    async def late(**call):
        entry = await insert(**call)
        written.set()
        await gate.wait()
        return entry
    monkeypatch.setattr(a.items, "_insert", late)
    slow = asyncio.create_task(leave(qa, "g1"))
    try:
        await written.wait()
        await b.bus.catch_up()
        [message] = qb.open_messages()
        await qb.mark_done(message["id"], "bo")
        await a.bus.catch_up()
    finally:
        gate.set()
    assert (await slow)["id"] == message["id"]
    assert qa.get(message["id"])["status"] == "done"
    check_index(qa.items)


async def test_redis_open_for_session_follows_another_process(processes):
    a, b = await processes(), await processes()
    qa, qb = queue_on(a), queue_on(b)
    item, _ = await qa.join("g1", lang="sv", channel="web", reason=None, context={})
    await b.bus.catch_up()
    assert qb.open_for_session("g1")["status"] == "waiting"
    await qa.accept(item["id"], "alex", "Alex")
    await b.bus.catch_up()
    assert qb.open_for_session("g1")["status"] == "assigned"
    await qa.guardian_leaves("g1")
    await b.bus.catch_up()
    assert qb.open_for_session("g1") is None
    await qa.close(item["id"], "alex", "resolved")
    second, _ = await qa.join("g1", lang="sv", channel="web", reason=None, context={})
    await b.bus.catch_up()
    assert qb.open_for_session("g1")["id"] == second["id"]
    assert await qa.purge(NOW + timedelta(days=1)) == 1
    await b.bus.catch_up()
    assert [i["id"] for i in qb.items.of_session("g1")] == [second["id"]]
    check_index(qb.items)
    await b.items.load()  # a resync reads everything again
    check_index(qb.items)
    assert qb.open_for_session("g1")["id"] == second["id"]


async def test_redis_down_during_the_write_leaves_nothing_behind(processes, redis_server, monkeypatch):
    a = await processes()
    qa = queue_on(a)
    kept = await leave(qa, "g0")
    insert = a.items._insert

    async def redis_dies(**call):
        redis_server.kill()
        return await insert(**call)
    monkeypatch.setattr(a.items, "_insert", redis_dies)
    with pytest.raises((RedisError, OSError)):
        await leave(qa, "g1")
    assert set(qa.items) == {kept["id"]} and qa.items.of_session("g1") == [] and qa._writing == set()
    check_index(qa.items)
    redis_server.start()
    monkeypatch.setattr(a.items, "_insert", insert)
    later = await processes()
    assert set(later.items.items) == {kept["id"]}
