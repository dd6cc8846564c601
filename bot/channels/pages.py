"""/healthz: whether the server is ready, and which knowledge it serves.

With shared parts (Redis, `--redis-url`) the runtime lists `health_checks`, (name, probe) pairs;
when one fails /healthz answers 503 {"status": "unavailable", "failing": [names]}, so a load
balancer stops sending this process requests it cannot take.
"""
from __future__ import annotations

import json
from functools import partial

from aiohttp import web

from bot.knowledge_messages import translate_report
from common.expect import safe_expect

# Real UTF-8 ("—", "å"), not \u escapes: staff read the reload errors here.
_DUMPS = partial(json.dumps, ensure_ascii=False)


def add_routes(app: web.Application, runtime) -> None:
    """Add /healthz (the web widget's pages live in bot/channels/widget.py)."""

    async def healthz(request: web.Request) -> web.Response:
        holder = runtime.holder
        error = holder.last_error
        failing = [name for name, check in runtime.health_checks if not await check()]
        return web.json_response({
            "status": "unavailable" if failing else "ok",
            **({"failing": failing} if failing else {}),
            "knowledge_version": holder.version,
            "last_reload_error": error,
            "last_reload_error_sv": translate_report(error, "sv", holder.root) if error else None,
        }, status=503 if failing else 200, dumps=_DUMPS)

    app.router.add_get("/healthz", healthz, expect_handler=safe_expect)
