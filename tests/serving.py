"""Run `halmstad-bot serve` as a real process for tests, and talk to it over HTTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import free_port


class Server:
    """A `serve` process on a free loopback port."""

    def __init__(self, data_dir: Path, *args: str, env: dict | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"serve-{self.port}.log"

    def start(self, timeout: float = 30.0) -> "Server":
        cmd = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("serve did not become healthy in time")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        if getattr(self, "_log", None):
            self._log.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict | str]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, dict | str]:
        return self.request("GET", path)

    def chat(self, session: str, text: str | None = None, button: str | None = None, **extra) -> tuple[int, dict]:
        body = {"session": session, **({"text": text} if text is not None else {}),
                **({"button": button} if button is not None else {}), **extra}
        return self.request("POST", "/api/chat", json.dumps(body).encode(),
                            {"Content-Type": "application/json"})

    @staticmethod
    def texts(answer: dict) -> str:
        return "\n".join(m["text"] for m in answer["messages"])
