"""Shared browser fixtures: the whole `serve` app on loopback and Debian's chromium via Playwright.

Fixtures (all async, on the test's event loop, so a test can call the runtime directly):
- `server`: a `Served` app (`server.base`, `server.runtime`, `await server.stop()`,
  `await server.start()` on the same port and data directory).
- `make_server(**config_overrides)`: start another one with other settings (e.g. rate limits).
- `browser`: a chromium launched from /usr/bin/chromium.
- `page`: a fresh page at 1280x800 with a Swedish browser language.
- `axe_violations`: `await axe_violations(page)` runs axe-core (node_modules) for WCAG 2.0/2.1
  A and AA and returns the violations as a list of {id, impact, help, targets}.
- `shot(page, name)`: saves a screenshot to tests/artifacts/ for people to look at.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import RUNTIME_KEY, ServeConfig, build_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """The `serve` application running on 127.0.0.1 in the test's event loop."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    @property
    def runtime(self):
        assert self.app is not None, "the server is not running"
        return self.app[RUNTIME_KEY]

    async def start(self) -> None:
        """Build a fresh app on the same port and data directory (like a restarted process)."""
        self.app = build_app(self.config)
        self.runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.config.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def make_server(tmp_path):
    started: list[Served] = []

    async def make(**overrides) -> Served:
        settings = dict(port=free_port(), data_dir=tmp_path / f"srv{len(started)}", now="2026-12-01T10:00",
                        rate_limit_per_address=0, rate_limit_per_session=0)
        settings.update(overrides)
        served = Served(ServeConfig(**settings))
        await served.start()
        started.append(served)
        return served

    yield make
    for served in started:
        await served.stop()


@pytest.fixture
async def server(make_server) -> Served:
    return await make_server()


@pytest.fixture
async def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium")
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE")
    page = await context.new_page()
    yield page
    await context.close()


async def run_axe(page) -> list[dict]:
    """Run axe-core in `page` (injected through DevTools, so the page's CSP stays in force)."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` (or `npm install`) in the repository root")
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text("utf-8") + "\n;0")
    result = await page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }", AXE_TAGS)
    return result


@pytest.fixture
def axe_violations():
    return run_axe


async def save_shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture
def shot():
    return save_shot


def describe(violations: list[dict]) -> str:
    return json.dumps(violations, indent=1, ensure_ascii=False)
