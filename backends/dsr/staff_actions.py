"""The case forms that change no status: a note, the assignee, the decision per part; and the
correction of a closed case. Each change is audited with who and when (`staff.apply_form`).
"""
from __future__ import annotations

from typing import Callable

from aiohttp import web

from . import cases, parts
from .config import STORE_KEY, StaffSession
from .logins import staff_page
from .staff import apply_form

routes = web.RouteTableDef()

Change = Callable[[dict, str, dict, str], dict]  # (case, time, form values, who) -> audit entry

# path under /cases/{reference}/, route name, form fields (field id -> form name), done, change
FORMS: tuple[tuple[str, str, dict[str, str], str, Change], ...] = (
    # A note; the status stays as it is.
    ("note", "case_note", {"note": "text"}, "note",
     lambda case, at, v, who: cases.add_note(case, v["note"], who, at)),
    # A closed case's status corrected, its history kept (a reason is required).
    ("correct", "case_correct", {"correct-to": "status", "correct-reason": "reason"}, "corrected",
     lambda case, at, v, who: cases.correct(case, v["correct-to"], v["correct-reason"], who, at)),
    # One part of the decision: what, granted or refused, and the ground of a refusal.
    ("parts", "case_part", {"part-text": "text", "part-outcome": "outcome", "part-ground": "ground",
                            "part-explanation": "explanation"}, "part",
     lambda case, at, v, who: parts.add_part(case, v["part-text"], v["part-outcome"],
                                             v["part-ground"], v["part-explanation"], who, at)),
    # One part taken out of the decision (while the case is open).
    ("parts/remove", "case_part_remove", {"part": "part"}, "part_removed",
     lambda case, at, v, who: parts.remove_part(case, v["part"], who, at)),
)


def _form_handler(fields: dict[str, str], done: str, change: Change):
    """Return the staff page that applies one of FORMS to the case in the URL."""

    @staff_page
    async def post(request: web.Request, session: StaffSession) -> web.Response:
        return await apply_form(request, session, fields,
                                lambda case, at, v: change(case, at, v, session.username), done)

    return post


for _path, _name, _fields, _done, _change in FORMS:
    routes.post(f"/cases/{{reference}}/{_path}", name=_name)(_form_handler(_fields, _done, _change))


@routes.post("/cases/{reference}/assign", name="case_assign")
@staff_page
async def post_assign(request: web.Request, session: StaffSession) -> web.Response:
    """Give the case to a staff member ("" gives it to nobody)."""
    staff = await request.app[STORE_KEY].staff_names()
    return await apply_form(
        request, session, {"assignee": "assignee"},
        lambda case, at, v: cases.assign(case, v["assignee"] or None, staff, session.username, at),
        "assigned")
