"""The agent API and the agent console's pages (CONTRACT.md, "Agent API").

Every /agent/api/ route but login answers 401 without a valid console session; every page but
the login page redirects to it. State-changing calls must be sent as JSON (Content-Type:
application/json): a cross-site form cannot send that without a CORS preflight, so together with
the SameSite=Strict cookie it is the CSRF defence. Every request a console makes counts as its
heartbeat. User text is never put into HTML here: the page renders it with textContent.
"""
from __future__ import annotations

import asyncio
import logging
from html import escape
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.channels.web import BadRequest, format_entry, json_error
from bot.handoff import history, tools
from bot.handoff.agents import AgentSession
from bot.handoff.http import (CONSOLE_KEY, COOKIE, STATIC, Console, act_on_item, api, console_of, item_action,
                              item_or_404, json_body, lang_of, on_item, page, render_page, text_field)
from bot.handoff.metrics import CONTENT_TYPE, render, scrape_status
from bot.handoff.queue import OUTCOMES
from bot.handoff.service import HandoffService
from common.expect import safe_expect
from common.loginguard import Attempt, retry_after_header

__all__ = ["CONSOLE_KEY", "Console", "setup_routes"]

log = logging.getLogger("halmstad.handoff.console")
ASSETS = {"console.js": "application/javascript", "console.css": "text/css", "login.js": "application/javascript",
          "agent.js": "application/javascript", "history.js": "application/javascript"}


# Routes ---------------------------------------------------------------------------------------


async def post_login(request: web.Request) -> web.Response:
    console = console_of(request)
    data = await json_body(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("send 'username' and 'password' as strings")
    if len(username) > 64 or len(password) > 256:
        return json_error("wrong username or password", 401)
    # Counted before argon2 runs, so logins sent together cannot all pass the check.
    attempt = await console.login_guard.reserve(username, console.clients.of(request))
    if not isinstance(attempt, Attempt):
        log.info("agent login throttled")
        return json_error("too many failed logins; try again later", 429, **retry_after_header(attempt))
    agent = await asyncio.to_thread(console.directory.verify, username, password)
    if agent is None:
        await console.login_guard.settle(attempt, False)
        log.info("agent login refused")
        return json_error("wrong username or password", 401)
    await console.login_guard.settle(attempt, True)
    token = console.sessions.start(agent, console.directory.epoch_of(agent.username) or "")
    console.presence.touch(agent)
    await console.service.queue.audit(agent.username, "login")
    response = web.json_response({"username": agent.username, "display_name": agent.display_name,
                                  "available": console.presence.is_available(agent.username)})
    response.set_cookie(COOKIE, token, path="/agent/", httponly=True, samesite="Strict", secure=console.secure)
    return response


@api
async def post_logout(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
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
    console = console_of(request)
    return web.json_response({"username": session.agent.username, "display_name": session.agent.display_name,
                              "available": console.presence.is_available(session.agent.username)})


@api
async def post_availability(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
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
    """The queue: who waits, the chats in progress (cards with their last line and unread count),
    left messages and the calls to make; `now_ms` lets the console move the wait times itself."""
    console = console_of(request)
    queue, views, lang = console.service.queue, console.views, lang_of(request)
    me = session.agent.username
    waiting = [await views.card(i, me, lang) for i in queue.waiting()]
    assigned = [await views.card(i, me, lang) for i in queue.assigned()]
    messages = [views.summary(i, me, lang) for i in queue.open_messages()]
    callbacks = [views.summary(i, me, lang) for i in queue.callbacks()]
    return web.json_response({
        "agent": {"username": me, "display_name": session.agent.display_name,
                  "available": console.presence.is_available(me)},
        "agents_available": len(console.service.available_agents()),
        "now": console.runtime.clock().isoformat(), "now_ms": int(console.runtime.clock().timestamp() * 1000),
        "waiting": waiting, "assigned": assigned, "messages": messages, "callbacks": callbacks,
        "items": waiting + assigned + messages,
    })


@api
async def get_conversation(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
    item = item_or_404(console, request.match_info["id"])
    return web.json_response(await console.views.detail(item, session.agent.username, lang_of(request)))


post_accept = item_action(HandoffService.accept)
post_message_done = item_action(HandoffService.mark_done)


@api
async def post_message(request: web.Request, session: AgentSession) -> web.Response:
    text = text_field(await json_body(request), "text")
    return await on_item(request, session, lambda service, item_id, agent: service.send(item_id, agent, text),
                         lambda stored: {"messages": [format_entry(e) for e in stored]})


@api
async def post_close(request: web.Request, session: AgentSession) -> web.Response:
    """Close with an outcome; "callback" needs the number or address to call (`callback`:
    {"contact", "name", "note"}), or a message the guardian left in the same chat that has one."""
    data = await json_body(request)
    outcome = data.get("outcome", "resolved")
    if outcome not in OUTCOMES:
        raise BadRequest(f"'outcome' must be one of: {', '.join(OUTCOMES)}")
    console = console_of(request)
    item = item_or_404(console, request.match_info["id"])
    callback = tools.callback_contact(console, item, data) if outcome == "callback" else None
    return await act_on_item(request, session,
                             lambda service, item_id, agent: service.close(item_id, agent, outcome, callback))


@api
async def get_canned(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
    lang = request.query.get("lang", "sv")
    if lang not in ("sv", "en"):
        raise BadRequest("'lang' must be 'sv' or 'en'")
    engine = console.runtime.engine
    out = []
    for entry in engine.knowledge.entries.values():
        if not entry.answer:
            continue
        words = console.views.words
        out.append({"id": entry.id, "topic": entry.topic, "title": words.entry_title(entry, lang),
                    "topic_words": words.group(entry.topic, lang) or entry.topic or "",
                    "text": engine.answering.render_entry(entry, lang).text})
    out.sort(key=lambda e: (e["topic_words"].lower(), e["title"].lower()))
    return web.json_response({"lang": lang, "answers": out})


@api
async def get_texts(request: web.Request, session: AgentSession) -> web.Response:
    lang = request.query.get("lang", "sv")
    if lang not in ("sv", "en"):
        raise BadRequest("'lang' must be 'sv' or 'en'")
    return web.json_response(console_of(request).texts(lang))


@api
async def get_ws(request: web.Request, session: AgentSession) -> web.StreamResponse:
    console = console_of(request)
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
    console = console_of(request)
    accept = request.headers.get("Accept", "")
    wants_html = "text/html" in accept and "application/json" not in accept
    if console.session_of(request) is None:
        if wants_html:
            raise web.HTTPSeeOther(f"/agent/login?lang={lang_of(request)}")
        return json_error("log in first (POST /agent/api/login)", 401)
    stats = console.service.queue.stats()
    stats["agents_available"] = len(console.service.available_agents())
    if wants_html:
        return _stats_page(console, stats, lang_of(request))
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
    body = render(console_of(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


# Pages ----------------------------------------------------------------------------------------


@page
async def get_console(request: web.Request, session: AgentSession) -> web.Response:
    return render_page(console_of(request), "console.html", lang_of(request))


async def get_login(request: web.Request) -> web.Response:
    return render_page(console_of(request), "login.html", lang_of(request))


async def get_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache",
                                                    "X-Content-Type-Options": "nosniff"})


async def agent_root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/agent/")


async def api_fallback(request: web.Request) -> web.Response:
    if console_of(request).session_of(request) is None:
        return json_error("log in first (POST /agent/api/login)", 401)
    return json_error("no such agent API route", 404)


async def page_fallback(request: web.Request) -> web.Response:
    if console_of(request).session_of(request) is None:
        raise web.HTTPSeeOther(f"/agent/login?lang={lang_of(request)}")
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
    tools.add_routes(r)
    history.add_routes(r)
    r.add_route("*", "/agent/api/{tail:.*}", api_fallback, expect_handler=safe_expect)
    r.add_get("/agent", agent_root, expect_handler=safe_expect)
    r.add_get("/agent/", get_console, expect_handler=safe_expect)
    r.add_get("/agent/login", get_login, expect_handler=safe_expect)
    r.add_get("/agent/static/{name}", get_asset, expect_handler=safe_expect)
    r.add_get("/agent/stats", get_stats, expect_handler=safe_expect)
    r.add_get("/agent/{tail:.*}", page_fallback, expect_handler=safe_expect)
    r.add_get("/metrics", get_metrics, expect_handler=safe_expect)
