"""`build_app` with a Redis URL: conversations in Redis, the Redis lock, 503 while Redis is down.

In-process (aiohttp's test server) on a real redis-server; the process-level kill test is
tests/reliability/test_redis_kill.py.
"""
from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.app import RUNTIME_KEY, ServeConfig, build_app
from bot.store.redis_lock import RedisLocks
from bot.store.redis_store import RedisStore
from bot.store.tinydb_store import TinyDBStore
from common.locks import KeyedLocks


async def start(tmp_path, **config) -> TestClient:
    app = build_app(ServeConfig(data_dir=tmp_path / "data", now="2026-12-01T10:00", **config))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_with_a_redis_url_conversations_and_locks_live_in_redis(tmp_path, redis_server):
    client = await start(tmp_path, redis_url=redis_server.url, redis_prefix="app:")
    try:
        runtime = client.app[RUNTIME_KEY]
        assert isinstance(runtime.store, RedisStore) and isinstance(runtime.engine.locks, RedisLocks)
        assert runtime.redis is not None and runtime.redis_settings.key("x") == "app:x"

        resp = await client.post("/api/chat", json={"session": "app-1", "text": "hej"})
        assert resp.status == 200
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"

        seen = RedisStore(runtime.redis, runtime.redis_settings)
        assert await seen.sessions() == ["app-1"]
        assert (await seen.transcript("app-1"))[0]["text"] == "hej"
        assert not (tmp_path / "data" / "sessions").exists()  # no embedded store was opened
    finally:
        await client.close()


async def test_a_conversation_busy_elsewhere_gets_503_and_nothing_is_stored(tmp_path, redis_server):
    client = await start(tmp_path, redis_url=redis_server.url)
    try:
        runtime = client.app[RUNTIME_KEY]
        runtime.engine.locks.wait = 0.2
        await runtime.redis.set(runtime.redis_settings.key("lock", "conv", "busy-1"), b"other-process", px=60_000)
        resp = await client.post("/api/chat", json={"session": "busy-1", "text": "hej"})
        assert resp.status == 503 and resp.headers["Retry-After"]
        assert await resp.json() == {"error": "this conversation is busy; please try again"}
        assert await runtime.store.load("busy-1") is None
    finally:
        await client.close()


async def test_while_redis_is_down_turns_and_healthz_answer_503_then_recover(tmp_path, redis_server):
    client = await start(tmp_path, redis_url=redis_server.url)
    try:
        assert (await client.post("/api/chat", json={"session": "down-1", "text": "hej"})).status == 200
        redis_server.kill()
        resp = await client.post("/api/chat", json={"session": "down-1", "text": "öppettider?"})
        assert resp.status == 503
        assert await resp.json() == {"error": "the service is temporarily unavailable; please try again"}
        messages = await client.get("/api/chat/down-1/messages")
        assert messages.status == 503
        health = await client.get("/healthz")
        assert health.status == 503
        assert (await health.json())["failing"] == ["redis"]

        redis_server.start()
        resp = await client.post("/api/chat", json={"session": "down-1", "text": "öppettider?"})
        assert resp.status == 200
        transcript = await client.get("/api/chat/down-1/messages")
        users = [m["text"] for m in (await transcript.json())["messages"] if m["from"] == "user"]
        assert users == ["hej", "öppettider?"]
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()


async def test_a_full_redis_answers_503_and_keeps_what_it_has(tmp_path, redis_server):
    """`maxmemory-policy noeviction` (docs/DEPLOYMENT.md): when Redis is full, writes fail with
    OOM and the turn gets 503; nothing is evicted, and the turn goes through once there is room."""
    client = await start(tmp_path, redis_url=redis_server.url)
    try:
        redis = client.app[RUNTIME_KEY].redis
        assert (await client.post("/api/chat", json={"session": "full-1", "text": "hej"})).status == 200
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", "1")
        resp = await client.post("/api/chat", json={"session": "full-1", "text": "öppettider?"})
        assert resp.status == 503
        await redis.config_set("maxmemory", "0")
        assert (await client.post("/api/chat", json={"session": "full-1", "text": "öppettider?"})).status == 200
        transcript = await client.app[RUNTIME_KEY].store.transcript("full-1")
        assert [e["text"] for e in transcript if e["from"] == "user"] == ["hej", "öppettider?"]
    finally:
        await client.close()


async def test_without_a_redis_url_nothing_of_redis_is_built(tmp_path):
    client = await start(tmp_path)
    try:
        runtime = client.app[RUNTIME_KEY]
        assert runtime.redis is None and runtime.redis_settings is None and runtime.health_checks == []
        assert isinstance(runtime.engine.locks, KeyedLocks)
        assert (await client.post("/api/chat", json={"session": "local-1", "text": "hej"})).status == 200
        assert isinstance(runtime.store, TinyDBStore) and await runtime.store.load("local-1") is not None
    finally:
        await client.close()
