"""The data-rights backend's aiohttp app: the machine API the bot files requests with, and the
staff pages where case officers handle them.

Routes are relative to the app's root, so the app runs alone (`python -m backends.dsr`) or mounted
with `root.add_subapp("/dsr/", app)`. Machine API (`api/requests…`, `api.py`) takes the shared
bearer token; staff pages (`staff.py`, HTML in `pages.py`) take a login (`logins.py`:
argon2id-hashed passwords, a random server-side session token in an HttpOnly, SameSite=Strict
cookie, a CSRF token in every form). The rules of a case are in `cases.py` (and `parts.py`,
the decision per part), the list's filters in `worklist.py`, its file in `store.py`; the receipt
e-mail and the daily reminder run as a job with the app (`followup.py`). docs/DSR.md tells how a
data-protection officer works a case.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from backends.httpkit import json_error
from common.loginguard import LoginGuard
from common.passwords import PasswordCheck

from . import api, logins, staff, staff_actions
from .config import (
    CONFIG_KEY, GUARD_KEY, HASHER_KEY, MAX_BODY_BYTES, SESSIONS_KEY, STORE_KEY, DsrConfig,
)
from .followup import WAKE_KEY, follow_through
from .logins import add_staff, disable_staff, remove_staff
from .pages import check_texts, load_texts
from .store import DsrStore

__all__ = ["DsrConfig", "create_app", "load_texts", "add_staff", "disable_staff", "remove_staff"]

log = logging.getLogger(__name__)

@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Keep API errors JSON and never let an unexpected fault leak details (or personal data)."""
    is_api = "/api/" in request.path
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if is_api and exc.status >= 400:
            return json_error(exc.status, exc.reason or "error")
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        log.error("dsr unexpected error type=%s path_kind=%s", type(exc).__name__,
                  "api" if is_api else "page")
        if is_api:
            return json_error(500, "internal error")
        return web.Response(status=500, text="Internal error", content_type="text/plain")


def create_app(config: DsrConfig) -> web.Application:
    """Build the DSR backend app; it can run alone or be mounted with add_subapp("/dsr/", app)."""
    check_texts(config.texts)
    if not config.token:
        raise ValueError("the DSR backend needs a non-empty bearer token")
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    store = DsrStore(Path(config.data_dir))
    app[CONFIG_KEY] = config
    app[STORE_KEY] = store
    app[SESSIONS_KEY] = {}
    app[GUARD_KEY] = LoginGuard(clock=config.timer)
    app[HASHER_KEY] = PasswordCheck()
    app[WAKE_KEY] = asyncio.Event()

    async def close_store(_: web.Application) -> None:
        store.close()

    app.on_cleanup.append(close_store)
    app.cleanup_ctx.append(follow_through)  # receipts and the daily reminder, with a mailer
    for routes in (api.routes, logins.routes, staff.routes, staff_actions.routes):
        app.add_routes(routes)
    return app

