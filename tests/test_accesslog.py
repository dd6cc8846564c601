"""bot/accesslog.py: a DEBUG line per request and an INFO summary, both without personal data."""
from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from bot.accesslog import PrivateAccessLogger
from common.logtally import flush_all

SESSION = "s3cretSessionId_0123456789abcdef"


@pytest.fixture
async def base():
    async def messages(request: web.Request) -> web.Response:
        return web.json_response({"messages": []})

    app = web.Application()
    app.router.add_get("/api/chat/{session}/messages", messages)
    runner = web.AppRunner(app, access_log_class=PrivateAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def get_three(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.get(f"{base}/api/chat/{SESSION}/messages?after=3") as resp:
                assert resp.status == 200
        async with http.get(f"{base}/nowhere") as resp:
            assert resp.status == 404
    await flush_all()


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_info_gets_a_summary_by_route_and_status_without_the_session(base, caplog):
    await flush_all()  # what earlier tests left
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    await get_three(base)
    logged = access_lines(caplog)
    assert not any(line.startswith("http method=") for line in logged), "no line per request at INFO"
    summary = "\n".join(logged)
    assert "GET /api/chat/{session}/messages 200" in summary and "GET - 404 1" in summary
    assert sum(int(line.split()[2]) for line in logged) == 3
    assert SESSION not in summary and "after=" not in summary and "127.0.0.1" not in summary


async def test_debug_gets_a_line_per_request_without_the_session(base, caplog):
    await flush_all()
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")
    await get_three(base)
    per_request = [line for line in access_lines(caplog) if line.startswith("http method=")]
    assert len(per_request) == 3
    assert per_request[0].startswith("http method=GET route=/api/chat/{session}/messages status=200 ms=")
    assert SESSION not in "\n".join(access_lines(caplog))
