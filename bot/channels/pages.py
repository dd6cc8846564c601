"""The pages a person opens on the `serve` server, and /healthz."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"


def setup(app: web.Application, runtime) -> None:
    """Add /healthz, the demo page and the widget's files."""

    async def healthz(request: web.Request) -> web.Response:
        holder = runtime.holder
        return web.json_response({
            "status": "ok",
            "knowledge_version": holder.version,
            "last_reload_error": holder.last_error,
        })

    async def index(request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "index.html")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
