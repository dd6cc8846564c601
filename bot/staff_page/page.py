"""What every knowledge-page route shares: the `StaffPage` (folders, logins, sessions, draft,
history, the live holder and its reloader), the language of a request, errors in the staff
member's language (knowledge/texts/staff.yaml, `staff.page.*`), the login guard of API routes
and JSON bodies with their CSRF token.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from bot.knowledge_messages import catalog
from bot.staff_page.accounts import Logins, StaffSessions, StaffUser
from bot.staff_page.drafts import Draft
from bot.staff_page.history import History, HistoryError
from common.loginguard import LoginGuard, LoginThrottle
from common.netaddr import ClientAddresses

log = logging.getLogger("halmstad.staff_page")
COOKIE = "staff_page"
CSRF_HEADER = "X-CSRF-Token"
MAX_BODY = 512 * 1024
PAGE_KEY = web.AppKey("staff_page", object)


@dataclass
class StaffPage:
    """The knowledge page's parts (one per `serve`)."""

    live: Path
    data_dir: Path
    holder: object  # the live KnowledgeHolder
    reload: Callable[[], Awaitable[bool]]  # check the live folder and swap it in now
    clock: Callable
    logins: Logins
    sessions: StaffSessions
    draft: Draft
    history: History
    clients: ClientAddresses = field(default_factory=ClientAddresses)
    secure: bool = False
    origin: str = ""  # the public base URL (--public-url): its Origin is ours behind a proxy too
    mailer: object = None
    guard: LoginThrottle = field(default_factory=LoginGuard)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one change of the files at a time
    previews: dict = field(default_factory=dict)
    conversations: object = None  # the live SessionStore (the gaps list reads through it)

    @property
    def review_needed(self) -> bool:
        settings = (self.holder.knowledge.settings.get("staff_page") or {})
        return settings.get("review_needed", True) is not False

    def may_publish(self, user: StaffUser) -> bool:
        return user.role == "publisher" or not self.review_needed


def json_reply(data, status: int = 200) -> web.Response:
    """A JSON answer in real UTF-8 (å, ä, ö as themselves, never \\u escapes)."""
    return web.json_response(data, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False))


def page_of(request: web.Request) -> StaffPage:
    return request.app[PAGE_KEY]


def lang_of(request: web.Request) -> str:
    """`?lang=`, else the first of sv/en in Accept-Language, else Swedish."""
    lang = request.query.get("lang")
    if lang in ("sv", "en"):
        return lang
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("sv", "en"):
            return code
    return "sv"


def say(request: web.Request, key: str, **fmt) -> str:
    """The sentence `staff.page.<key>` in the request's language."""
    return catalog(page_of(request).live).text(f"staff.page.{key}", lang_of(request), **fmt)


class StaffError(Exception):
    """A refusal the staff member reads: a `staff.page.*` sentence and a status."""

    def __init__(self, key: str, status: int = 400, **fmt) -> None:
        super().__init__(key)
        self.key, self.status, self.fmt = key, status, fmt


class Invalid(Exception):
    """A change refused by the check: 422 with every problem (checking.Result)."""

    def __init__(self, result) -> None:
        super().__init__("invalid")
        self.result = result


def problems_of(result) -> list[dict]:
    return ([{**p, "severity": "error"} for p in result.errors]
            + [{**p, "severity": "warning"} for p in result.warnings])


def fail(request: web.Request, key: str, status: int, **extra) -> web.Response:
    return json_reply({"error": say(request, key), **extra}, status=status)


@web.middleware
async def errors(request: web.Request, handler):
    """Refusals as JSON in the staff member's language; no traceback ever reaches the page."""
    try:
        return await handler(request)
    except Invalid as exc:
        return json_reply({"error": say(request, "invalid", count=len(exc.result.errors)),
                                  "problems": problems_of(exc.result)}, status=422)
    except StaffError as exc:
        return json_reply({"error": say(request, exc.key, **exc.fmt)}, status=exc.status)
    except HistoryError:
        log.exception("the knowledge history failed")
        return fail(request, "history_failed", 500)
    except web.HTTPException as exc:
        if exc.status >= 400 and "/api/" in request.path:
            return fail(request, "not_found" if exc.status == 404 else "bad_request", exc.status)
        raise


def user_of(request: web.Request) -> StaffUser | None:
    return page_of(request).sessions.user_of(request.cookies.get(COOKIE))


def api(handler):
    """An API route: 401 without a login; a state-changing call needs the CSRF header."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        user = user_of(request)
        if user is None:
            return fail(request, "login_first", 401)
        if request.method not in ("GET", "HEAD"):
            sessions = page_of(request).sessions
            if not sessions.csrf_ok(request.cookies.get(COOKIE), request.headers.get(CSRF_HEADER)):
                return fail(request, "csrf", 403)
        return await handler(request, user)
    return wrapped


async def body_of(request: web.Request) -> dict:
    """The JSON object of a state-changing call ({} without a body)."""
    if not request.body_exists or request.content_length == 0:
        return {}
    if request.content_type != "application/json":
        raise StaffError("json_only", 415)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StaffError("too_large", 413)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StaffError("bad_json") from None
    if not isinstance(data, dict):
        raise StaffError("bad_json")
    return data
