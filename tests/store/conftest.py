"""Fixtures of the store tests: clients of the real redis-server (tests/redis_server.py)."""
from __future__ import annotations

import pytest

from common.redis_conn import RedisSettings


@pytest.fixture
async def redis_clients(redis_server):
    """`connect(prefix)` → (client, settings) on the test's redis-server; every client is closed
    at the end. Each call opens its own connection pool, like another process would."""
    opened = []

    def connect(prefix: str = "test:"):
        settings = RedisSettings(redis_server.url, prefix)
        client = settings.connect()
        opened.append(client)
        return client, settings

    yield connect
    for client in opened:
        await client.aclose()
