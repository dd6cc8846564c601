"""The widget's server side without a browser: assets with ETags and staff texts, page headers,
the push WebSocket (replay, live, validation, bounds, heartbeat, shutdown) and CORS."""
from __future__ import annotations

import asyncio
import gzip
import shutil
import time

import aiohttp
import pytest

from bot.channels.push import HUB_KEY
from bot.knowledge import default_knowledge_dir
from common.messages import Reply


async def chat(http, base: str, session: str, text: str) -> dict:
    async with http.post(base + "/api/chat", json={"session": session, "text": text}) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_widget_js_carries_the_staff_texts_and_an_etag(make_server, tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), knowledge)
    server = await make_server(knowledge_dir=knowledge)
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "/widget.js") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/javascript"
            body, etag = await resp.text(), resp.headers["ETag"]
            assert "max-age" in resp.headers["Cache-Control"]
        assert "Chatta om Skola24" in body and "Chat about Skola24" in body
        assert "/*TEXTS*/null" not in body
        async with http.get(server.base + "/widget.js", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and await resp.read() == b""

        # A staff edit, once the knowledge is reloaded, changes the widget and its ETag.
        path = knowledge / "texts" / "widget.yaml"
        path.write_text(path.read_text("utf-8").replace('sv: "Chatta om Skola24"', 'sv: "Fråga oss om Skola24"'),
                        "utf-8")
        assert server.runtime.holder.reload()
        async with http.get(server.base + "/widget.js", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 200 and resp.headers["ETag"] != etag
            assert "Fråga oss om Skola24" in await resp.text()


async def test_the_widget_is_small(server):
    """Keep the embed cheap on mobile: widget.js (with its texts) + widget.css under 30 KB gzipped."""
    size = 0
    async with aiohttp.ClientSession() as http:
        for path in ("/widget.js", "/widget.css"):
            async with http.get(server.base + path) as resp:
                size += len(gzip.compress(await resp.read(), 9))
    assert size < 30 * 1024, f"widget.js + widget.css are {size} bytes gzipped"


async def test_pages_have_a_strict_csp_and_both_languages(server):
    async with aiohttp.ClientSession() as http:
        for path, needle in (("/", "Skola24"), ("/tillganglighet", "Tillgänglighetsredogörelse"),
                             ("/tillganglighet?lang=en", "Accessibility statement"),
                             ("/integritet", "allmän handling"), ("/integritet?lang=en", "public record")):
            async with http.get(server.base + path) as resp:
                assert resp.status == 200, path
                csp = resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "unsafe-inline" not in csp
                assert f"ws://127.0.0.1:{server.config.port}" in csp  # the widget's live socket
                assert "frame-ancestors 'none'" in csp
                assert needle in await resp.text(), path
        async with http.get(server.base + "/") as resp:
            page = await resp.text()
        assert f'data-api="{server.base}"' in page and 'src="/widget.js"' in page
        async with http.get(server.base + "/tillganglighet?lang=<script>") as resp:
            assert resp.status == 200 and "<script>" not in await resp.text()


async def test_the_socket_replays_after_n_then_pushes_posts(server):
    async with aiohttp.ClientSession() as http:
        await chat(http, server.base, "push-1", "hej")
        await chat(http, server.base, "push-1", "meny")
        entries = await server.runtime.store.transcript("push-1")
        async with http.ws_connect(server.base + "/api/chat/push-1/ws?after=2") as ws:
            first = await ws.receive_json(timeout=3)
            assert first["type"] == "messages"
            assert [m["seq"] for m in first["messages"]] == [e["seq"] for e in entries if e["seq"] > 2]
            await server.runtime.engine.post("push-1", [Reply("Hej från Alex")], sender="agent")
            live = await ws.receive_json(timeout=3)
            assert [(m["from"], m["text"]) for m in live["messages"]] == [("agent", "Hej från Alex")]
            assert live["messages"][0]["seq"] == entries[-1]["seq"] + 1
            # Another session's message never reaches this socket.
            await chat(http, server.base, "push-2", "hej")
            await server.runtime.engine.post("push-2", [Reply("Till någon annan")], sender="agent")
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive_json(timeout=0.5)


@pytest.mark.parametrize("path, status", [
    ("/api/chat/bad%20id/ws", 400),
    ("/api/chat/" + "x" * 65 + "/ws", 400),
    ("/api/chat/ok-id/ws?after=-1", 400),
    ("/api/chat/ok-id/ws?after=abc", 400),
    ("/api/chat/ok-id/ws", 400),  # a plain GET, not a WebSocket upgrade
])
async def test_bad_socket_requests_get_a_clear_error(server, path, status):
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + path) as resp:
            assert resp.status == status
            assert "error" in await resp.json()


async def test_sockets_per_session_are_bounded_and_pinged(server):
    hub = server.app[HUB_KEY]
    hub.heartbeat = 0.3
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(server.base + "/api/chat/bounded/ws") for _ in range(hub.max_per_session)]
        newest = await http.ws_connect(server.base + "/api/chat/bounded/ws")
        closed = await sockets[0].receive(timeout=3)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert len(hub.sessions["bounded"]) == hub.max_per_session
        assert (await newest.receive_json(timeout=3)) == {"type": "ping"}
        for ws in sockets + [newest]:
            await ws.close()
    for _ in range(20):
        if "bounded" not in hub.sessions:
            break
        await asyncio.sleep(0.05)
    assert "bounded" not in hub.sessions, "closed sockets are forgotten"


async def test_stopping_the_server_closes_sockets_at_once(server):
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.base + "/api/chat/stopping/ws")
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 1.5
        msg = await ws.receive(timeout=2)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_cors_only_for_listed_origins(server, monkeypatch):
    async with aiohttp.ClientSession() as http:
        preflight = {"Origin": "https://www.halmstad.se", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"}
        async with http.options(server.base + "/api/chat", headers=preflight) as resp:
            assert resp.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(server.base + "/api/chat/cors/ws", headers={"Origin": "https://www.halmstad.se"})
        # The server's own pages may always connect.
        async with http.ws_connect(server.base + "/api/chat/cors/ws", headers={"Origin": server.base}):
            pass
    monkeypatch.setenv("HALMSTAD_WIDGET_ORIGINS", "https://www.halmstad.se")
    async with aiohttp.ClientSession() as http:
        async with http.options(server.base + "/api/chat", headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://www.halmstad.se"
            assert "Content-Type" in resp.headers["Access-Control-Allow-Headers"]
        async with http.post(server.base + "/api/chat", json={"session": "cors", "text": "hej"},
                             headers={"Origin": "https://www.halmstad.se"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "https://www.halmstad.se"
        async with http.post(server.base + "/api/chat", json={"session": "cors", "text": "hej"},
                             headers={"Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.ws_connect(server.base + "/api/chat/cors/ws", headers={"Origin": "https://www.halmstad.se"}):
            pass
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(server.base + "/api/chat/cors/ws", headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
