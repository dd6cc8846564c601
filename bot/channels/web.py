"""The chat API over HTTP (what the web widget uses; any client may).

Thin: validate the request strictly, turn it into an `Inbound`, call the engine, render the
replies as JSON. Every client mistake gets a 4xx with a human-readable {"error"}; never a 5xx.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from aiohttp import web

from common.expect import safe_expect

from bot.engine import Engine, UnknownButton
from common.messages import Inbound
from common.netaddr import ClientAddresses
from common.session_ids import RULE as SESSION_RULE, is_session_id
from bot.language import detect_language

log = logging.getLogger("halmstad.web")
MAX_TEXT = 2000
MAX_BODY = 64 * 1024
ENGINE_KEY = web.AppKey("engine", Engine)
CHAT_CONFIG_KEY = web.AppKey("chat_config", object)


class BadRequest(Exception):
    """A client mistake, answered with `status` and a human-readable message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class RateLimiter:
    """Counts events per key in a sliding window of `window` seconds; 0 turns it off."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 200_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque] = {}
        # Keys whose window has passed are dropped once a window, not only at max_keys: every new
        # conversation leaves a key, and 200k idle ones held ~1 KB each (bench/bench_memory.py).
        self._next_sweep = 0.0

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Record an event for `key`; return 0 if allowed, else seconds until it would be."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        if now >= self._next_sweep:
            self._prune(now)
            self._next_sweep = now + self.window
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._prune(now)
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(0.1, events[0] + self.window - now)
        events.append(now)
        return 0.0

    async def hit(self, key: str) -> float:
        """`retry_after` as the chat API calls every limiter."""
        return self.retry_after(key)

    def _prune(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[key]


class Limiter(Protocol):
    """Counts chat messages per key: this process's `RateLimiter`, or one every process shares
    (bot/shared_redis/ratelimit.py, with `serve --redis-url`)."""

    async def hit(self, key: str) -> float:
        """Record an event for `key`; return 0 if allowed, else seconds until it would be."""
        ...


@dataclass
class ChatConfig:
    """Limits of the chat API."""

    per_address: Limiter
    per_session: Limiter
    clients: ClientAddresses


def json_error(message: str, status: int, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def api_errors(request: web.Request, handler):
    """Turn every failure on an API path into a JSON error; keep tracebacks out of responses."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_error(str(exc), exc.status)
    except web.HTTPRequestEntityTooLarge:
        return json_error("the request is too large", 413)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/agent/api/")):
            if exc.content_type == "application/json":
                raise
            return json_error(exc.reason or "request failed", exc.status)
        raise
    except Exception:
        log.exception("unhandled error path=%s", request.path.split("/")[1:3])
        if request.path.startswith("/api/"):
            return json_error("internal error; please try again", 500)
        raise


async def read_json(request: web.Request, max_body: int = MAX_BODY) -> dict:
    """Read a JSON object from the request body, with clear errors for every way it is wrong."""
    if request.content_length is not None and request.content_length > max_body:
        raise BadRequest("the request is too large", 413)
    try:
        raw = await request.content.read(max_body + 1)
    except Exception:
        raise BadRequest("the request body could not be read")
    if len(raw) > max_body:
        raise BadRequest("the request is too large", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8 text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadRequest("the request body is not valid JSON")
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    if has_lone_surrogate(text, data):
        raise BadRequest("the request body holds a \\u escape that is no character (a lone surrogate)")
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def has_lone_surrogate(raw: str, data: Any) -> bool:
    """Tell whether decoded JSON holds a lone surrogate ("\\ud800"): valid JSON, but no text can
    hold it, so storing or logging it would fail. Cheap: only bodies with such escapes are walked."""
    if not _SURROGATE_ESCAPE.search(raw):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _client(request: web.Request) -> str:
    """Return the client address per-address limits count under (X-Forwarded-For is believed
    only from the trusted proxies of common/netaddr.py)."""
    config = request.config_dict.get(CHAT_CONFIG_KEY)
    return (config.clients if config is not None else ClientAddresses()).of(request)


def parse_chat_request(data: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """Validate a chat request; return (session, text, button, lang)."""
    unknown = set(data) - {"session", "text", "button", "lang"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    session = data.get("session")
    if not is_session_id(session):
        raise BadRequest(f"'session' must be {SESSION_RULE}")
    text, button = data.get("text"), data.get("button")
    if (text is None) == (button is None):
        raise BadRequest("send exactly one of 'text' and 'button'")
    if text is not None:
        if not isinstance(text, str):
            raise BadRequest("'text' must be a string")
        if len(text) > MAX_TEXT:
            raise BadRequest(f"'text' is longer than {MAX_TEXT} characters", 413)
        if not text.strip():
            raise BadRequest("'text' is empty")
        if "\x00" in text:
            raise BadRequest("'text' contains a NUL character")
    if button is not None and (not isinstance(button, str) or not 0 < len(button) <= 200):
        raise BadRequest("'button' must be the payload of a button the bot offered")
    lang = data.get("lang")
    if lang is not None and lang not in ("sv", "en"):
        raise BadRequest("'lang' must be 'sv' or 'en'")
    return session, text, button, lang


async def post_chat(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    config: ChatConfig = request.app[CHAT_CONFIG_KEY]
    data = await read_json(request)
    session, text, button, lang = parse_chat_request(data)
    address = config.clients.of(request)
    wait = await config.per_address.hit(address) or await config.per_session.hit(session)
    if wait:
        msg_lang = (detect_language(text) if text else None) or lang or "sv"
        message = engine.t("core.rate_limited", msg_lang)
        return web.json_response({"error": message}, status=429,
                                 headers={"Retry-After": str(int(wait) + 1)})
    inbound = Inbound(session=session, text=text, button=button, channel="web", lang_hint=lang,
                      client=config.clients.key(address))
    try:
        replies, state = await engine.handle_turn(inbound)
    except UnknownButton as exc:
        raise BadRequest(str(exc))
    return web.json_response({
        "session": session,
        "messages": [r.to_json() for r in replies],
        "handoff": bool(state.handoff and state.handoff.active),
    })


async def get_messages(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    session = request.match_info["session"]
    if not is_session_id(session):
        raise BadRequest(f"the session id must be {SESSION_RULE}")
    raw_after = request.query.get("after", "0")
    if not raw_after.isdigit() or len(raw_after) > 12:
        raise BadRequest("'after' must be a whole number of 0 or more")
    entries = await engine.transcript(session, int(raw_after))
    return web.json_response({"messages": [format_entry(e) for e in entries]})


def format_entry(entry: dict) -> dict:
    return {"seq": entry["seq"], "from": entry.get("from", "bot"), "text": entry.get("text", ""),
            "buttons": entry.get("buttons", []), "at": entry.get("at")}


def setup_chat_routes(app: web.Application, engine: Engine, *, per_address: int, per_session: int,
                      clients: ClientAddresses | None = None,
                      limiter: Callable[[str, int], Limiter] | None = None) -> None:
    """Add the chat API to `app`; `clients` finds client addresses (behind trusted proxies);
    `limiter(name, limit)` makes the two rate limiters (default: this process's own)."""
    make = limiter or (lambda _name, limit: RateLimiter(limit))
    app[ENGINE_KEY] = engine
    app[CHAT_CONFIG_KEY] = ChatConfig(make("address", per_address), make("session", per_session),
                                      clients or ClientAddresses())
    app.router.add_post("/api/chat", post_chat, expect_handler=safe_expect)
    app.router.add_get("/api/chat/{session}/messages", get_messages, expect_handler=safe_expect)
