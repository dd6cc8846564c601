"""Both reference backends run alone (`python -m backends.activation|dsr`) hardened as `serve`
is: a private data directory, `Server: halmstad` without versions (HSTS behind https), and
X-Forwarded-For believed only from a trusted proxy. Real processes on loopback, real files."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.backends.test_dsr_standalone import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "standalone-hardening-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEALTH = {"backends.activation": "/api/health", "backends.dsr": "/healthz"}
CASE = {"right": "access", "on_behalf_of": "self", "requester": {"name": "Anna", "email": "a@example.org"},
        "description": "Allt om mig", "language": "sv", "channel": "web"}


@asynccontextmanager
async def running(module: str, data_dir: Path, *options: str):
    """Start `python -m module` on a free port, wait until it answers, stop it with SIGTERM."""
    port = free_port()
    env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": TOKEN}
    env.pop("HALMSTAD_TRUSTED_PROXIES", None)
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), "--data-dir",
                             str(data_dir), *options], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                assert proc.poll() is None, proc.stderr.read().decode()
                try:
                    async with http.get(base + HEALTH[module]) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            yield http, base, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw_answer(port: int, request: bytes) -> bytes:
    """Send bytes the HTTP parser refuses and return the first part of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(4096)


@pytest.mark.parametrize("module", ["backends.activation", "backends.dsr"])
async def test_every_answer_names_the_server_without_versions(tmp_path, module):
    async with running(module, tmp_path) as (http, base, port):
        for path in (HEALTH[module], "/no-such-page", "/api/no-such-route"):
            async with http.get(base + path) as resp:
                assert resp.headers["Server"] == "halmstad", (path, resp.headers["Server"])
                assert "Strict-Transport-Security" not in resp.headers  # plain http
        refused = raw_answer(port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    assert refused.split(b"\r\n")[0].endswith(b" 400 Bad Request") and b"Server: halmstad\r\n" in refused
    assert b"Python" not in refused and b"aiohttp" not in refused


async def test_an_https_public_url_turns_on_hsts_and_secure_cookies(tmp_path):
    async with running("backends.dsr", tmp_path, "--public-url", "https://dsr.example.se") as (http, base, _):
        async with http.get(f"{base}/login") as resp:
            assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert resp.cookies["dsr_login"]["secure"]


async def test_the_data_directory_and_its_files_are_the_owners_alone(tmp_path):
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    (data / "older.json").write_text("{}")
    os.chmod(data / "older.json", 0o644)  # as an older version left it
    async with running("backends.dsr", data) as (http, base, _):
        async with http.post(f"{base}/api/requests", json=CASE,
                             headers={**AUTH, "Idempotency-Key": "private"}) as resp:
            assert resp.status == 201
    async with running("backends.activation", data, "--add-account", "g@example.org") as (http, base, _):
        async with http.post(f"{base}/api/activation-requests", json={"email": "g@example.org"},
                             headers=AUTH) as resp:
            assert resp.status == 202
        outbox = data / "outbox" / "new"
        for _ in range(200):
            if outbox.exists() and any(outbox.iterdir()):
                break
            await asyncio.sleep(0.05)
    assert mode(data) == 0o700
    files = {p.name: p for p in data.iterdir() if p.is_file()}
    assert {"dsr.journal", "activation.journal", "older.json"} <= set(files)
    for name, path in files.items():
        assert mode(path) == 0o600, name
    mails = list(outbox.iterdir())
    assert mails and all(mode(mail) & 0o077 == 0 for mail in mails)


async def requests_from(http, base: str, client: str, count: int, start: int = 0) -> list[int]:
    """Ask for `count` activation mails to distinct addresses, as `client` (X-Forwarded-For)."""
    statuses = []
    for i in range(start, start + count):
        async with http.post(f"{base}/api/activation-requests", json={"email": f"p{i}@example.org"},
                             headers={**AUTH, "X-Forwarded-For": client}) as resp:
            statuses.append(resp.status)
    return statuses


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path):
    # 30 activation requests an hour per client address (ActivationConfig.per_client_limit).
    async with running("backends.activation", tmp_path / "trusted",
                       "--trusted-proxy", "127.0.0.1/32") as (http, base, _):
        assert set(await requests_from(http, base, "198.51.100.7", 30)) == {202}
        assert await requests_from(http, base, "198.51.100.7", 1, 30) == [429]
        assert await requests_from(http, base, "198.51.100.8", 1, 31) == [202]
    async with running("backends.activation", tmp_path / "direct") as (http, base, _):
        assert set(await requests_from(http, base, "198.51.100.7", 30)) == {202}
        # Without a trusted proxy the header names nobody: it is the same client, held back.
        assert await requests_from(http, base, "198.51.100.8", 1, 30) == [429]


@pytest.mark.parametrize("module", ["backends.activation", "backends.dsr"])
def test_a_bad_trusted_proxy_or_missing_texts_stop_start_up_with_one_clear_line(tmp_path, module):
    env = {**os.environ, "HALMSTAD_BACKEND_TOKEN": TOKEN}
    bad_proxy = subprocess.run([sys.executable, "-m", module, "--port", str(free_port()), "--data-dir",
                                str(tmp_path), "--trusted-proxy", "10.0.0.0/8,proxy.example"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert bad_proxy.returncode == 2
    assert "--trusted-proxy" in bad_proxy.stderr and "proxy.example" in bad_proxy.stderr
    no_texts = subprocess.run([sys.executable, "-m", module, "--port", str(free_port()), "--data-dir",
                               str(tmp_path), "--knowledge-dir", str(tmp_path / "nowhere")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert no_texts.returncode == 2 and "missing" in no_texts.stderr
    assert "Traceback" not in bad_proxy.stderr + no_texts.stderr
