"""A real `serve` app on loopback with an agent login, for the handoff tests."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bot.app import ServeConfig, build_app
from bot.handoff.agents import add_agent
from bot.handoff.setup import HANDOFF_KEY
from tests.conftest import free_port

AGENT_PASSWORD = "demo-agent-password"
TUESDAY = "2026-12-01T10:00"
SUNDAY = "2026-12-06T11:00"


@dataclass
class Server:
    base: str
    app: web.Application
    data_dir: object

    @property
    def service(self):
        return self.app[HANDOFF_KEY]


@contextlib.asynccontextmanager
async def running(tmp_path, now: str, agents=(("agent", "Alex Andersson"),)):
    """Run the whole app at `now` on a free loopback port, with the given agent logins."""
    for username, display in agents:
        add_agent(tmp_path, username, AGENT_PASSWORD, display_name=display)
    port = free_port()
    config = ServeConfig(port=port, data_dir=tmp_path, now=now, rate_limit_per_address=0,
                         rate_limit_per_session=0)
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield Server(f"http://127.0.0.1:{port}", app, tmp_path)
    finally:
        await runner.cleanup()


@pytest.fixture
async def tuesday(tmp_path):
    async with running(tmp_path, TUESDAY, agents=(("agent", "Alex Andersson"), ("agent2", "Bo Berg"))) as srv:
        yield srv


@pytest.fixture
async def sunday(tmp_path):
    async with running(tmp_path, SUNDAY) as srv:
        yield srv


class Agent:
    """An agent console driving the agent API with its own cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self, username: str = "agent", password: str = AGENT_PASSWORD) -> aiohttp.ClientResponse:
        async with self.http.post(f"{self.base}/agent/api/login",
                                  json={"username": username, "password": password}) as resp:
            await resp.read()
            return resp

    async def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        kwargs = {} if method == "GET" else {"json": body if body is not None else {}}
        async with self.http.request(method, f"{self.base}{path}", **kwargs) as resp:
            return resp.status, await resp.json()

    async def close(self) -> None:
        await self.http.close()


class Guardian:
    """A guardian on the web chat API."""

    def __init__(self, base: str, session: str) -> None:
        self.base = base
        self.session = session
        self.http = aiohttp.ClientSession()

    async def say(self, text: str | None = None, button: str | None = None) -> dict:
        body = {"session": self.session}
        body.update({"text": text} if text is not None else {"button": button})
        async with self.http.post(f"{self.base}/api/chat", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def messages(self, after: int = 0) -> list[dict]:
        async with self.http.get(f"{self.base}/api/chat/{self.session}/messages?after={after}") as resp:
            assert resp.status == 200
            return (await resp.json())["messages"]

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def people():
    made = []

    def make(kind, *args):
        obj = kind(*args)
        made.append(obj)
        return obj
    yield make
    for obj in made:
        await obj.close()


async def wait_for(predicate, timeout: float = 5.0):
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def ready_agent(srv, people, username="agent") -> Agent:
    agent = people(Agent, srv.base)
    resp = await agent.login(username)
    assert resp.status == 200
    assert await agent.call("POST", "/agent/api/availability", {"available": True}) == (200, {"available": True})
    return agent


async def queued(srv, people, session="guardian-1", text="jag vill prata med en människa"):
    guardian = people(Guardian, srv.base, session)
    reply = await guardian.say(text)
    assert "nummer 1" in reply["messages"][0]["text"] or "nummer" in reply["messages"][0]["text"]
    return guardian
