"""The hours API: the weekly hours and the exceptions (days and repeating rules) of contact.yaml,
read from the draft and saved to it, with the warnings `knowledge check` gives (an exception that
opens a public holiday names the date and the holiday)."""
from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from aiohttp import web

from bot.clock import STOCKHOLM
from bot.staff_page import yamlfiles
from common.calendar import swedish_holidays
from bot.staff_page.accounts import StaffUser
from bot.staff_page.checking import Focus, contact_warnings
from bot.staff_page.drafts import HOURS, set_hours
from bot.staff_page.entries import save
from bot.staff_page.page import StaffError, api, body_of, json_reply, lang_of, page_of

routes = web.RouteTableDef()


def _read(folder: Path, lang: str, today: date) -> dict:
    doc = yamlfiles.load(folder / HOURS)
    return {"hours": yamlfiles.plain(doc.get("hours")) or {},
            "exceptions": yamlfiles.plain(doc.get("exceptions")) or [], "warnings": contact_warnings(folder, lang),
            "holidays": holidays_around(today, lang)}


def holidays_around(today: date, lang: str) -> list[dict]:
    """The closed holidays of this year and the next, named in `lang`, for the page's calendar."""
    days = {**swedish_holidays(today.year, lang), **swedish_holidays(today.year + 1, lang)}
    return [{"date": day.isoformat(), "name": name} for day, name in sorted(days.items())]


@routes.get("/api/hours")
@api
async def get_hours(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    return json_reply(await asyncio.to_thread(_read, page.draft.folder(), lang_of(request), _today(page)))


def _today(page) -> date:
    return page.clock().astimezone(STOCKHOLM).date()


def _change(hours: dict, exceptions: list):
    def change(folder: Path) -> Focus:
        doc = yamlfiles.load(folder / HOURS)
        set_hours(doc, hours, exceptions)
        yamlfiles.save(folder / HOURS, doc)
        return Focus(HOURS, yamlfiles.load(folder / HOURS))  # read back: the lines as written
    return change


@routes.put("/api/hours")
@api
async def put_hours(request: web.Request, user: StaffUser) -> web.Response:
    body = await body_of(request)
    hours, exceptions = body.get("hours"), body.get("exceptions", [])
    if not isinstance(hours, dict) or not isinstance(exceptions, list):
        raise StaffError("hours_shape")
    result = await save(request, user, _change(hours, exceptions), (), hours=True)
    page = page_of(request)
    shown = await asyncio.to_thread(_read, page.draft.folder(), lang_of(request), _today(page))
    return json_reply({**shown, "warnings": [w for w in result.warnings if w["file"] == HOURS]})
