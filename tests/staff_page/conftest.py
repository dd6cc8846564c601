"""The whole `serve` app on loopback with a breakable copy of the knowledge and the knowledge
page's logins, and a staff member's browser (its own cookie jar) to drive the API."""
from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import ServeConfig, build_app
from bot.knowledge import default_knowledge_dir
from bot.staff_page.accounts import add_login
from tests.conftest import free_port

PASSWORDS = {"editor": "demo-editor-password", "publisher": "demo-publisher-password"}
TUESDAY = "2026-12-01T10:00"


@dataclass
class Running:
    base: str
    app: web.Application
    data_dir: Path
    kdir: Path


@contextlib.asynccontextmanager
async def running(data_dir: Path, kdir: Path, now: str = TUESDAY, **more):
    """Run the app at `now` on a free loopback port with an editor and a publisher login
    (`more`: other ServeConfig fields, e.g. redis_url)."""
    for role, password in PASSWORDS.items():
        add_login(data_dir, role, password, role=role)
    port = free_port()
    config = ServeConfig(port=port, data_dir=data_dir, knowledge_dir=kdir, now=now,
                         rate_limit_per_address=0, rate_limit_per_session=0, **more)
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Running(f"http://127.0.0.1:{port}", app, data_dir, kdir)
    finally:
        await runner.cleanup()


@pytest.fixture
def kdir(tmp_path) -> Path:
    """A copy of the shipped knowledge, named `knowledge` so messages read knowledge/...:line."""
    target = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), target)
    return target


@pytest.fixture
async def server(tmp_path, kdir):
    async with running(tmp_path / "data", kdir) as srv:
        yield srv


class Browser:
    """One staff member's browser: a cookie jar, the CSRF token, JSON calls."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str, password: str | None = None) -> int:
        form = {"username": username, "password": password or PASSWORDS[username]}
        async with self.http.post(f"{self.base}/staff/login", data=form, allow_redirects=False) as resp:
            status, where = resp.status, resp.headers.get("Location")
        ok = where is not None and where.startswith("/staff/?lang=") and "login=" not in where
        if ok:
            _, me = await self.call("GET", "/staff/api/me")
            self.csrf = me["csrf"]
        return status if ok else 401

    async def call(self, method: str, path: str, body=None, **headers) -> tuple[int, dict]:
        sent = {"X-CSRF-Token": self.csrf, **headers} if method != "GET" else headers
        kwargs = {"json": body} if body is not None else {}
        async with self.http.request(method, f"{self.base}{path}", headers=sent, **kwargs) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, {"raw": await resp.text()}

    async def chat(self, session: str, text: str) -> str:
        async with self.http.post(f"{self.base}/api/chat", json={"session": session, "text": text}) as resp:
            body = await resp.json()
        return "\n".join(m["text"] for m in body["messages"])

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browsers(server):
    made: list[Browser] = []

    async def make(username: str | None = None) -> Browser:
        browser = Browser(server.base)
        made.append(browser)
        if username:
            assert await browser.login(username) == 303
        return browser

    yield make
    for browser in made:
        await browser.close()
