"""What every agent route shares: the `Console` (service, logins, sessions, presence, views), the
login checks for API routes and pages, JSON bodies (the CSRF defence), the console's language and
the answer to a queue action. `console.py`, `tools.py` and `history.py` hold the routes.
"""
from __future__ import annotations

import json
from functools import wraps
from html import escape
from pathlib import Path

from aiohttp import web

from bot.channels.web import BadRequest, json_error, read_json
from bot.handoff.agents import SESSION_SECONDS, AgentDirectory, AgentSession, Presence, Sessions
from bot.handoff.metrics import make_registry
from bot.handoff.queue import CALLBACK_RESULTS, OUTCOMES, QueueError
from bot.handoff.views import OUTCOME_KEYS, Views
from common.netaddr import ClientAddresses

STATIC = Path(__file__).parent / "static"
COOKIE = "halmstad_agent"
LANG_COOKIE = "halmstad_agent_lang"
CONSOLE_KEY = web.AppKey("handoff_console", object)
MAX_AGENT_TEXT = 2000
# The values of the pages' choice lists (each shown as the text handoff.console.<list>_<value>).
CHOICES = {"outcome": OUTCOMES, "result_call": CALLBACK_RESULTS, "result": OUTCOME_KEYS}


class Console:
    """What the agent routes share: the service, logins, sessions, presence, views and metrics."""

    def __init__(self, runtime, service, presence: Presence) -> None:
        self.runtime = runtime
        self.service = service
        self.presence = presence
        self.directory = AgentDirectory(runtime.config.data_dir)
        hours = getattr(runtime.config, "session_hours", None)
        self.sessions = Sessions(hours * 3600 if hours else SESSION_SECONDS)
        self.secure = runtime.config.base_url.startswith("https://")
        self.clients = getattr(runtime, "clients", None) or ClientAddresses()
        self.login_guard = runtime.login_guards("console")
        self.registry = make_registry(service)
        self.views = Views(service, runtime.engine, runtime.clock)

    def live_session(self, token: str | None) -> AgentSession | None:
        """Return the session of `token` unless it expired or its login was since changed,
        disabled or removed (then it is ended)."""
        session = self.sessions.get(token)
        if session is not None and self.directory.epoch_of(session.agent.username) != session.epoch:
            self.sessions.end(token)
            return None
        return session

    def session_of(self, request: web.Request) -> AgentSession | None:
        session = self.live_session(request.cookies.get(COOKIE))
        if session is not None:
            self.presence.touch(session.agent)
        return session

    def texts(self, lang: str) -> dict[str, str]:
        """Return the console's texts in `lang`, keyed without the 'handoff.console.' prefix."""
        knowledge = self.runtime.engine.knowledge
        prefix = "handoff.console."
        return {key[len(prefix):]: knowledge.text(key, lang) for key in knowledge.texts if key.startswith(prefix)}


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def lang_of(request: web.Request) -> str:
    """The console's language: `?lang=`, else the one its page was opened in, else Swedish."""
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "sv"
    return lang if lang in ("sv", "en") else "sv"


def api(handler):
    """Require a console session for an API route (401 otherwise)."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = console_of(request).session_of(request)
        if session is None:
            return json_error("log in first (POST /agent/api/login)", 401)
        return await handler(request, session)
    return wrapped


def page(handler):
    """Require a console session for a page (a redirect to the login page otherwise)."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = console_of(request).session_of(request)
        if session is None:
            raise web.HTTPSeeOther(f"/agent/login?lang={lang_of(request)}")
        return await handler(request, session)
    return wrapped


async def json_body(request: web.Request) -> dict:
    """Read a state-changing call's JSON body; refuse anything not sent as JSON (CSRF defence)."""
    if request.content_type != "application/json":
        raise BadRequest("send this request as JSON (Content-Type: application/json)", 415)
    if not request.body_exists:
        return {}
    raw_length = request.content_length
    if raw_length == 0:
        return {}
    return await read_json(request)


def text_field(data: dict, name: str, *, required: bool = True, limit: int = MAX_AGENT_TEXT) -> str:
    """Read one text of a body: a string of at most `limit` characters, without NUL."""
    value = data.get(name, None if required else "")
    if value is None and not required:
        value = ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"'{name}' must be a non-empty string" if required else f"'{name}' must be a string")
    if len(value) > limit:
        raise BadRequest(f"'{name}' is longer than {limit} characters", 413)
    if "\x00" in value:
        raise BadRequest(f"'{name}' contains a NUL character")
    return value.strip()


def item_or_404(console: Console, item_id: str) -> dict:
    item = console.service.queue.get(item_id) if len(item_id) <= 40 else None
    if item is None:
        raise BadRequest("there is no such conversation or message", 404)
    return item


def queue_error(exc: QueueError) -> web.Response:
    return json_error(str(exc), exc.status)


async def on_item(request: web.Request, session: AgentSession, action, answer) -> web.Response:
    """Run `action(service, item_id, agent)` on the item in the path and answer `answer(result)`;
    404 for an unknown item, the queue's refusal as its status."""
    console = console_of(request)
    item_id = request.match_info["id"]
    item_or_404(console, item_id)
    try:
        result = await action(console.service, item_id, session.agent)
    except QueueError as exc:
        return queue_error(exc)
    return web.json_response(answer(result))


async def act_on_item(request: web.Request, session: AgentSession, action) -> web.Response:
    """Run one queue action on the item in the path; answer the item it returns as the agent sees it."""
    views, username, lang = console_of(request).views, session.agent.username, lang_of(request)
    return await on_item(request, session, action, lambda item: views.summary(item, username, lang))


def item_action(method):
    """An API route with an empty JSON body that runs `method(service, item_id, agent)` (a method
    of the handoff service) on the item in the path."""
    @api
    async def route(request: web.Request, session: AgentSession) -> web.Response:
        await json_body(request)
        return await act_on_item(request, session, method)
    return route


def render_page(console: Console, name: str, lang: str, title: str = "title") -> web.Response:
    """A console page: the shared head (layout.html) around the page's <body> (`name`), with the
    console's texts as JSON for its script; `title` is the text key of the page's title."""
    texts = console.texts(lang)
    data = json.dumps({"lang": lang, "texts": texts, "choices": CHOICES}, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html = (STATIC / "layout.html").read_text(encoding="utf-8").replace(
        "__BODY__", (STATIC / name).read_text(encoding="utf-8"))
    html = (html.replace("__LANG__", lang).replace("__TITLE__", escape(texts[title]))
            .replace("__DATA__", data))
    response = web.Response(text=html, content_type="text/html", headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                   "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                                   "base-uri 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    })
    response.set_cookie(LANG_COOKIE, lang, path="/agent/", httponly=True, samesite="Strict",
                        secure=console.secure)
    return response
