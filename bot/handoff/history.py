"""History and search (issue 15, item 4): closed conversations, left messages and calls stay
findable for the retention period (the queue's purge disposes of them after it).

    GET /agent/history                     the search page (read-only views)
    GET /agent/api/history?q=&from=&to=&outcome=
        q:        a reference a guardian was given (M-…, C-…, R-…, DSR-…; the start of one is
                  enough) or part of a name, phone number or e-mail address
        from, to: Stockholm dates YYYY-MM-DD (inclusive) of when the item was made
        outcome:  one of OUTCOME_KEYS
      → {"items": [summary, …] newest first, "total": n, "limit": LIMIT}

An item found by its reference brings the other items of the same chat along (`related`): the
conversation of a guardian who left a message is found by the message's M-… number.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from aiohttp import web

from bot.channels.web import BadRequest
from bot.clock import STOCKHOLM
from bot.handoff.agents import AgentSession
from bot.handoff.http import api, console_of, lang_of, page, render_page
from bot.handoff.views import OUTCOME_KEYS, outcome_of, reference
from common.expect import safe_expect

LIMIT = 200
MAX_QUERY = 100
_REFERENCE = re.compile(r"^(?:[MCR]-[0-9A-F]{1,10}|DSR-[0-9-]{1,12})$")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date written YYYY-MM-DD") from None


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def by_reference(item: dict, query: str) -> bool:
    """Whether `query` (in capitals) is, or begins, the item's reference or a DSR reference it named."""
    return reference(item).startswith(query) or any(r.startswith(query) for r in item.get("references") or ())


def by_words(item: dict, query: str) -> bool:
    """Whether `query` is part of the item's name, e-mail address or phone number."""
    folded = query.casefold()
    if any(folded in (item.get(k) or "").casefold() for k in ("name", "contact")):
        return True
    digits = _digits(query)
    return len(digits) >= 4 and digits in _digits(item.get("contact") or "")


def search(items: list[dict], query: str = "", day_from: date | None = None, day_to: date | None = None,
           outcome: str | None = None) -> list[tuple[dict, bool]]:
    """Return the items that match, newest first, each with whether it came along as related."""
    wanted = query.strip().upper()
    as_reference = bool(_REFERENCE.match(wanted))
    found = [i for i in items if not wanted or (by_reference(i, wanted) if as_reference else by_words(i, query.strip()))]
    related: list[dict] = []
    if wanted and as_reference:
        sessions = {i["session"] for i in found}
        ids = {i["id"] for i in found}
        related = [i for i in items if i["session"] in sessions and i["id"] not in ids]

    def keep(item: dict) -> bool:
        made = datetime.fromisoformat(item["created_at"]).astimezone(STOCKHOLM).date()
        return ((day_from is None or made >= day_from) and (day_to is None or made <= day_to)
                and (outcome is None or outcome_of(item) == outcome))

    out = [(i, False) for i in found if keep(i)] + [(i, True) for i in related if keep(i)]
    out.sort(key=lambda pair: pair[0]["created_at"], reverse=True)
    return out


@api
async def get_history(request: web.Request, session: AgentSession) -> web.Response:
    console = console_of(request)
    query = request.query.get("q", "")
    if len(query) > MAX_QUERY:
        raise BadRequest(f"'q' is longer than {MAX_QUERY} characters")
    outcome = request.query.get("outcome") or None
    if outcome is not None and outcome not in OUTCOME_KEYS:
        raise BadRequest(f"'outcome' must be one of: {', '.join(OUTCOME_KEYS)}")
    found = search(list(console.service.queue.items.values()), query, _day(request.query.get("from"), "from"),
                   _day(request.query.get("to"), "to"), outcome)
    views, lang, me = console.views, lang_of(request), session.agent.username
    items = [{**views.summary(item, me, lang), "related": related} for item, related in found[:LIMIT]]
    return web.json_response({"items": items, "total": len(found), "limit": LIMIT})


@page
async def get_history_page(request: web.Request, session: AgentSession) -> web.Response:
    return render_page(console_of(request), "history.html", lang_of(request), title="history_title")


def add_routes(r: web.UrlDispatcher) -> None:
    """Add the history's API route and page (before the console's catch-all routes)."""
    r.add_get("/agent/api/history", get_history, expect_handler=safe_expect)
    r.add_get("/agent/history", get_history_page, expect_handler=safe_expect)
