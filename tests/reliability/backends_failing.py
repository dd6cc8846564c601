"""Backends failing: the activation and data-rights backends down, hanging 5 s, or answering 500.

A real `serve` process is pointed (`--activation-url`, `--dsr-url`) at two tiny aiohttp fakes on
loopback whose behaviour is switched between runs: "down" (nothing listens on the port), "slow"
(answers after 5 s), "500". For each, a guardian asks for an activation link and files a
data-rights request; the answer to the step that calls the backend must come within 1 s with
the clear message (the activation apology with Halmstad direkt's contacts and a person; "your
request is saved and will be sent"). Then both fakes recover: every stored data-rights request
must reach the backend exactly once (the same idempotency key however often it was tried) and the
guardian must be told its reference in the conversation.

    python -m tests.reliability.backends_failing
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "failing-backends-token"
MODES = ("down", "slow", "500")
NAMES = {"down": "Anna Nerelius", "slow": "Anna Langsam", "500": "Anna Femhundra"}  # names hold no digits
BUDGET = 1.0  # seconds the chat may take to answer the step that calls a backend


@dataclass
class Fake:
    """A fake backend on a fixed port whose behaviour can change: ok, slow, 500 or down."""

    port: int
    mode: str = "ok"
    delay: float = 5.0
    received: list[dict] = field(default_factory=list)  # what it accepted (DSR: one per key)
    cases: dict[str, dict] = field(default_factory=dict)  # idempotency key -> answer
    runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/activation-requests", self.activation)
        app.router.add_post("/api/requests", self.dsr)
        app.router.add_get("/api/requests/{ref}", self.status)
        return app

    async def misbehave(self) -> web.Response | None:
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "500":
            return web.json_response({"error": "boom"}, status=500)
        return None

    async def activation(self, request: web.Request) -> web.Response:
        body = await request.json()
        failed = await self.misbehave()
        if failed:
            return failed
        self.received.append(body)
        return web.json_response({"status": "accepted"}, status=202)

    async def dsr(self, request: web.Request) -> web.Response:
        body = await request.json()  # read before hanging: a slow backend still got the request
        failed = await self.misbehave()
        if failed:
            return failed
        key = request.headers["Idempotency-Key"]
        if key not in self.cases:
            self.received.append(body)
            self.cases[key] = {"reference": f"DSR-2026-{len(self.cases) + 1:05d}", "received_at": "2026-12-06T20:00:00+01:00",
                               "due_date": "2027-01-07", "status": "received"}
            return web.json_response(self.cases[key], status=201)
        return web.json_response(self.cases[key], status=200)

    async def status(self, request: web.Request) -> web.Response:
        for case in self.cases.values():
            if case["reference"] == request.match_info["ref"]:
                return web.json_response(case)
        return web.json_response({"error": "no such case"}, status=404)

    async def set(self, mode: str) -> None:
        """Switch behaviour; "down" closes the port, anything else makes sure it listens."""
        self.mode = mode
        if mode == "down" and self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        elif mode != "down" and self.runner is None:
            self.runner = web.AppRunner(self.app(), shutdown_timeout=0.1)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class Check:
    backend: str
    mode: str
    seconds: float
    clear: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.clear and self.seconds < BUDGET


async def chat(http: aiohttp.ClientSession, base: str, session: str, **body) -> tuple[float, dict]:
    began = time.monotonic()
    async with http.post(f"{base}/api/chat", json={"session": session, **body}) as resp:
        data = await resp.json()
        assert resp.status == 200, data
    return time.monotonic() - began, data


def texts(answer: dict) -> str:
    return " ".join(m["text"] for m in answer["messages"])


async def activation_check(http, base: str, mode: str, knowledge) -> Check:
    session = f"act-{mode}"
    await chat(http, base, session, text="jag vill aktivera appen")
    await chat(http, base, session, text="guardian@example.org")
    seconds, answer = await chat(http, base, session, button="ans:send")
    apology = knowledge.text("activation.unavailable", "sv")[:40]
    payloads = {b["payload"] for m in answer["messages"] for b in m["buttons"]}
    clear = apology in texts(answer) and "cmd:human" in payloads
    return Check("activation", mode, seconds, clear, texts(answer)[:120])


async def dsr_check(http, base: str, mode: str, knowledge) -> Check:
    session = f"dsr-{mode}"
    for body in ({"text": "jag vill ha ett registerutdrag"}, {"button": "ans:self"}, {"text": NAMES[mode]},
                 {"text": "anna@example.com"}, {"button": "ans:skip"}):
        await chat(http, base, session, **body)
    seconds, answer = await chat(http, base, session, button="ans:confirm")
    clear = knowledge.text("data_rights.queued", "sv")[:40] in texts(answer)
    return Check("data rights", mode, seconds, clear, texts(answer)[:120])


async def run(data_dir: Path, modes=MODES, delay: float = 5.0, out=print) -> dict:
    """Run every mode against one `serve`; return the checks and the recovery findings."""
    sys.path.insert(0, str(ROOT))
    from backends.activation.app import add_account
    from bot.holder import KnowledgeHolder
    from bot.knowledge import default_knowledge_dir
    from flows.registry import all_flows
    from tests.conftest import free_port
    from tests.serving import Server

    knowledge = KnowledgeHolder(default_knowledge_dir(), all_flows()).knowledge
    add_account(data_dir, "guardian@example.org")
    activation, dsr = Fake(free_port(), delay=delay), Fake(free_port(), delay=delay)
    server = Server(data_dir, "--now", "2026-12-06T20:00", "--rate-limit-per-address", "0",
                    "--rate-limit-per-session", "0", "--activation-url", f"http://127.0.0.1:{activation.port}",
                    "--dsr-url", f"http://127.0.0.1:{dsr.port}",
                    env={"HALMSTAD_BACKEND_TOKEN": TOKEN, "HALMSTAD_LOG_LEVEL": "WARNING"})
    await asyncio.to_thread(server.start)
    checks: list[Check] = []
    try:
        async with aiohttp.ClientSession() as http:
            for mode in modes:
                await activation.set(mode)
                await dsr.set(mode)
                for check in (await activation_check(http, server.base, mode, knowledge),
                              await dsr_check(http, server.base, mode, knowledge)):
                    checks.append(check)
                    out(f"{check.backend:>11} {mode:>5}: answered in {check.seconds * 1000:6.0f} ms, "
                        f"clear message: {check.clear}  {'ok' if check.ok else 'FAIL'}")
            await activation.set("ok")
            await dsr.set("ok")
            # The worker backs off at most a minute between tries; in this run the first retries
            # come within seconds. Wait until every stored request is delivered and announced.
            deadline = time.monotonic() + 60
            pending = data_dir / "pending_dsr"
            while time.monotonic() < deadline and list(pending.glob("*.json")):
                await asyncio.sleep(0.25)
            told = {}
            for mode in modes:
                async with http.get(f"{server.base}/api/chat/dsr-{mode}/messages") as resp:
                    told[mode] = [m["text"] for m in (await resp.json())["messages"]
                                  if m["from"] == "bot" and "DSR-2026-" in m["text"]]
    finally:
        server.kill()
        await activation.close()
        await dsr.close()
    names = [r["requester"]["name"] for r in dsr.received]
    stored = len(list((data_dir / "pending_dsr" / "done").glob("*.json")))
    return {"checks": checks, "names": names, "modes": list(modes), "told": told, "stored": stored,
            "left_open": len(list((data_dir / "pending_dsr").glob("*.json")))}


def summary(result: dict, out=print) -> bool:
    modes = result["modes"]
    expected = sorted(NAMES[m] for m in modes)
    out(f"after recovery: the backend holds {len(result['names'])} requests for {len(modes)} stored "
        f"({sorted(result['names'])}); still open in the outbox: {result['left_open']}")
    out("guardian told the reference later: " + ", ".join(f"{m}: {len(t)}" for m, t in result["told"].items()))
    ok = (all(c.ok for c in result["checks"]) and sorted(result["names"]) == expected
          and result["left_open"] == 0 and all(len(t) == 1 for t in result["told"].values()))
    out("all targets hold" if ok else "TARGETS MISSED")
    return ok


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="failing-"))
    print(f"machine: {os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs; data in {tmp}")
    result = asyncio.run(run(tmp / "data"))
    return 0 if summary(result) else 1


if __name__ == "__main__":
    sys.exit(main())
