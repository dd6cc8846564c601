"""The staff pages where case officers handle data-subject requests: the case list with its
filters, one case, its response letter, and the forms that move a case on or extend its
deadline (each change audited, and each view of a case or its letter too). The other forms
(notes, assignee, the decision per part, corrections) are in `staff_actions.py`.

Every handler here needs a login (`logins.staff_page`); the rules of a change live in `cases.py`
and the HTML in `listing.py`, `case_view.py` and `letter.py`.
"""
from __future__ import annotations

import logging
from typing import Callable

from aiohttp import web

from backends.httpkit import json_error

from . import cases, pages
from .case_view import case_page
from .config import CONFIG_KEY, STORE_KEY, StaffSession
from .letter import letter_page
from .listing import cases_page
from .logins import read_form, session_of, staff_page
from .store import CaseNotFound
from .validation import LANGUAGES, REFERENCE_RE
from .worklist import DEFAULT_FILTER, FILTERS

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
    """List the cases of the chosen filter (open ones by default), overdue ones marked in words."""
    chosen = request.query.get("filter")
    if chosen not in FILTERS:
        chosen = DEFAULT_FILTER
    every = await request.app[STORE_KEY].cases()
    return cases_page(request, pages.texts_for(request), session, every,
                      cases.local_today(request.app[CONFIG_KEY].clock), chosen)


async def load_case(request: web.Request) -> dict | None:
    """Return the case named in the URL, or None for an unknown or malformed reference."""
    reference = request.match_info["reference"]
    if not REFERENCE_RE.match(reference):
        return None
    return await request.app[STORE_KEY].get_case(reference)


async def show_case(request: web.Request, session: StaffSession, case: dict,
                    **shown) -> web.Response:
    """Render `case` with its audit log (and what `shown` adds: an error, the typed form)."""
    store = request.app[STORE_KEY]
    audit = await store.audit_for(case["reference"])
    return case_page(request, pages.texts_for(request), session, case, audit,
                     cases.local_today(request.app[CONFIG_KEY].clock), await store.staff_names(),
                     **shown)


async def _viewed(request: web.Request, session: StaffSession, case: dict, action: str,
                  **extra: str) -> None:
    """Record in the audit log that `session`'s staff member looked at the case."""
    await request.app[STORE_KEY].add_audit(
        {"reference": case["reference"], "at": cases.now_iso(request.app[CONFIG_KEY].clock),
         "by": session.username, "action": action, "reason": None, **extra})


@routes.get("/cases/{reference}", name="case")
@staff_page
async def get_case(request: web.Request, session: StaffSession) -> web.Response:
    """Show one case with its history, audit log and the forms to act on it (the view audited)."""
    case = await load_case(request)
    if case is None:
        return pages.not_found_page(request, pages.texts_for(request), session)
    await _viewed(request, session, case, "viewed")
    return await show_case(request, session, case)


@routes.get("/cases/{reference}/letter", name="case_letter")
@staff_page
async def get_letter(request: web.Request, session: StaffSession) -> web.Response:
    """Show the response letter, in the requester's language unless `lang` asks for the other."""
    case = await load_case(request)
    lang = request.query.get("lang")
    if lang not in LANGUAGES:
        lang = case["language"] if case else None
    t = pages.texts_for(request).other(lang)
    if case is None:
        return pages.not_found_page(request, t, session)
    await _viewed(request, session, case, "letter", language=t.lang)
    return letter_page(request, t, session, case, cases.local_today(request.app[CONFIG_KEY].clock))


async def apply(request: web.Request, session: StaffSession, change: Change,
                form: dict, done: str) -> web.Response:
    """Apply a staff change to the case in the URL; redirect on success, re-render on refusal."""
    t = pages.texts_for(request)
    case = await load_case(request)
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
        return await show_case(request, session, current, error=pages.refusal_text(t, refused),
                               status=400, form=form)
    raise web.HTTPSeeOther(str(request.app.router["case"].url_for(reference=case["reference"])
                               .with_query(lang=t.lang, done=done)))


def form_text(form, name: str) -> str:
    """Return a form field as stripped text ("" when missing or not text)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


FormChange = Callable[[dict, str, dict], dict]  # (case, time, the form's values) -> audit entry


async def apply_form(request: web.Request, session: StaffSession, fields: dict[str, str],
                     change: FormChange, done: str) -> web.Response:
    """Read the posted form's `fields` (field id -> form name), apply `change` with their values
    and log the outcome (the reference and whether it held, nothing typed)."""
    form = await read_form(request)
    values = {field_id: form_text(form, name) for field_id, name in fields.items()}
    response = await apply(request, session, lambda case, at: change(case, at, values), values, done)
    log.info("dsr change=%s reference=%s ok=%s", done, request.match_info["reference"][:40],
             response.status < 400)
    return response


@routes.post("/cases/{reference}/status", name="case_status")
@staff_page
async def post_status(request: web.Request, session: StaffSession) -> web.Response:
    """Move a case to its next status (some need a reason) and log who and when."""
    return await apply_form(
        request, session, {"status": "status", "reason": "reason"},
        lambda case, at, v: cases.change_status(case, v["status"], v["reason"], session.username, at),
        "status")


@routes.post("/cases/{reference}/extend", name="case_extend")
@staff_page
async def post_extend(request: web.Request, session: StaffSession) -> web.Response:
    """Extend a case's deadline by two months once, recording the reason and when the requester
    was told (which must be within the first month)."""
    today = cases.local_today(request.app[CONFIG_KEY].clock)
    return await apply_form(
        request, session, {"extend-reason": "reason", "told-on": "told_on"},
        lambda case, at, v: cases.extend(case, v["extend-reason"], v["told-on"], today,
                                         session.username, at),
        "extended")
