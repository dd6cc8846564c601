"""`serve --redis-url` while redis-server is killed with SIGKILL under load and started again.

A real redis-server with `appendonly yes` and `appendfsync always` (tests/redis_server.py).
Guardians run whole conversations (the account flow, FAQ questions) against one `serve` process;
redis-server is killed mid-load, left down for a while, then started on the same dir and port.
While it is down a turn gets a clear 503 JSON error at once (no hang, no 500) and /healthz says
503. A guardian whose turn got 503 waits for /healthz, reads its transcript to learn whether the
turn was stored anyway (Redis may die after the write, before its reply) and goes on from there.

Afterwards, read from Redis itself: every turn that got a 200 is in its transcript, in order,
nothing twice, seqs 1, 2, 3, ...; and every conversation a kill interrupted went on from its step
to its end.
"""
from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field

import aiohttp
import pytest

from bot.store.redis_store import RedisStore
from common.redis_conn import RedisSettings
from tests.redis_server import RedisServer
from tests.reliability.crash import finished, scenario, where_it_stands
from tests.serving import Server

pytestmark = pytest.mark.reliability

NOW = "2026-12-01T10:00"  # a Tuesday morning
PREFIX = "killtest:"


@dataclass
class Tally:
    stored: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))  # known stored turns
    acked: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # turn numbers with a 200
    kinds: dict[str, str] = field(default_factory=dict)
    unavailable: int = 0
    interrupted: set[str] = field(default_factory=set)
    unfinished: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def wait_healthy(serve: Server, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await asyncio.to_thread(serve.get, "/healthz"))[0] != 200:
        if loop.time() > deadline:
            raise RuntimeError("serve did not become healthy again")
        await asyncio.sleep(0.1)


async def conversation(http: aiohttp.ClientSession, serve: Server, session: str, kind: str, tally: Tally) -> None:
    """One guardian's whole conversation, going on after every 503 from where it really is."""
    steps = scenario(kind, "Anna Lindqvist", "anna@example.com")
    tally.kinds[session] = kind
    idx, messages = 0, []
    while idx < len(steps):
        key, value = steps[idx]
        try:
            async with http.post(f"{serve.base}/api/chat", json={"session": session, key: value}) as resp:
                status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.problems.append(f"{session} step {idx}: no answer ({type(exc).__name__})")
            return
        if status == 503:
            tally.unavailable += 1
            tally.interrupted.add(session)
            if "error" not in json.loads(raw):
                tally.problems.append(f"{session} step {idx}: 503 without a JSON error: {raw[:200]!r}")
            await wait_healthy(serve)
            next_idx, last_answer = await where_it_stands(http, serve.base, session, idx)
            if next_idx is None:
                tally.problems.append(f"{session} step {idx}: the transcript holds neither")
                return
            if next_idx > idx:  # stored although the reply was lost: go on
                tally.stored[session].append(steps[idx])
                messages = last_answer
            idx = next_idx
            continue
        if status != 200:
            tally.problems.append(f"{session} step {idx}: {status} {raw[:200]!r}")
            return
        tally.stored[session].append(steps[idx])
        tally.acked[session].append(idx)
        messages = json.loads(raw)["messages"]
        idx += 1
    texts = " ".join(m["text"] for m in messages)
    payloads = {b["payload"] for m in messages for b in m.get("buttons", [])}
    if not finished(kind, texts, payloads):
        tally.unfinished.append(f"{session} ({kind}): {texts[:200]!r}")


async def guardian(i: int, serve: Server, stop: asyncio.Event, tally: Tally) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        n = 0
        while not stop.is_set():
            kind = "account" if (i + n) % 3 else "faq"
            await conversation(http, serve, f"g{i}-{n}", kind, tally)
            n += 1


async def check_down(base: str) -> tuple[tuple[int, dict], int]:
    """A turn and /healthz while Redis is down: both answer at once."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{base}/api/chat", json={"session": "while-down", "text": "hej"}) as resp:
            turn = (resp.status, await resp.json())
        async with http.get(f"{base}/healthz") as resp:
            return turn, resp.status


async def test_acknowledged_turns_survive_redis_sigkill_and_conversations_go_on(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    serve = Server(tmp_path / "data", "--now", NOW, "--redis-url", redis.url, "--redis-prefix", PREFIX,
                   "--rate-limit-per-address", "0", "--rate-limit-per-session", "0",
                   env={"HALMSTAD_LOG_LEVEL": "WARNING"})
    await asyncio.to_thread(serve.start)
    tally, stop = Tally(), asyncio.Event()
    try:
        guardians = [asyncio.create_task(guardian(i, serve, stop, tally)) for i in range(6)]
        await asyncio.sleep(2.0)
        acked_before_kill = {s: list(turns) for s, turns in tally.acked.items()}
        redis.kill()
        (status, body), health = await check_down(serve.base)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.start)  # same directory and port: the AOF is replayed
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*guardians), timeout=120)
    finally:
        serve.kill()

    assert status == 503 and body == {"error": "the service is temporarily unavailable; please try again"}
    assert health == 503
    assert not tally.problems, tally.problems
    assert not tally.unfinished, tally.unfinished
    assert tally.unavailable >= 1 and tally.interrupted, "the kill should catch turns in flight"
    assert sum(map(len, acked_before_kill.values())) > 0

    settings = RedisSettings(redis.url, PREFIX)
    client = settings.connect()
    try:
        store = RedisStore(client, settings)
        assert set(await store.sessions()) == set(tally.stored)
        for session, turns in tally.stored.items():
            transcript = await store.transcript(session)
            assert [e["seq"] for e in transcript] == list(range(1, len(transcript) + 1)), session
            users = [e for e in transcript if e["from"] == "user"]
            # Exactly the turns known stored (every 200 among them), in order, none twice.
            assert [(("button", e["button"]) if "button" in e else ("text", e["text"])) for e in users] == turns
            assert len(turns) >= len(acked_before_kill.get(session, []))
    finally:
        await client.aclose()
        redis.stop()
