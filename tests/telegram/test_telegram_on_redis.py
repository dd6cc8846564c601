"""Telegram when several serve processes share one Redis: one session key, updates by webhook.

A chat must have one session id whichever process takes its update, so the key that turns chat
ids into session ids is shared through Redis; and two processes polling one bot would take each
other's updates, so with --redis-url only the webhook is accepted, with a clear error otherwise.
Nothing here talks to Telegram: building the channel does not connect.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from bot.app import RUNTIME_KEY, ServeConfig, build_app
from bot.channels.telegram import load_session_key

WEBHOOK = {"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram/webhook"}


def _runtime(tmp_path, name, redis_url):
    app = build_app(ServeConfig(data_dir=tmp_path / name, redis_url=redis_url, redis_prefix="tg:"))
    return app[RUNTIME_KEY]


async def test_processes_on_one_redis_share_the_telegram_session_key(tmp_path, redis_server, monkeypatch):
    for name, value in WEBHOOK.items():
        monkeypatch.setenv(name, value)
    a = _runtime(tmp_path, "a", redis_server.url)
    b = _runtime(tmp_path, "b", redis_server.url)
    try:
        assert a.telegram is not None and b.telegram is not None
        assert a.telegram.key == b.telegram.key and len(a.telegram.key) >= 16
        assert a.telegram.key != load_session_key(tmp_path / "alone")  # not a data dir's own key
    finally:
        for runtime in (a, b):
            await runtime.redis.aclose()


async def test_on_redis_telegram_polling_is_refused_with_what_to_do(tmp_path, redis_server, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_URL", raising=False)
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_URL"):
        build_app(ServeConfig(data_dir=tmp_path / "a", redis_url=redis_server.url))


def test_serve_says_so_and_exits_2(tmp_path, redis_server):
    env = {"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": "123:abc", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", "0", "--data-dir",
                           str(tmp_path / "d"), "--redis-url", redis_server.url],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "TELEGRAM_WEBHOOK_URL" in proc.stderr and "Traceback" not in proc.stderr
