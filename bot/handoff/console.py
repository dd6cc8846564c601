"""The agent API and the agent console's pages (CONTRACT.md, "Agent API").

Every /agent/api/ route but login answers 401 without a valid console session; every page but
the login page redirects to it. State-changing calls must be sent as JSON (Content-Type:
application/json): a cross-site form cannot send that without a CORS preflight, so together with
the SameSite=Strict cookie it is the CSRF defence. Every request a console makes counts as its
heartbeat. User text is never put into HTML here: the page renders it with textContent.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from functools import wraps
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from common.expect import safe_expect

from common import privacy
from bot.channels.web import BadRequest, format_entry, json_error, read_json
from bot.handoff.agents import SESSION_SECONDS, AgentDirectory, AgentSession, Presence, Sessions
from bot.state import ConversationState
from common.loginguard import Attempt, LoginGuard, retry_after_header
from common.netaddr import ClientAddresses
from bot.handoff.metrics import CONTENT_TYPE, make_registry, render, scrape_status
from bot.handoff.queue import OUTCOMES, QueueError

log = logging.getLogger("halmstad.handoff.console")
STATIC = Path(__file__).parent / "static"
COOKIE = "halmstad_agent"
LANG_COOKIE = "halmstad_agent_lang"
ASSETS = {"console.js": "application/javascript", "console.css": "text/css", "login.js": "application/javascript"}
MAX_AGENT_TEXT = 2000
CONSOLE_KEY = web.AppKey("handoff_console", object)


class Console:
    """What the agent routes share: the service, logins, sessions, presence and metrics."""

    def __init__(self, runtime, service, presence: Presence) -> None:
        self.runtime = runtime
        self.service = service
        self.presence = presence
        self.directory = AgentDirectory(runtime.config.data_dir)
        hours = getattr(runtime.config, "session_hours", None)
        self.sessions = Sessions(hours * 3600 if hours else SESSION_SECONDS)
        self.secure = runtime.config.base_url.startswith("https://")
        self.clients = getattr(runtime, "clients", None) or ClientAddresses()
        self.login_guard = LoginGuard()
        self.registry = make_registry(service)

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


def _console(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def api(handler):
    """Require a console session for an API route (401 otherwise)."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = _console(request).session_of(request)
        if session is None:
            return json_error("log in first (POST /agent/api/login)", 401)
        return await handler(request, session)
    return wrapped


def page(handler):
    """Require a console session for a page (a redirect to the login page otherwise)."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = _console(request).session_of(request)
        if session is None:
            raise web.HTTPSeeOther(f"/agent/login?lang={_lang(request)}")
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


def _lang(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "sv"
    return lang if lang in ("sv", "en") else "sv"


def _queue_error(exc: QueueError) -> web.Response:
    return json_error(str(exc), exc.status)


def _minutes_since(runtime, iso: str | None) -> int:
    if not iso:
        return 0
    delta = runtime.clock() - datetime.fromisoformat(iso)
    return max(0, int(delta.total_seconds() // 60))


def _summary(console: Console, item: dict, username: str) -> dict:
    queue = console.service.queue
    out = {
        "id": item["id"], "kind": item["kind"], "status": item["status"], "created_at": item["created_at"],
        "lang": item.get("lang"), "channel": item.get("channel"), "reason": item.get("reason"),
        "topic": item.get("topic"),
    }
    if item["kind"] == "conversation":
        out.update(position=queue.position(item["id"]), agent=item.get("agent"),
                   agent_name=item.get("agent_name"), accepted_at=item.get("accepted_at"),
                   guardian_left=bool(item.get("guardian_left")), mine=item.get("agent") == username,
                   waited_minutes=_minutes_since(console.runtime, item.get("queued_at") or item["created_at"]))
    else:
        out.update(name=item.get("name"), contact_kind=item.get("contact_kind"))
    return out


# Routes ---------------------------------------------------------------------------------------


async def post_login(request: web.Request) -> web.Response:
    console = _console(request)
    data = await json_body(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("send 'username' and 'password' as strings")
    if len(username) > 64 or len(password) > 256:
        return json_error("wrong username or password", 401)
    # Counted before argon2 runs, so logins sent together cannot all pass the check.
    attempt = console.login_guard.begin(username, console.clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("agent login throttled")
        return json_error("too many failed logins; try again later", 429, **retry_after_header(attempt))
    agent = await asyncio.to_thread(console.directory.verify, username, password)
    if agent is None:
        console.login_guard.failed(attempt)
        log.info("agent login refused")
        return json_error("wrong username or password", 401)
    console.login_guard.succeeded(attempt)
    token = console.sessions.start(agent, console.directory.epoch_of(agent.username) or "")
    console.presence.touch(agent)
    await console.service.queue.audit(agent.username, "login")
    response = web.json_response({"username": agent.username, "display_name": agent.display_name,
                                  "available": console.presence.is_available(agent.username)})
    response.set_cookie(COOKIE, token, path="/agent/", httponly=True, samesite="Strict", secure=console.secure)
    return response


@api
async def post_logout(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    await json_body(request)
    console.sessions.end(request.cookies.get(COOKIE))
    if not console.sessions.logged_in(session.agent.username):
        console.presence.set_available(session.agent, False)
    await console.service.queue.audit(session.agent.username, "logout")
    await console.service.hub.publish({"type": "agents"})
    response = web.json_response({"status": "logged out"})
    response.del_cookie(COOKIE, path="/agent/")
    return response


@api
async def get_me(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    return web.json_response({"username": session.agent.username, "display_name": session.agent.display_name,
                              "available": console.presence.is_available(session.agent.username)})


@api
async def post_availability(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    data = await json_body(request)
    available = data.get("available")
    if not isinstance(available, bool):
        raise BadRequest("'available' must be true or false")
    console.presence.set_available(session.agent, available)
    await console.service.queue.audit(session.agent.username, "available" if available else "unavailable")
    await console.service.hub.publish({"type": "agents"})
    return web.json_response({"available": available})


@api
async def get_queue(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    queue = console.service.queue
    me = session.agent.username
    waiting = [_summary(console, i, me) for i in queue.waiting()]
    assigned = [_summary(console, i, me) for i in queue.assigned()]
    messages = [_summary(console, i, me) for i in queue.open_messages()]
    return web.json_response({
        "agent": {"username": me, "display_name": session.agent.display_name,
                  "available": console.presence.is_available(me)},
        "agents_available": len(console.service.available_agents()),
        "waiting": waiting, "assigned": assigned, "messages": messages,
        "items": waiting + assigned + messages,
    })


def _item_or_404(console: Console, item_id: str) -> dict:
    item = console.service.queue.get(item_id) if len(item_id) <= 40 else None
    if item is None:
        raise BadRequest("there is no such conversation or message", 404)
    return item


@api
async def get_conversation(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    item = _item_or_404(console, request.match_info["id"])
    engine = console.runtime.engine
    stored = await engine.peek(item["session"])
    state = stored or ConversationState(lang=item.get("lang") or "sv", channel=item.get("channel") or "web")
    # Masked again as shown: what was stored before masking knew a written form stays hidden too.
    transcript = [{**e, "text": privacy.mask(e["text"]).text} if e["from"] == "user" else e
                  for e in map(format_entry, await engine.transcript(item["session"]))]
    topic = item.get("topic") or state.topic
    entry = engine.knowledge.entries.get(topic or "")
    if entry is not None and entry.flow == "handoff":  # "I want a person" is no topic
        topic, entry = None, None
    summary = _summary(console, item, session.agent.username)
    summary["context"] = {
        "topic": topic, "topic_group": entry.topic if entry else None,
        "topic_title": (entry.phrasings.get(state.lang) or entry.phrasings["sv"])[0] if entry else None,
        "flow": item.get("flow"), "step": item.get("step"),
        "current_flow": state.flow, "current_step": state.step,
        "language": state.lang, "channel": state.channel,
        "reason": item.get("reason"),
    }
    summary["transcript"] = transcript
    if item["kind"] == "message":
        summary["message"] = {k: item.get(k) for k in ("name", "contact", "contact_kind", "text", "done_by", "done_at")}
        summary["message"]["text"] = privacy.mask(item.get("text") or "").text
    else:
        summary["outcome"] = item.get("outcome")
    return web.json_response(summary)


@api
async def post_accept(request: web.Request, session: AgentSession) -> web.Response:
    await json_body(request)
    return await _act_on_item(request, session, lambda service, item_id, agent: service.accept(item_id, agent))


async def _act_on_item(request: web.Request, session: AgentSession, action) -> web.Response:
    """Run one queue action on the item in the path; 404 for an unknown item, the queue's refusal
    as its status, otherwise the item as the agent sees it."""
    console = _console(request)
    item_id = request.match_info["id"]
    _item_or_404(console, item_id)
    try:
        item = await action(console.service, item_id, session.agent)
    except QueueError as exc:
        return _queue_error(exc)
    return web.json_response(_summary(console, item, session.agent.username))


@api
async def post_message(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    data = await json_body(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'text' must be a non-empty string")
    if len(text) > MAX_AGENT_TEXT:
        raise BadRequest(f"'text' is longer than {MAX_AGENT_TEXT} characters", 413)
    if "\x00" in text:
        raise BadRequest("'text' contains a NUL character")
    _item_or_404(console, request.match_info["id"])
    try:
        stored = await console.service.send(request.match_info["id"], session.agent, text.strip())
    except QueueError as exc:
        return _queue_error(exc)
    return web.json_response({"messages": [format_entry(e) for e in stored]})


@api
async def post_close(request: web.Request, session: AgentSession) -> web.Response:
    data = await json_body(request)
    outcome = data.get("outcome", "resolved")
    if outcome not in OUTCOMES:
        raise BadRequest(f"'outcome' must be one of: {', '.join(OUTCOMES)}")
    return await _act_on_item(request, session,
                              lambda service, item_id, agent: service.close(item_id, agent, outcome))


@api
async def post_message_done(request: web.Request, session: AgentSession) -> web.Response:
    await json_body(request)
    return await _act_on_item(request, session, lambda service, item_id, agent: service.mark_done(item_id, agent))


@api
async def get_canned(request: web.Request, session: AgentSession) -> web.Response:
    console = _console(request)
    lang = request.query.get("lang", "sv")
    if lang not in ("sv", "en"):
        raise BadRequest("'lang' must be 'sv' or 'en'")
    engine = console.runtime.engine
    out = []
    for entry in engine.knowledge.entries.values():
        if not entry.answer:
            continue
        title = (entry.phrasings.get(lang) or entry.phrasings["sv"])[0]
        out.append({"id": entry.id, "topic": entry.topic, "title": title[:1].upper() + title[1:],
                    "text": engine.answering.render_entry(entry, lang).text})
    out.sort(key=lambda e: ((e["topic"] or ""), e["title"].lower()))
    return web.json_response({"lang": lang, "answers": out})


@api
async def get_texts(request: web.Request, session: AgentSession) -> web.Response:
    lang = request.query.get("lang", "sv")
    if lang not in ("sv", "en"):
        raise BadRequest("'lang' must be 'sv' or 'en'")
    return web.json_response(_console(request).texts(lang))


@api
async def get_ws(request: web.Request, session: AgentSession) -> web.StreamResponse:
    console = _console(request)
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return json_error("the console's WebSocket takes connections from its own pages only", 403)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub = console.service.hub
    hub.sockets.add(ws)
    try:
        await ws.send_json({"type": "hello"})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            live = console.live_session(request.cookies.get(COOKIE))
            if live is None:
                await ws.send_json({"type": "logged_out"})
                break
            console.presence.touch(live.agent)
            if msg.data == '{"type":"ping"}' or '"ping"' in msg.data[:40]:
                await ws.send_json({"type": "pong"})
    finally:
        hub.sockets.discard(ws)
    return ws


async def get_stats(request: web.Request) -> web.Response:
    """Show the handoff's numbers: HTML for a browser, JSON otherwise (login required)."""
    console = _console(request)
    accept = request.headers.get("Accept", "")
    wants_html = "text/html" in accept and "application/json" not in accept
    if console.session_of(request) is None:
        if wants_html:
            raise web.HTTPSeeOther(f"/agent/login?lang={_lang(request)}")
        return json_error("log in first (POST /agent/api/login)", 401)
    stats = console.service.queue.stats()
    stats["agents_available"] = len(console.service.available_agents())
    if wants_html:
        return _stats_page(console, stats, _lang(request))
    return web.json_response(stats)


def _stats_page(console: Console, stats: dict, lang: str) -> web.Response:
    t = console.texts(lang)
    rows = [("stats_conversations", stats["conversations"]), ("stats_containment", stats["containment"]),
            ("stats_handoff_rate", stats["handoff_rate"]), ("stats_median_wait", stats["median_wait_seconds"]),
            ("stats_csat", stats["csat_average"]), ("stats_csat_responses", stats["csat_responses"])]

    def fmt(value) -> str:
        if value is None:
            return t["none"]
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    body = "".join(f"<tr><th scope=\"row\">{escape(t[key])}</th><td>{escape(fmt(value))}</td></tr>"
                   for key, value in rows)
    html = (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(t['stats'])}</title><link rel=\"stylesheet\" href=\"/agent/static/console.css\"></head>"
            f"<body><main id=\"main\" class=\"stats\"><h1>{escape(t['stats'])}</h1><table>{body}</table>"
            f"<p><a href=\"/agent/?lang={lang}\">{escape(t['conversation_heading'])}</a></p></main></body></html>")
    return web.Response(text=html, content_type="text/html")


async def get_metrics(request: web.Request) -> web.Response:
    status = scrape_status(request.headers.get("Authorization"))
    if status == 404:
        raise web.HTTPNotFound()
    if status == 401:
        return web.Response(status=401, text="a bearer token is needed\n",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = render(_console(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


# Pages ----------------------------------------------------------------------------------------


def _render_page(console: Console, name: str, lang: str) -> web.Response:
    texts = console.texts(lang)
    data = json.dumps({"lang": lang, "texts": texts}, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # One head for every console page (layout.html); the page file holds its <body>.
    html = (STATIC / "layout.html").read_text(encoding="utf-8").replace(
        "__BODY__", (STATIC / name).read_text(encoding="utf-8"))
    html = (html.replace("__LANG__", lang).replace("__TITLE__", escape(texts["title"]))
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


@page
async def get_console(request: web.Request, session: AgentSession) -> web.Response:
    return _render_page(_console(request), "console.html", _lang(request))


async def get_login(request: web.Request) -> web.Response:
    return _render_page(_console(request), "login.html", _lang(request))


async def get_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache",
                                                    "X-Content-Type-Options": "nosniff"})


async def agent_root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/agent/")


async def api_fallback(request: web.Request) -> web.Response:
    if _console(request).session_of(request) is None:
        return json_error("log in first (POST /agent/api/login)", 401)
    return json_error("no such agent API route", 404)


async def page_fallback(request: web.Request) -> web.Response:
    if _console(request).session_of(request) is None:
        raise web.HTTPSeeOther(f"/agent/login?lang={_lang(request)}")
    raise web.HTTPNotFound()


def setup_routes(app: web.Application, console: Console) -> None:
    """Add the agent API, the console pages and /metrics to `app`."""
    app[CONSOLE_KEY] = console
    r = app.router
    r.add_post("/agent/api/login", post_login, expect_handler=safe_expect)
    r.add_post("/agent/api/logout", post_logout, expect_handler=safe_expect)
    r.add_get("/agent/api/me", get_me, expect_handler=safe_expect)
    r.add_post("/agent/api/availability", post_availability, expect_handler=safe_expect)
    r.add_get("/agent/api/queue", get_queue, expect_handler=safe_expect)
    r.add_get("/agent/api/conversations/{id}", get_conversation, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/accept", post_accept, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/messages", post_message, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/close", post_close, expect_handler=safe_expect)
    r.add_post("/agent/api/left-messages/{id}/done", post_message_done, expect_handler=safe_expect)
    r.add_get("/agent/api/canned", get_canned, expect_handler=safe_expect)
    r.add_get("/agent/api/texts", get_texts, expect_handler=safe_expect)
    r.add_get("/agent/api/ws", get_ws, expect_handler=safe_expect)
    r.add_route("*", "/agent/api/{tail:.*}", api_fallback, expect_handler=safe_expect)
    r.add_get("/agent", agent_root, expect_handler=safe_expect)
    r.add_get("/agent/", get_console, expect_handler=safe_expect)
    r.add_get("/agent/login", get_login, expect_handler=safe_expect)
    r.add_get("/agent/static/{name}", get_asset, expect_handler=safe_expect)
    r.add_get("/agent/stats", get_stats, expect_handler=safe_expect)
    r.add_get("/agent/{tail:.*}", page_fallback, expect_handler=safe_expect)
    r.add_get("/metrics", get_metrics, expect_handler=safe_expect)
