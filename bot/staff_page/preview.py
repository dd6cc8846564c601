"""The test chat beside the editor: a real engine on the draft knowledge (or the live one when
there is no draft), with the clock at the chosen moment.

Nothing reaches the real world: a memory store per preview conversation, no backends, and a
handoff that decides staffed or closed from the draft's hours exactly as the real one does
(`flows/handoff.py` then says what a guardian would read at that moment) but queues nobody and
keeps no message. Within the staffed hours the preview assumes an agent is available.
"""
from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from aiohttp import web

from bot.clock import make_clock, parse_now
from bot.engine import Engine
from bot.holder import KnowledgeHolder
from bot.knowledge import KnowledgeError
from bot.reload import snapshot
from bot.staff_page.accounts import StaffUser
from bot.staff_page.page import StaffError, StaffPage, api, body_of, json_reply, page_of
from bot.store.memory import MemoryStore
from common.messages import Inbound
from flows.ports import Availability, Services

routes = web.RouteTableDef()

MAX_PREVIEWS = 50
MAX_TEXT = 2000
HANDLE_MINUTES = 4


class PreviewQueue:
    """The waiting line a preview sees: always empty."""

    def open_for_session(self, session: str) -> dict | None:
        return None

    def position(self, item_id: str) -> int | None:
        return 1


class PreviewHandoff:
    """The handoff port for previews: real staffed/closed decisions, no real queue."""

    queue = PreviewQueue()

    def estimate_minutes(self, position: int) -> int:
        return int(math.ceil((position - 1) * HANDLE_MINUTES)) + 1

    def availability(self, now: datetime, knowledge) -> Availability:
        status = knowledge.calendar.status("staffed", now)
        if not status.is_open:
            return Availability(False, "closed", False, status.next_open, 1)
        return Availability(True, None, True, status.next_open, 1)

    async def join(self, session: str, *, lang: str, channel: str, reason: str | None,
                   from_flow: str | None) -> tuple[dict, int, int, bool]:
        return {"id": "preview"}, 1, 1, True

    async def leave_message(self, session: str, **_fields) -> dict:
        return {"id": "m-preview"}


class Previews:
    """The knowledge a preview runs on (loaded again when the draft changes) and the preview
    conversations (most recent MAX_PREVIEWS kept)."""

    def __init__(self) -> None:
        self.holder: KnowledgeHolder | None = None
        self.stamp: tuple | None = None
        self.stores: OrderedDict[str, MemoryStore] = OrderedDict()

    def holder_for(self, folder: Path, flows) -> KnowledgeHolder:
        """A holder on `folder` (blocking: run in a thread); KnowledgeError when it has errors."""
        stamp = (str(folder), tuple(sorted(snapshot(folder).items())))
        if self.holder is None or self.stamp != stamp:
            self.holder, self.stamp = KnowledgeHolder(folder, flows), stamp
        return self.holder

    def store_for(self, key: str) -> MemoryStore:
        store = self.stores.pop(key, None) or MemoryStore()
        self.stores[key] = store
        while len(self.stores) > MAX_PREVIEWS:
            self.stores.popitem(last=False)
        return store


def _inbound(body: dict) -> Inbound:
    text, button, lang = body.get("text"), body.get("button"), body.get("lang")
    session = body.get("session")
    if not isinstance(session, str) or not 0 < len(session) <= 100:
        raise StaffError("preview_session")
    if (text is None) == (button is None) or not isinstance(text if text is not None else button, str):
        raise StaffError("preview_text")
    if len(text or button) > MAX_TEXT:
        raise StaffError("too_large", 413)
    return Inbound(session=f"preview-{session}", text=text, button=button, channel="web",
                   lang_hint=lang if lang in ("sv", "en") else None)


def _moment(body: dict) -> datetime | None:
    at = body.get("at")
    if at in (None, ""):
        return None
    try:
        return parse_now(str(at))
    except ValueError:
        raise StaffError("bad_at", value=str(at)[:40]) from None


async def run_turn(page: StaffPage, user: StaffUser, body: dict) -> list[dict]:
    """One turn of the test chat; the replies as the chat API gives them."""
    inbound, at = _inbound(body), _moment(body)
    previews = page.previews.get("previews") or page.previews.setdefault("previews", Previews())
    folder = page.draft.folder()
    try:
        holder = page.holder if folder == page.live else await asyncio.to_thread(
            previews.holder_for, folder, page.holder.flows)
    except KnowledgeError:
        raise StaffError("preview_broken", 422) from None
    engine = Engine(source=holder, store=previews.store_for(f"{user.username}:{inbound.session}"),
                    flows=holder.flows, clock=make_clock(at), services=Services(handoff=PreviewHandoff()))
    replies = await engine.handle(inbound)
    return [reply.to_json() for reply in replies]


@routes.post("/api/preview")
@api
async def post_preview(request: web.Request, user: StaffUser) -> web.Response:
    body = await body_of(request)
    return json_reply({"messages": await run_turn(page_of(request), user, body)})
