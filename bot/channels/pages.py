"""/healthz: whether the server is ready, and which knowledge it serves."""
from __future__ import annotations

from aiohttp import web

from common.expect import safe_expect

def add_routes(app: web.Application, runtime) -> None:
    """Add /healthz (the web widget's pages live in bot/channels/widget.py)."""

    async def healthz(request: web.Request) -> web.Response:
        holder = runtime.holder
        return web.json_response({
            "status": "ok",
            "knowledge_version": holder.version,
            "last_reload_error": holder.last_error,
        })

    app.router.add_get("/healthz", healthz, expect_handler=safe_expect)
