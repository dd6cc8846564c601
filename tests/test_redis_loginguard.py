"""The login throttle in Redis (common/redis_loginguard.py), on a real redis-server: two guards on
their own clients stand for two `serve` processes, and every count is shared between them, so
spreading guesses over the processes buys an attacker nothing. Without Redis the in-process
`LoginGuard` stays (tests/test_loginguard.py)."""
from __future__ import annotations

import asyncio

import pytest

from common.loginguard import Attempt, LoginGuard
from common.redis_conn import RedisSettings
from common.redis_loginguard import RedisLoginGuard


@pytest.fixture
async def guards(redis_server):
    """`make(prefix="test:", **limits)` → a guard with a client of its own (as another process)."""
    clients = []

    def make(prefix: str = "test:", name: str = "console", **limits) -> RedisLoginGuard:
        settings = RedisSettings(redis_server.url, prefix)
        clients.append(settings.connect())
        return RedisLoginGuard(clients[-1], settings, name, **limits)

    yield make
    for client in clients:
        await client.aclose()


async def test_failures_on_two_processes_add_up_for_an_account(guards):
    a, b = guards(), guards()
    for guard in (a, b, a, b, a):
        attempt = await guard.reserve("staff", "10.0.0.1")
        assert isinstance(attempt, Attempt)
        await guard.settle(attempt, False)
    assert await b.reserve("staff", "10.0.0.2") == 2.0  # the sixth waits, on either process
    assert await a.reserve("staff", "10.0.0.3") == 2.0
    assert isinstance(await a.reserve("colleague", "10.0.0.1"), Attempt)


async def test_attempts_sent_together_to_two_processes_are_counted_before_their_outcome(guards):
    a, b = guards(), guards()
    results = await asyncio.gather(*(guard.reserve("staff", f"10.0.0.{i}")
                                     for i, guard in enumerate([a, b] * 6)))
    assert sum(isinstance(r, Attempt) for r in results) == 5  # free_failures, whatever the process


async def test_one_address_is_limited_across_processes_and_usernames(guards):
    a, b = guards(per_address=4), guards(per_address=4)
    for i, guard in enumerate((a, b, a, b)):
        await guard.settle(await guard.reserve(f"user{i}", "attacker"), False)
    wait = await a.reserve("user9", "attacker")
    assert not isinstance(wait, Attempt) and 1.0 <= wait <= 900.0
    assert not isinstance(await b.reserve("user8", "attacker"), Attempt)
    assert isinstance(await b.reserve("user8", "colleague"), Attempt)


async def test_a_success_gives_back_only_its_own_reservation(guards):
    a, b = guards(), guards()
    attempts = [await guard.reserve("staff", "10.0.0.1") for guard in (a, b, a, b, a)]
    await b.settle(attempts[0], True)  # settled by the other process: the count is one
    for attempt in attempts[1:]:
        await a.settle(attempt, False)
    assert isinstance(await b.reserve("staff", "10.0.0.1"), Attempt)  # one slot back: its own
    assert not isinstance(await a.reserve("staff", "10.0.0.1"), Attempt)


async def test_failures_are_forgotten_after_the_quiet_time(guards):
    a, b = guards(forget_after=0.3), guards(forget_after=0.3)
    for guard in (a, b, a, b, a):
        await guard.settle(await guard.reserve("staff", "10.0.0.1"), False)
    assert not isinstance(await b.reserve("staff", "10.0.0.1"), Attempt)
    await asyncio.sleep(0.5)  # the account's key expired in Redis
    assert isinstance(await b.reserve("staff", "10.0.0.1"), Attempt)


async def test_logins_and_prefixes_count_apart_and_keys_name_no_user(guards, redis_server):
    console, staff, other_town = guards(), guards(name="staff"), guards(prefix="falkenberg:")
    for _ in range(5):
        await console.settle(await console.reserve("anna.admin", "10.0.0.1"), False)
    assert not isinstance(await console.reserve("anna.admin", "10.0.0.1"), Attempt)
    assert isinstance(await staff.reserve("anna.admin", "10.0.0.1"), Attempt)
    assert isinstance(await other_town.reserve("anna.admin", "10.0.0.1"), Attempt)
    client = RedisSettings(redis_server.url).connect()
    try:
        keys = [k.decode() for k in await client.keys("*")]
        assert keys and all(k.startswith(("test:login:console:", "test:login:staff:", "falkenberg:login:console:"))
                            for k in keys), keys
        assert not any("anna" in k or "10.0.0.1" in k for k in keys)
        assert all([await client.pttl(k) > 0 for k in keys])  # every count expires by itself
    finally:
        await client.aclose()


async def test_the_in_process_guard_answers_the_same_awaitable_calls():
    guard = LoginGuard()
    attempts = [await guard.reserve("staff", "a") for _ in range(5)]
    await guard.settle(attempts[0], True)
    for attempt in attempts[1:]:
        await guard.settle(attempt, False)
    assert isinstance(await guard.reserve("staff", "a"), Attempt)
    assert await guard.reserve("staff", "a") == 2.0
