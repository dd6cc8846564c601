"""The data-rights backend run alone (`python -m backends.dsr`), and what it writes to its logs."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from backends.dsr.app import DsrConfig, add_staff, create_app, load_texts
from backends.dsr.store import read_tables

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "standalone-token-xyz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_running_alone_without_a_token_exits_with_a_clear_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HALMSTAD_BACKEND_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "backends.dsr", "--port", str(free_port()),
                           "--data-dir", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "HALMSTAD_BACKEND_TOKEN" in proc.stderr


async def wait_until_healthy(http: aiohttp.ClientSession, base: str) -> None:
    """Wait (up to about ten seconds) until a backend started as a process answers /healthz."""
    for _ in range(100):
        try:
            async with http.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)



async def test_running_alone_serves_the_api_and_keeps_the_case_after_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "backends.dsr", "--port", str(port),
                             "--data-dir", str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_healthy(http, base)
            body = {"right": "rectification", "on_behalf_of": "self",
                    "requester": {"name": "Anna", "phone": "070-1234567"},
                    "description": "Fel adress", "language": "sv", "channel": "console"}
            async with http.post(f"{base}/api/requests", json=body,
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Idempotency-Key": "alone"}) as resp:
                assert resp.status == 201
                reference = (await resp.json())["reference"]
            async with http.get(f"{base}/cases", allow_redirects=False) as resp:
                assert resp.status == 303
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert [c["reference"] for c in read_tables(tmp_path)["cases"].values()] == [reference]
    # Nothing personal on the console.
    assert b"070-1234567" not in out + err and b"Anna" not in out + err


async def test_no_personal_data_reaches_the_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    add_staff(tmp_path, "handlaggare", "a long staff password")
    config = DsrConfig(data_dir=tmp_path, token=TOKEN, texts=load_texts(ROOT / "knowledge"),
                       clock=lambda: datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm")))
    client = TestClient(TestServer(create_app(config), host="127.0.0.1"))
    await client.start_server()
    try:
        body = {"right": "erasure", "on_behalf_of": "child",
                "requester": {"name": "Greta Garbosson", "email": "greta@example.org"},
                "child": {"name": "Lilla Garbosson", "school": "Hemliga skolan"},
                "description": "Radera allt om min dotter", "language": "sv", "channel": "web"}
        headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "logs"}
        assert (await client.post("/api/requests", json=body, headers=headers)).status == 201
        bad = {**body, "requester": {"name": "Greta Garbosson", "email": "greta(at)example.org"}}
        assert (await client.post("/api/requests", json=bad,
                                  headers={**headers, "Idempotency-Key": "bad"})).status == 422
        page = await client.get("/login")
        csrf = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
        await client.post("/login", data={"csrf": csrf, "username": "handlaggare",
                                          "password": "wrong password here"})
    finally:
        await client.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "dsr case created" in logged          # the log is not simply empty
    for secret in ("Greta", "greta@", "Lilla", "Hemliga", "Radera", "wrong password", "handlaggare"):
        assert secret not in logged
