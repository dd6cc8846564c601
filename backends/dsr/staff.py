"""The staff pages where case officers handle data-subject requests: the case list, one case,
and the forms that move a case on or extend its deadline (each change audited).

Every handler here needs a login (`logins.staff_page`); the rules of a change live in `cases.py`
and the HTML in `pages.py`.
"""
from __future__ import annotations

import logging
from typing import Callable

from aiohttp import web

from backends.httpkit import json_error

from . import cases, pages
from .config import CONFIG_KEY, STORE_KEY, StaffSession
from .logins import read_form, session_of, staff_page
from .store import CaseNotFound
from .validation import REFERENCE_RE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

Change = Callable[[dict, str], dict]  # (case, time) -> audit entry; raises cases.Refused


@routes.get("/", name="index")
async def get_index(request: web.Request) -> web.Response:
    """Send the app's root to the case list (which itself asks for a login)."""
    raise web.HTTPSeeOther(pages.url(request, "cases", pages.texts_for(request).lang))


@routes.get("/api/staff/cases", name="api_staff_cases")
async def staff_api_cases(request: web.Request) -> web.Response:
    """List cases for staff tools as JSON (401 without a login: it is an API, not a page)."""
    if await session_of(request) is None:
        return json_error(401, "log in first")
    today = cases.local_today(request.app[CONFIG_KEY].clock)
    listed = cases.by_due_date(await request.app[STORE_KEY].cases())
    return web.json_response({"cases": [
        {**cases.public_case(c), "right": c["right"], "overdue": cases.is_overdue(c, today)}
        for c in listed
    ]})


@routes.get("/cases", name="cases")
@staff_page
async def get_cases(request: web.Request, session: StaffSession) -> web.Response:
    """List every case by due date, overdue ones marked in words."""
    listed = cases.by_due_date(await request.app[STORE_KEY].cases())
    return pages.cases_page(request, pages.texts_for(request), session, listed,
                            cases.local_today(request.app[CONFIG_KEY].clock))


async def _load_case(request: web.Request) -> dict | None:
    """Return the case named in the URL, or None for an unknown or malformed reference."""
    reference = request.match_info["reference"]
    if not REFERENCE_RE.match(reference):
        return None
    return await request.app[STORE_KEY].get_case(reference)


async def _show_case(request: web.Request, session: StaffSession, case: dict,
                     **shown) -> web.Response:
    """Render `case` with its audit log (and what `shown` adds: an error, the typed form)."""
    audit = await request.app[STORE_KEY].audit_for(case["reference"])
    return pages.case_page(request, pages.texts_for(request), session, case, audit,
                           cases.local_today(request.app[CONFIG_KEY].clock), **shown)


@routes.get("/cases/{reference}", name="case")
@staff_page
async def get_case(request: web.Request, session: StaffSession) -> web.Response:
    """Show one case with its history, audit log and the forms to act on it."""
    case = await _load_case(request)
    if case is None:
        return pages.not_found_page(request, pages.texts_for(request), session)
    return await _show_case(request, session, case)


async def _apply(request: web.Request, session: StaffSession, change: Change,
                 form: dict, done: str) -> web.Response:
    """Apply a staff change to the case in the URL; redirect on success, re-render on refusal."""
    t = pages.texts_for(request)
    case = await _load_case(request)
    if case is None:
        return pages.not_found_page(request, t, session)
    store = request.app[STORE_KEY]
    clock = request.app[CONFIG_KEY].clock
    try:
        await store.update_case(case["reference"], lambda c: change(c, cases.now_iso(clock)))
    except CaseNotFound:
        return pages.not_found_page(request, t, session)
    except cases.Refused as refused:
        current = await store.get_case(case["reference"]) or case
        return await _show_case(request, session, current, error=pages.refusal_text(t, refused),
                                status=400, form=form)
    raise web.HTTPSeeOther(str(request.app.router["case"].url_for(reference=case["reference"])
                               .with_query(lang=t.lang, done=done)))


def _form_text(form, name: str) -> str:
    """Return a form field as stripped text ("" when missing or not text)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@routes.post("/cases/{reference}/status", name="case_status")
@staff_page
async def post_status(request: web.Request, session: StaffSession) -> web.Response:
    """Move a case to its next status (a refusal needs a reason) and log who and when."""
    form = await read_form(request)
    new, reason = _form_text(form, "status"), _form_text(form, "reason")
    response = await _apply(
        request, session, lambda case, at: cases.change_status(case, new, reason, session.username, at),
        {"status": new, "reason": reason}, "status")
    log.info("dsr status change reference=%s to=%s ok=%s",
             request.match_info["reference"][:40], new[:40], response.status < 400)
    return response


@routes.post("/cases/{reference}/extend", name="case_extend")
@staff_page
async def post_extend(request: web.Request, session: StaffSession) -> web.Response:
    """Extend a case's deadline by two months once, recording the reason and when the requester
    was told (which must be within the first month)."""
    form = await read_form(request)
    reason, told_on = _form_text(form, "reason"), _form_text(form, "told_on")
    today = cases.local_today(request.app[CONFIG_KEY].clock)
    response = await _apply(
        request, session,
        lambda case, at: cases.extend(case, reason, told_on, today, session.username, at),
        {"extend_reason": reason, "told_on": told_on}, "extended")
    log.info("dsr extension reference=%s ok=%s",
             request.match_info["reference"][:40], response.status < 400)
    return response
