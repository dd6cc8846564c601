"""Live push of a conversation to the web widget: `GET /api/chat/{session}/ws` (WebSocket).

Why: an agent's reply, a late data-rights reference or a queue update is written with
`engine.post` while the guardian is not asking anything; the widget must show it without a
reload. On connect the socket replays the transcript after `?after=N`; afterwards every
`engine.post` for the session wakes the socket, which sends the entries it has not sent yet.
Frames from the server are JSON:
    {"type": "messages", "messages": [{"seq", "from", "text", "buttons", "at"}, ...]}
    {"type": "ping"}   (every HEARTBEAT seconds, so the widget can tell a dead socket)
With `serve --redis-url` a post on one process wakes the sockets on every process (`relay`, the
shared change stream), each reading the shared transcript.
The transcript is the one source of truth, so a missed wake-up costs nothing: the next one (or
the widget's own polling of GET /api/chat/{session}/messages) catches up. Clients send nothing.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from common.expect import safe_expect

from bot.channels.web import _client as client_address, format_entry, json_error
from bot.channels.widget import origin_allowed
from common.messages import Outbound
from common.session_ids import RULE as SESSION_RULE, is_session_id

log = logging.getLogger("halmstad.push")
HEARTBEAT = 25.0
MAX_PER_SESSION = 3
MAX_TOTAL = 2000
# One client address may hold this many sockets (browser tabs, a household behind one router);
# without it one client could take all MAX_TOTAL and push everyone else to polling.
MAX_PER_ADDRESS = 30
HUB_KEY = web.AppKey("push_hub", object)


@dataclass(eq=False)
class Connection:
    """One open socket: what it has sent so far and the event that wakes its sender."""

    ws: web.WebSocketResponse
    last: int
    address: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class PushHub:
    """Keeps the open sockets per session and wakes them when the engine posts a message."""

    def __init__(self, transcript, *, max_per_session: int = MAX_PER_SESSION, max_total: int = MAX_TOTAL,
                 max_per_address: int = MAX_PER_ADDRESS, heartbeat: float = HEARTBEAT,
                 client_of=client_address, relay: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.relay = relay  # (session) -> None: wake that session's sockets in every process
        self.transcript = transcript  # (session, after) -> the entries after seq `after`; read only
        self.max_per_session = max_per_session
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.heartbeat = heartbeat
        self.client_of = client_of
        self.sessions: dict[str, list[Connection]] = {}
        self.per_address: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(len(conns) for conns in self.sessions.values())

    async def on_outbound(self, outbound: Outbound) -> None:
        """Wake the sockets of the session the engine just posted to (an engine listener); with
        several processes, `relay` tells every process, and each wakes its own sockets."""
        if self.relay is not None:
            await self.relay(outbound.session)
        else:
            self.wake(outbound.session)

    def wake(self, session: str) -> None:
        """Wake this process's sockets of `session`: they send what the transcript has new."""
        for conn in self.sessions.get(session, ()):
            conn.wake.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        session = request.match_info["session"]
        if not is_session_id(session):
            return json_error(f"the session id must be {SESSION_RULE}", 400)
        raw_after = request.query.get("after", "0")
        if not raw_after.isdigit() or len(raw_after) > 12:
            return json_error("'after' must be a whole number of 0 or more", 400)
        if not origin_allowed(request):
            return json_error("this origin may not use the chat API", 403)
        ws = web.WebSocketResponse(heartbeat=self.heartbeat * 2, max_msg_size=4096)
        if not ws.can_prepare(request).ok:
            return json_error("this address takes a WebSocket connection", 400)
        address = self.client_of(request)
        conns = self.sessions.get(session, [])
        mine = [c for c in conns if c.address == address]
        if self.total >= self.max_total and not conns:
            return json_error("too many live connections; the widget will poll instead", 503)
        if self.per_address.get(address, 0) >= self.max_per_address and not mine:
            return json_error("too many live connections from this address; the widget will poll instead", 429)
        # A reconnecting widget replaces its stale socket rather than being refused.
        while True:
            conns = self.sessions.get(session, [])
            mine = [c for c in conns if c.address == address]
            if len(conns) >= self.max_per_session:
                oldest = conns[0]
            elif mine and self.per_address.get(address, 0) >= self.max_per_address:
                oldest = mine[0]
            else:
                break
            self._forget(session, oldest)
            await oldest.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"replaced")
        await ws.prepare(request)
        conn = Connection(ws, int(raw_after), address)
        self.sessions.setdefault(session, []).append(conn)
        self.per_address[address] = self.per_address.get(address, 0) + 1
        sender = asyncio.create_task(self._send_loop(session, conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
                # Anything a client sends is ignored: the socket only pushes.
        finally:
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, Exception):
                pass
            self._forget(session, conn)
        return ws

    def _forget(self, session: str, conn: Connection) -> None:
        """Drop a socket from the books (once: a replaced socket is dropped before it closes)."""
        remaining = self.sessions.get(session, [])
        if conn in remaining:
            remaining.remove(conn)
            left = self.per_address.get(conn.address, 0) - 1
            if left > 0:
                self.per_address[conn.address] = left
            else:
                self.per_address.pop(conn.address, None)
        if not remaining:
            self.sessions.pop(session, None)

    async def _send_loop(self, session: str, conn: Connection) -> None:
        """Send the transcript after `conn.last` now and after every wake-up; ping when idle."""
        conn.wake.set()
        while not conn.ws.closed:
            try:
                await asyncio.wait_for(conn.wake.wait(), timeout=self.heartbeat)
            except asyncio.TimeoutError:
                await conn.ws.send_json({"type": "ping"})
                continue
            conn.wake.clear()
            entries = await self.transcript(session, conn.last)
            if entries:
                await conn.ws.send_json({"type": "messages", "messages": [format_entry(e) for e in entries]})
                conn.last = entries[-1]["seq"]

    def add_routes(self, app: web.Application) -> None:
        """Add the push WebSocket to `app`; its sockets close when the app shuts down."""
        app.on_shutdown.append(self.close_all)
        app.router.add_get("/api/chat/{session}/ws", self.handle, expect_handler=safe_expect)

    async def close_all(self, _app: web.Application | None = None) -> None:
        """Close every socket (at shutdown), so the server stops at once and widgets reconnect."""
        for conns in list(self.sessions.values()):
            for conn in list(conns):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
