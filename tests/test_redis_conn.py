"""The Redis client every serve process opens (common/redis_conn.py), on a real redis-server."""
from __future__ import annotations

import asyncio

from common.redis_conn import RedisSettings


async def test_more_commands_than_connections_wait_for_one_instead_of_failing(redis_server):
    """200 guardians at once on a pool of 100 got MaxConnectionsError with redis-py's plain pool."""
    settings = RedisSettings(redis_server.url, "pool:")
    client = settings.connect(max_connections=3)
    try:
        # Each BLPOP holds its connection for 0.2 s: 12 of them on 3 connections take turns.
        found = await asyncio.gather(*[client.blpop(settings.key("empty", str(n)), timeout=0.2) for n in range(12)],
                                     return_exceptions=True)
        assert found == [None] * 12
    finally:
        await client.aclose()


async def test_closing_the_client_closes_its_connections(redis_server):
    settings = RedisSettings(redis_server.url, "pool:")
    watcher, client = settings.connect(), settings.connect()
    try:
        await asyncio.gather(*[client.blpop(settings.key("empty", str(n)), timeout=0.1) for n in range(4)])
        before = len(await watcher.client_list())
        await client.aclose()
        await asyncio.sleep(0.2)
        assert len(await watcher.client_list()) <= before - 4
    finally:
        await watcher.aclose()
