"""Two `serve` processes on one Redis serve the same conversations (issue 17, acceptance 5).

A real redis-server (AOF, appendfsync always) and two real `serve --redis-url URL` processes, A and
B, each on its own data dir, sharing HALMSTAD_BACKEND_TOKEN. The agent logins file is the same in
both data dirs (written once, copied: a login's session epoch must agree, or the other process
would end the session), as a deployment ships one agents.json to every node.

- a guardian's turns sent alternately to A and B continue at the right step;
- an agent logged in on A sees a guardian who queued on B (and A's console is told at once),
  accepts and writes, and the guardian's WebSocket on B receives it; the guardian's answer through
  B reaches the agent on A;
- A is killed with SIGKILL: B carries on with every open conversation (a flow half done on A, the
  agent's chat) and the queue (a guardian who queued on A), and the agent's cookie from A works on B.
"""
from __future__ import annotations

import asyncio
import json
import shutil

import aiohttp
import pytest

from bot.handoff.agents import AGENTS_FILE, add_agent
from tests.serving import Server

pytestmark = pytest.mark.slow
NOW = "2026-12-01T10:00"  # a Tuesday: Halmstad direkt is staffed
PASSWORD = "demo-agent-password"


@pytest.fixture
def pair(tmp_path, redis_server):
    """Serve processes A and B on one Redis; stopped (if still running) at the end."""
    dirs = [tmp_path / "a", tmp_path / "b"]
    for path in dirs:
        path.mkdir(mode=0o700)
    add_agent(dirs[0], "agent", PASSWORD, display_name="Alex Andersson")
    shutil.copy2(dirs[0] / AGENTS_FILE, dirs[1] / AGENTS_FILE)
    env = {"HALMSTAD_BACKEND_TOKEN": "two-processes-token"}
    args = ("--redis-url", redis_server.url, "--now", NOW, "--rate-limit-per-address", "0")
    servers = [Server(path, *args, env=env) for path in dirs]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.kill()


async def say(http: aiohttp.ClientSession, server: Server, session: str, text: str | None = None,
              button: str | None = None) -> dict:
    body = {"session": session, **({"text": text} if text else {}), **({"button": button} if button else {})}
    async with http.post(f"{server.base}/api/chat", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def texts(answer: dict) -> str:
    return "\n".join(m["text"] for m in answer["messages"])


async def call(http: aiohttp.ClientSession, server: Server, method: str, path: str, body=None) -> tuple[int, dict]:
    kwargs = {} if method == "GET" else {"json": body if body is not None else {}}
    async with http.request(method, f"{server.base}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def next_frame(ws: aiohttp.ClientWebSocketResponse, wanted: str, seconds: float = 10.0) -> dict:
    """The next frame of type `wanted` (pings and others skipped); fails after `seconds`."""
    async def read() -> dict:
        while True:
            frame = json.loads((await ws.receive()).data)
            if frame.get("type") == wanted:
                return frame
    return await asyncio.wait_for(read(), seconds)


async def test_two_processes_share_conversations_the_queue_and_pushes(pair):
    a, b = pair
    async with aiohttp.ClientSession() as guardian, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent:
        # Turns alternately to A and B: each continues at the step the other left.
        reply = await say(guardian, a, "flow-1", "jag vill aktivera appen")
        assert "e-postadress" in reply["messages"][-1]["text"]
        reply = await say(guardian, b, "flow-1", "anna.andersson@example.se")
        assert "anna.andersson@example.se" in reply["messages"][-1]["text"]
        send = next(btn["payload"] for btn in reply["messages"][-1]["buttons"] if btn["label"] == "Ja, skicka")
        reply = await say(guardian, a, "flow-1", button=send)
        assert "skräppost" in texts(reply) or "24 timmar" in texts(reply), texts(reply)

        # The agent logs in on A; a guardian queues on B; A's console hears of it at once.
        async with agent.post(f"{a.base}/agent/api/login", json={"username": "agent", "password": PASSWORD}) as r:
            assert r.status == 200
        assert (await call(agent, a, "POST", "/agent/api/availability", {"available": True}))[0] == 200
        console = await agent.ws_connect(f"{a.base}/agent/api/ws")
        await next_frame(console, "hello")
        reply = await say(guardian, b, "chat-1", "jag vill prata med en människa")
        assert "nummer 1 i kön" in texts(reply), texts(reply)
        await next_frame(console, "queue")
        status, queue = await call(agent, a, "GET", "/agent/api/queue")
        [waiting] = queue["waiting"]
        assert status == 200 and waiting["channel"] == "web"

        # Accepted and written on A; the guardian's WebSocket on B receives it.
        seen = (await (await guardian.get(f"{b.base}/api/chat/chat-1/messages")).json())["messages"]
        widget = await guardian.ws_connect(f"{b.base}/api/chat/chat-1/ws?after={seen[-1]['seq']}",
                                           headers={"Origin": b.base})
        assert (await call(agent, a, "POST", f"/agent/api/conversations/{waiting['id']}/accept"))[0] == 200
        frame = await next_frame(widget, "messages")
        assert "Du pratar nu med Alex" in frame["messages"][0]["text"]
        status, _ = await call(agent, a, "POST", f"/agent/api/conversations/{waiting['id']}/messages",
                               {"text": "Hej! Vad kan jag hjälpa dig med?"})
        assert status == 200
        frame = await next_frame(widget, "messages")
        assert [(m["from"], m["text"]) for m in frame["messages"]] == [("agent", "Hej! Vad kan jag hjälpa dig med?")]

        # The guardian answers through B: the agent on A reads it.
        reply = await say(guardian, b, "chat-1", "Jag kommer inte in i appen")
        assert reply["messages"] == [] and reply["handoff"] is True
        status, conversation = await call(agent, a, "GET", f"/agent/api/conversations/{waiting['id']}")
        assert conversation["transcript"][-1]["text"] == "Jag kommer inte in i appen"

        # Before A dies: a flow half done on A, and a second guardian queued on A.
        reply = await say(guardian, a, "flow-2", "jag vill aktivera appen")
        assert "e-postadress" in reply["messages"][-1]["text"]
        reply = await say(guardian, a, "chat-2", "jag vill prata med en människa")
        assert "nummer 1 i kön" in texts(reply), texts(reply)
        await console.close()
        a.kill()

        # B carries on: the half-done flow, the queue, the agent's chat (same cookie).
        reply = await say(guardian, b, "flow-2", "bo.berg@example.se")
        assert "bo.berg@example.se" in reply["messages"][-1]["text"]
        # The agent's browser sends its cookie to B (a cookie ignores ports; behind a load balancer
        # it is one address): the session started on A is valid on B.
        status, queue = await call(agent, b, "GET", "/agent/api/queue")
        assert status == 200
        assert [i["id"] for i in queue["assigned"]] == [waiting["id"]]
        assert len(queue["waiting"]) == 1 and queue["waiting"][0]["position"] == 1
        status, _ = await call(agent, b, "POST", f"/agent/api/conversations/{waiting['id']}/messages",
                               {"text": "Jag är kvar."})
        assert status == 200
        frame = await next_frame(widget, "messages")  # with the guardian's own line sent since
        assert [(m["from"], m["text"]) for m in frame["messages"]][-1] == ("agent", "Jag är kvar.")
        status, _ = await call(agent, b, "POST", f"/agent/api/conversations/{queue['waiting'][0]['id']}/accept")
        assert status == 200
        after = (await (await guardian.get(f"{b.base}/api/chat/chat-2/messages")).json())["messages"]
        assert "Du pratar nu med Alex" in after[-1]["text"]
        await widget.close()


async def test_login_throttles_count_across_both_processes(pair):
    """Guesses spread over A and B add up: after five wrong agent passwords (three on A, two on
    B) the sixth is held back on both; the staff page's login likewise. Counted per process,
    each would have seen three at most and let the sixth through."""
    a, b = pair
    async with aiohttp.ClientSession() as http:
        for server in (a, b, a, b, a):
            async with http.post(f"{server.base}/agent/api/login",
                                 json={"username": "agent", "password": "wrong-guess"}) as resp:
                assert resp.status == 401
        for server in (b, a):
            async with http.post(f"{server.base}/agent/api/login",
                                 json={"username": "agent", "password": "another-guess"}) as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1

        outcomes = []
        for server in (a, b, a, b, a, b):
            async with http.post(f"{server.base}/staff/login", data={"username": "kim", "password": "guess"},
                                 allow_redirects=False) as resp:
                assert resp.status == 303
                outcomes.append(resp.headers["Location"].split("login=")[1].split("&")[0])
        assert outcomes == ["failed"] * 5 + ["throttled"]
