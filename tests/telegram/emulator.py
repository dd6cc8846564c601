"""telemelya (a third-party Telegram Bot API emulator, from PyPI) on loopback, for tests.

Its stock server needs Redis and an S3 store; here its FastAPI routers run in uvicorn in a thread
of their own, with fakeredis for the state and a dict for media, bound to 127.0.0.1. It has no
getUpdates: updates are delivered to the webhook the bot registers (without the secret-token
header). `TelegramUser` drives it from the user's side through its control API.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable

import aiohttp

from tests.conftest import free_port

CONTROL_AUTH = {"Authorization": "Bearer telemelya-test"}  # its control API wants a bearer token


class InMemoryMedia:
    """Stands in for telemelya's MinIO media manager."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def upload(self, session_id, file_id, filename, data, content_type="application/octet-stream"):
        key = f"{session_id}/{file_id}/{filename}"
        self.objects[key] = data
        return key

    async def download(self, session_id, file_id, filename):
        return self.objects.get(f"{session_id}/{file_id}/{filename}")

    async def download_by_key(self, key):
        return self.objects.get(key)

    async def cleanup_session(self, session_id):
        for key in [k for k in self.objects if k.startswith(f"{session_id}/")]:
            del self.objects[key]

    async def ping(self) -> bool:
        return True


class Telemelya:
    """telemelya's Bot API and control API on a free loopback port, in a background thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._thread = threading.Thread(target=self._run, name="telemelya", daemon=True)
        self._error: BaseException | None = None
        self._saved: list[tuple[object, str, object]] = []

    def _patch(self, obj: object, name: str, value: object) -> None:
        self._saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    async def _serve(self) -> None:
        import fakeredis
        import uvicorn
        from fastapi import FastAPI
        from telemelya.server import bot_api, control_api
        from telemelya.server.state import state_manager

        self._patch(state_manager, "_redis", fakeredis.FakeAsyncRedis(decode_responses=True))
        media = InMemoryMedia()
        for module in (bot_api, control_api):
            self._patch(module, "media_manager", media)
        app = FastAPI()
        app.include_router(bot_api.router)
        app.include_router(control_api.router)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="off",
                                log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        await self._server.serve()

    def start(self, timeout: float = 15.0) -> "Telemelya":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server and self._server.started):
            if self._error or not self._thread.is_alive():
                raise RuntimeError(f"telemelya did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("telemelya did not start in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
        self._thread.join(timeout=15)
        for obj, name, value in reversed(self._saved):
            setattr(obj, name, value)


class TelegramUser:
    """One person in a private chat with the bot, acting through telemelya's control API."""

    def __init__(self, http: aiohttp.ClientSession, emulator: Telemelya, token: str, chat_id: int,
                 *, name: str = "Anna") -> None:
        self.http = http
        self.emulator = emulator
        self.token = token
        self.chat_id = chat_id
        self.session = f"user-{chat_id}"  # telemelya's recording session, not the bot's
        self.name = name
        self._seen = 0

    @property
    def _headers(self) -> dict:
        return {**CONTROL_AUTH, "X-Test-Session": self.session}

    async def _update(self, **body) -> dict:
        body = {"chat_id": self.chat_id, "from_user": {"id": self.chat_id, "first_name": self.name}, **body}
        async with self.http.post(f"{self.emulator.base}/api/v1/test/send_update",
                                  params={"bot_token": self.token}, json=body, headers=self._headers) as resp:
            payload = await resp.json()
            assert resp.status == 200, payload
            assert payload["delivery"]["status_code"] == 200, payload["delivery"]
            return payload

    async def say(self, text: str) -> None:
        if text.startswith("/"):
            await self._update(command=text)
        else:
            await self._update(text=text)

    async def send_photo(self) -> None:
        await self._update(photo_file_id="AgACAgQAAx0Cphoto1")

    async def records(self) -> list[dict]:
        async with self.http.get(f"{self.emulator.base}/api/v1/test/responses", headers=self._headers) as resp:
            return (await resp.json())["responses"]

    async def messages(self) -> list[dict]:
        return [r for r in await self.records() if r["method"] == "sendMessage"]

    async def expect(self, done: Callable[[list[dict]], bool], timeout: float = 10.0) -> list[dict]:
        """Wait until the bot's messages since the last expect() satisfy `done`; return them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            new = (await self.messages())[self._seen:]
            if new and done(new):
                await asyncio.sleep(0.2)  # let the rest of the turn arrive
                new = (await self.messages())[self._seen:]
                self._seen += len(new)
                return new
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the bot did not answer as expected; got {[m['text'] for m in new]}")
            await asyncio.sleep(0.05)

    async def expect_text(self, *needles: str, timeout: float = 10.0) -> list[dict]:
        """Wait for messages that together contain every needle."""
        return await self.expect(lambda msgs: all(n in texts(msgs) for n in needles), timeout)

    async def press(self, label: str, messages: list[dict]) -> None:
        """Press the button labelled `label` on the newest of `messages` that has it."""
        for message in reversed(messages):
            for button in buttons(message):
                if button["text"] == label:
                    await self._update(callback_data=button["callback_data"],
                                       callback_message_id=message["message_id"])
                    return
        raise AssertionError(f"no button {label!r} among {[b['text'] for m in messages for b in buttons(m)]}")


def texts(messages: list[dict]) -> str:
    return "\n".join(str(m.get("text") or "") for m in messages)


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]
