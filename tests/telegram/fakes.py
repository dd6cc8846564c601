"""Test doubles for the Telegram channel: a Bot API that records calls, and Update builders.

`RecordingRequest` implements python-telegram-bot's `BaseRequest` (the interface its HTTPX request
implements), so the channel's real Bot, rate limiter and handlers run and only the network is
replaced. Every call is recorded as (method, parameters) with parameters as python objects.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Halmstad", "username": "halmstad_test_bot"}
_ids = itertools.count(1000)


class RecordingRequest(BaseRequest):
    """Answers Bot API calls like Telegram would and records them; failures can be scripted."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.slow_texts: dict[str, float] = {}  # sendMessage text → seconds the call takes
        self._message_ids = itertools.count(1)

    def fail(self, method: str, status: int, body: dict, times: int = 1) -> None:
        """Make the next `times` calls of `method` answer `status` with `body`."""
        self.failures.setdefault(method, []).extend([(status, body)] * times)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if params.get("text") in self.slow_texts:
            await asyncio.sleep(self.slow_texts[params["text"]])
        self.calls.append((name, params))
        queued = self.failures.get(name)
        if queued:
            status, body = queued.pop(0)
            return status, json.dumps(body).encode()
        if name == "getMe":
            result: Any = BOT_USER
        elif name in ("sendMessage", "editMessageReplyMarkup", "editMessageText"):
            result = {"message_id": params.get("message_id") or next(self._message_ids), "date": 0,
                      "chat": {"id": params.get("chat_id"), "type": "private"}, "from": BOT_USER,
                      "text": params.get("text", "")}
            if params.get("reply_markup"):
                result["reply_markup"] = params["reply_markup"]
        elif name == "getUpdates":
            result = []
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # Reading what was sent ----------------------------------------------------------------------

    def sent(self, method: str = "sendMessage") -> list[dict]:
        return [params for name, params in self.calls if name == method]

    def texts(self) -> list[str]:
        return [params["text"] for params in self.sent()]

    def clear(self) -> None:
        self.calls.clear()


def user(uid: int, lang: str | None = "sv") -> dict:
    out = {"id": uid, "is_bot": False, "first_name": "Förälder"}
    if lang:
        out["language_code"] = lang
    return out


def message_update(chat_id: int, text: str | None = None, *, lang: str | None = "sv",
                   chat_type: str = "private", **extra: Any) -> dict:
    """Return the JSON of an Update with a message, as Telegram sends it."""
    chat = {"id": chat_id, "type": chat_type}
    if chat_type != "private":
        chat["title"] = "Föräldragruppen"
    message: dict = {"message_id": next(_ids), "date": 1_700_000_000, "chat": chat,
                     "from": user(abs(chat_id), lang)}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    message.update(extra)
    return {"update_id": next(_ids), "message": message}


def callback_update(chat_id: int, data: str, message_id: int, *, lang: str | None = "sv",
                    chat_type: str = "private") -> dict:
    """Return the JSON of an Update for a press on an inline keyboard button."""
    chat = {"id": chat_id, "type": chat_type}
    return {"update_id": next(_ids), "callback_query": {
        "id": str(next(_ids)), "from": user(abs(chat_id), lang), "chat_instance": "ci", "data": data,
        "message": {"message_id": message_id, "date": 1_700_000_000, "chat": chat, "from": BOT_USER,
                    "text": "…"}}}


def keyboard_of(params: dict) -> list[dict]:
    """Return the buttons of a sendMessage call's inline keyboard (flattened)."""
    markup = params.get("reply_markup")
    if markup is None:
        return []
    if not isinstance(markup, dict):
        markup = markup.to_dict()
    return [button for row in markup["inline_keyboard"] for button in row]
