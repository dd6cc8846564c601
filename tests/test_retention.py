"""The retention sweep: transcripts are disposed of only after the configured period."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot.app import ServeConfig, build_app
from bot.pending import PendingQueue
from common.privacy import RetentionPolicy
from bot.retention import sweep
from bot.store.tinydb_store import TinyDBStore
from tests.conftest import free_port

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
POLICY = RetentionPolicy(days=90, decision={"sv": "Gallringsbeslut X", "en": "Disposal decision X"})


def state_at(moment: datetime) -> dict:
    return {"v": 1, "lang": "sv", "flow": None, "created_at": moment.isoformat(),
            "updated_at": moment.isoformat()}


async def put(store, session: str, moment: datetime) -> None:
    await store.commit(session, state_at(moment), [{"from": "user", "text": "hej", "buttons": [],
                                                    "at": moment.isoformat()}])


async def test_sweep_deletes_old_conversations_only(tmp_path):
    store = TinyDBStore(tmp_path / "sessions")
    await put(store, "old", NOW - timedelta(days=91))
    await put(store, "edge", NOW - timedelta(days=90) + timedelta(minutes=1))
    await put(store, "new", NOW - timedelta(days=2))
    undated = {"v": 1, "lang": "sv", "flow": None}
    await store.commit("undated", undated, [])
    removed = await sweep(store, POLICY, NOW)
    assert removed == 1
    assert sorted(await store.sessions()) == ["edge", "new", "undated"]
    assert await store.load("old") is None
    assert await store.transcript("old") == []
    assert await sweep(store, POLICY, NOW) == 0
    await store.close()


async def test_last_activity_counts_not_the_start(tmp_path):
    store = TinyDBStore(tmp_path / "sessions")
    state = state_at(NOW - timedelta(days=5))
    state["created_at"] = (NOW - timedelta(days=200)).isoformat()
    await store.commit("long-running", state, [])
    assert await sweep(store, POLICY, NOW) == 0
    assert await sweep(store, RetentionPolicy(days=3, decision=POLICY.decision), NOW) == 1
    await store.close()


async def test_closed_outbox_items_follow_the_same_period(tmp_path):
    store = TinyDBStore(tmp_path / "sessions")
    old_queue = PendingQueue(tmp_path / "pending", clock=lambda: NOW - timedelta(days=100))
    item = await old_queue.enqueue(session="s", channel="web", body={"right": "access", "language": "sv"})
    fresh = await PendingQueue(tmp_path / "pending", clock=lambda: NOW).enqueue(
        session="s", channel="web", body={"right": "access", "language": "sv"})
    for it in (item, fresh):
        it.update(delivered={"reference": "DSR-2026-00001", "due_date": "2026-12-28", "received_at": ""},
                  announced=True)
        old_queue._save_sync(it)
    await sweep(store, POLICY, NOW, pending=old_queue)
    assert await old_queue.get(item["id"]) is None
    assert (await old_queue.get(fresh["id"]))["delivered"]["reference"] == "DSR-2026-00001"
    await store.close()


async def test_serve_sweeps_at_start(tmp_path):
    data = tmp_path / "data"
    store = TinyDBStore(data / "sessions")
    await put(store, "ancient", NOW - timedelta(days=120))
    await put(store, "recent", NOW - timedelta(days=1))
    await store.close()
    port = free_port()
    app = build_app(ServeConfig(port=port, data_dir=data, now="2026-12-01T10:00",
                                rate_limit_per_address=0, rate_limit_per_session=0))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"http://127.0.0.1:{port}/api/chat/ancient/messages") as resp:
                    body = await resp.json()
                if resp.status == 200 and body["messages"] == []:
                    break
                await asyncio.sleep(0.05)
            assert body["messages"] == []
            async with http.get(f"http://127.0.0.1:{port}/api/chat/recent/messages") as resp:
                assert len((await resp.json())["messages"]) == 1
    finally:
        await runner.cleanup()
