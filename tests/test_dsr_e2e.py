"""Data-rights requests end to end: `serve`, the chat API and a real data-rights backend.

No request the assistant acknowledged may be lost or filed twice: the backend down, a crash
between delivering and recording it, a SIGKILL of `serve` after the acknowledgement.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from backends.dsr.app import DsrConfig, create_app, load_texts
from backends.dsr.store import read_tables
from bot.app import ServeConfig, build_app
from bot.clients.dsr import DsrClient, DsrRejected, DsrUnavailable
from bot.knowledge import default_knowledge_dir
from bot.pending import DeliveryWorker, PendingQueue
from tests.conftest import free_port
from tests.serving import Server

TOKEN = "e2e-backend-token"
TZ = ZoneInfo("Europe/Stockholm")
ROOT = Path(__file__).resolve().parent.parent


def read_cases(data_dir: Path) -> list[dict]:
    return list(read_tables(data_dir)["cases"].values())


class Backend:
    """A data-rights backend app on a fixed loopback port (so it can stop and come back)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> "Backend":
        app = create_app(DsrConfig(data_dir=self.data_dir, token=TOKEN,
                                   texts=load_texts(default_knowledge_dir()),
                                   clock=lambda: datetime(2026, 11, 24, 10, 0, tzinfo=TZ)))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


class Serve:
    """The `serve` application (build_app) on a loopback port, driven over HTTP."""

    def __init__(self, data_dir: Path, **config) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = ServeConfig(port=self.port, data_dir=data_dir, now="2026-11-24T10:00",
                                  rate_limit_per_address=0, rate_limit_per_session=0,
                                  backend_token=TOKEN, **config)
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Serve":
        self.runner = web.AppRunner(build_app(self.config))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.close()
        await self.runner.cleanup()

    async def send(self, session: str, text: str | None = None, button: str | None = None) -> str:
        body = {"session": session, **({"text": text} if text else {}), **({"button": button} if button else {})}
        async with self.http.post(f"{self.base}/api/chat", json=body) as resp:
            assert resp.status == 200, await resp.text()
            data = await resp.json()
        return "\n".join(m["text"] for m in data["messages"])

    async def transcript(self, session: str) -> list[dict]:
        async with self.http.get(f"{self.base}/api/chat/{session}/messages") as resp:
            assert resp.status == 200
            return (await resp.json())["messages"]


async def make_access_request(serve: Serve, session: str) -> str:
    """Go from the first message to the acknowledgement; return what the bot said last."""
    await serve.send(session, "jag vill ha ett registerutdrag")
    await serve.send(session, button="ans:self")
    await serve.send(session, "Anna Andersson")
    await serve.send(session, "anna@example.com")
    await serve.send(session, button="ans:skip")
    return await serve.send(session, button="ans:confirm")


async def test_serve_files_a_request_with_reference_and_due_date(tmp_path):
    async with Serve(tmp_path / "data") as serve:
        text = await make_access_request(serve, "e2e-one")
        assert "DSR-2026-00001" in text
        assert "28 december" in text and "senast måndag 28 december 2026" in text
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with serve.http.get(f"{serve.base}/dsr/api/requests/DSR-2026-00001", headers=headers) as resp:
            case = await resp.json()
        assert case["due_date"] == "2026-12-28" and case["status"] == "received"
        # Nothing is left waiting in the outbox, and it keeps no copy of the request body.
        root = tmp_path / "data" / "pending_dsr"
        assert list(root.glob("*.json")) == []
        [done] = list((root / "done").glob("*.json"))
        assert "anna@example.com" not in done.read_text()


async def test_backend_down_then_up_files_exactly_one_case_and_tells_the_guardian(tmp_path):
    backend = Backend(tmp_path / "dsr", free_port())
    async with Serve(tmp_path / "data", dsr_url=backend.url) as serve:
        text = await make_access_request(serve, "e2e-down")
        assert "sparad" in text and "skickas" in text and "DSR-" not in text
        assert "BankID" in text and "imy.se" in text
        status = await serve.send("e2e-down", "vad hände med min begäran?")
        assert "inte registrerad" in status and "DSR-" not in status
        assert read_cases(backend.data_dir) == []

        await backend.start()
        try:
            reference = None
            for _ in range(300):
                late = [m for m in await serve.transcript("e2e-down")
                        if m["from"] == "bot" and "DSR-2026-" in m["text"]]
                if late:
                    reference = late[0]["text"].split("referensnumret ")[1].split(".")[0]
                    assert "senast måndag 28 december 2026" in late[0]["text"]
                    break
                await asyncio.sleep(0.1)
            assert reference, "the reference was never shown to the guardian"
            status = await serve.send("e2e-down", "vad hände med min begäran?")
            assert reference in status and "mottagen" in status
            await asyncio.sleep(1.5)
            cases = read_cases(backend.data_dir)
            assert [c["reference"] for c in cases] == [reference]
            told = [m for m in await serve.transcript("e2e-down") if reference in m["text"]]
            assert len([m for m in told if m["text"].startswith("Nu är din begäran registrerad")]) == 1
        finally:
            await backend.stop()


async def test_a_crash_after_delivery_before_recording_it_makes_no_duplicate(tmp_path):
    backend = await Backend(tmp_path / "dsr", free_port()).start()
    client = DsrClient(backend.url, TOKEN)
    try:
        queue = PendingQueue(tmp_path / "pending")
        body = {"right": "erasure", "on_behalf_of": "self", "requester": {"name": "Anna Andersson",
                "email": "anna@example.com"}, "description": "Allt.", "language": "sv", "channel": "web"}
        item = await queue.enqueue(session="s1", channel="web", body=body)
        path = queue.root / f"{item['id']}.json"
        before = path.read_bytes()  # what is on disk between "stored" and "recorded as delivered"
        first = await queue.deliver(item["id"], client)
        assert first.outcome == "delivered"
        path.write_bytes(before)  # the process died before the "delivered" write reached the disk
        queue = PendingQueue(tmp_path / "pending")  # restart
        told = []

        async def announce(it):
            told.append(it["delivered"]["reference"])

        stored = json.loads(path.read_text())
        stored["next_attempt_at"] = 0
        path.write_text(json.dumps(stored))
        await DeliveryWorker(queue, client, announce=announce).run_once()
        cases = read_cases(backend.data_dir)
        assert len(cases) == 1
        assert told == [cases[0]["reference"]] == [first.item["delivered"]["reference"]]
        assert list(queue.root.glob("*.json")) == []  # closed once told
    finally:
        await client.close()
        await backend.stop()


async def test_client_tells_unavailable_from_rejected(tmp_path):
    backend = await Backend(tmp_path / "dsr", free_port()).start()
    good = {"right": "access", "on_behalf_of": "self", "requester": {"name": "A B", "phone": "070-123 45 67"},
            "description": "", "language": "sv", "channel": "web"}
    try:
        client = DsrClient(backend.url, TOKEN)
        answer = await client.file_request(good, "key-1")
        assert answer["due_date"] == "2026-12-28"
        assert (await client.file_request(good, "key-1"))["reference"] == answer["reference"]
        with pytest.raises(DsrRejected) as refused:
            await client.file_request({**good, "right": "everything"}, "key-2")
        assert refused.value.status == 422 and "right" in refused.value.message
        assert (await client.status(answer["reference"]))["status"] == "received"
        assert await client.status("DSR-2026-99999") is None
        await client.close()
        wrong_token = DsrClient(backend.url, "wrong")
        with pytest.raises(DsrUnavailable):
            await wrong_token.file_request(good, "key-3")
        await wrong_token.close()
    finally:
        await backend.stop()
    closed = DsrClient(backend.url, TOKEN)
    with pytest.raises(DsrUnavailable):
        await closed.file_request(good, "key-4")
    await closed.close()
    assert len(read_cases(backend.data_dir)) == 1


async def test_a_refused_request_is_told_and_handed_to_a_person(tmp_path):
    class Refusing:
        async def file_request(self, body, key):
            raise DsrRejected(422, "no")

        async def status(self, reference):
            return None

    queue = PendingQueue(tmp_path / "pending")
    item = await queue.enqueue(session="s", channel="web", body={"right": "access", "language": "sv"})
    result = await queue.deliver(item["id"], Refusing())
    assert result.outcome == "rejected"
    told = []

    async def announce(it):
        told.append(it["id"])

    await DeliveryWorker(queue, Refusing(), announce=announce).run_once()
    assert told == [item["id"]]
    assert (await queue.get(item["id"]))["announced"] is True


# SIGKILL ----------------------------------------------------------------------------------------


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time")


@pytest.mark.slow
def test_sigkill_after_the_acknowledgement_loses_nothing_and_files_once(tmp_path):
    env = {"HALMSTAD_BACKEND_TOKEN": TOKEN}
    dsr_port = free_port()
    dsr_dir = tmp_path / "dsr"
    data = tmp_path / "data"
    args = ("--dsr-url", f"http://127.0.0.1:{dsr_port}", "--rate-limit-per-session", "0",
            "--rate-limit-per-address", "0")
    serve = Server(data, *args, env=env).start()
    session = "kill-me"
    try:
        for step in ({"text": "jag vill ha ett registerutdrag"}, {"button": "ans:self"},
                     {"text": "Anna Andersson"}, {"text": "anna@example.com"}, {"button": "ans:skip"}):
            status, _ = serve.chat(session, **step)
            assert status == 200
        status, body = serve.chat(session, button="ans:confirm")
        assert status == 200
        assert "sparad" in Server.texts(body) and "DSR-" not in Server.texts(body)
        assert len(list((data / "pending_dsr").glob("*.json"))) == 1
    finally:
        serve.kill(signal.SIGKILL)

    backend = subprocess.Popen([sys.executable, "-m", "backends.dsr", "--port", str(dsr_port),
                                "--data-dir", str(dsr_dir)], cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    restarted = None
    try:
        _wait_http(f"http://127.0.0.1:{dsr_port}/healthz")
        assert read_cases(dsr_dir) == []
        restarted = Server(data, *args, env=env, port=serve.port).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not read_cases(dsr_dir):
            time.sleep(0.1)
        [case] = read_cases(dsr_dir)
        reference = case["reference"]
        shown = False
        while time.monotonic() < deadline and not shown:
            status, body = restarted.get(f"/api/chat/{session}/messages")
            shown = any(reference in m["text"] for m in body["messages"] if m["from"] == "bot")
            time.sleep(0.1)
        assert shown, "the guardian was never given the reference"
        time.sleep(1.5)
        assert [c["reference"] for c in read_cases(dsr_dir)] == [reference]
        assert case["requester"]["email"] == "anna@example.com" and case["right"] == "access"
    finally:
        if restarted is not None:
            restarted.kill(signal.SIGTERM)
        backend.send_signal(signal.SIGTERM)
        backend.wait(timeout=30)
