"""The agent's tools beyond reply and close (issue 15, items 5 and 6), as agent API routes:

    GET  /agent/api/agents                               the other agents available for chats
    POST /agent/api/conversations/{id}/transfer          {"to": username, "note": "..."}
    POST /agent/api/conversations/{id}/notes             {"text": "..."}  internal, never to the guardian
    POST /agent/api/conversations/{id}/handback          back to the assistant; the guardian is told
    POST /agent/api/conversations/{id}/typing            the agent is typing (for the guardian's channel)
    POST /agent/api/left-messages/{id}/callback          {"note"?}  answer a left message by phone
    GET  /agent/api/callbacks                            the calls still to make
    POST /agent/api/callbacks/{id}/done                  {"result": reached|no_answer|wrong_number|other, "note"?}

Notes work on any item (conversation, left message, call). Every action is in the audit log
without its text.
"""
from __future__ import annotations

from aiohttp import web

from bot.channels.web import BadRequest
from bot.handoff.agents import AgentSession
from bot.handoff.http import Console, act_on_item, api, console_of, item_action, json_body, lang_of, on_item, text_field
from bot.handoff.queue import CALLBACK_RESULTS, MAX_NOTE
from bot.handoff.service import HandoffService
from common.expect import safe_expect
from flows.handoff import contact_kind

MAX_NAME = 100


def callback_contact(console: Console, item: dict, data: dict) -> dict:
    """Read the contact details of a callback from a close body's `callback` object; without a
    contact, use the phone or e-mail of a message the guardian left in the same chat (400 when
    there is none)."""
    given = data.get("callback") or {}
    if not isinstance(given, dict):
        raise BadRequest("'callback' must be an object: {\"contact\", \"name\", \"note\"}")
    contact = text_field(given, "contact", required=False, limit=254)
    name = text_field(given, "name", required=False, limit=MAX_NAME)
    note = text_field(given, "note", required=False, limit=MAX_NOTE)
    if not contact:
        left = [i for i in console.service.queue.items.values()
                if i["kind"] == "message" and i["session"] == item["session"] and i.get("contact")]
        if not left:
            raise BadRequest("say which phone number or e-mail address to call back: "
                             "'callback': {\"contact\": \"070-123 45 67\"}")
        contact, name = left[-1]["contact"], name or left[-1].get("name") or ""
    kind = contact_kind(contact)
    if kind is None:
        raise BadRequest("'callback.contact' must be a phone number or an e-mail address")
    return {"contact": contact, "contact_kind": kind, "name": name or item.get("name") or None, "note": note}


@api
async def get_agents(request: web.Request, session: AgentSession) -> web.Response:
    targets = console_of(request).service.transfer_targets(session.agent)
    return web.json_response({"agents": [{"username": a.username, "display_name": a.display_name}
                                         for a in targets]})


@api
async def post_transfer(request: web.Request, session: AgentSession) -> web.Response:
    data = await json_body(request)
    to = text_field(data, "to", limit=64)
    note = text_field(data, "note", required=False, limit=MAX_NOTE)
    return await act_on_item(request, session,
                             lambda service, item_id, agent: service.transfer(item_id, agent, to, note))


@api
async def post_note(request: web.Request, session: AgentSession) -> web.Response:
    text = text_field(await json_body(request), "text", limit=MAX_NOTE)
    return await act_on_item(request, session,
                             lambda service, item_id, agent: service.add_note(item_id, agent, text))


post_handback = item_action(HandoffService.hand_back)


@api
async def post_typing(request: web.Request, session: AgentSession) -> web.Response:
    await json_body(request)
    return await on_item(request, session, lambda service, item_id, agent: service.agent_typing(item_id, agent),
                         lambda _: {"typing": True})


@api
async def post_message_callback(request: web.Request, session: AgentSession) -> web.Response:
    note = text_field(await json_body(request), "note", required=False, limit=MAX_NOTE)
    return await act_on_item(request, session,
                             lambda service, item_id, agent: service.message_to_callback(item_id, agent, note))


@api
async def get_callbacks(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
    views, lang = console.views, lang_of(request)
    return web.json_response({"callbacks": [views.summary(i, session.agent.username, lang)
                                            for i in console.service.queue.callbacks()]})


@api
async def post_callback_done(request: web.Request, session: AgentSession) -> web.Response:
    data = await json_body(request)
    result = data.get("result")
    if result not in CALLBACK_RESULTS:
        raise BadRequest(f"'result' must be one of: {', '.join(CALLBACK_RESULTS)}")
    note = text_field(data, "note", required=False, limit=MAX_NOTE)
    return await act_on_item(request, session,
                             lambda service, item_id, agent: service.callback_done(item_id, agent, result, note))


def add_routes(r: web.UrlDispatcher) -> None:
    """Add the tools' routes (before the console's catch-all routes)."""
    r.add_get("/agent/api/agents", get_agents, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/transfer", post_transfer, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/notes", post_note, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/handback", post_handback, expect_handler=safe_expect)
    r.add_post("/agent/api/conversations/{id}/typing", post_typing, expect_handler=safe_expect)
    r.add_post("/agent/api/left-messages/{id}/callback", post_message_callback, expect_handler=safe_expect)
    r.add_get("/agent/api/callbacks", get_callbacks, expect_handler=safe_expect)
    r.add_post("/agent/api/callbacks/{id}/done", post_callback_done, expect_handler=safe_expect)
