"""Unanswered questions on the page: what guardians asked that got the fallback or a
clarification, masked and grouped as `halmstad-bot knowledge gaps` does, read through the live
conversation store (embedded or Redis), as the running server sees it. A group can become a phrasing of an entry (in the draft) or be marked as
handled (DATA_DIR/staff_gaps_handled.json keeps only the group's key, never the question).
"""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.staff_page.accounts import StaffUser
from bot.staff_page.entries import found_entry, put_change, save
from bot.staff_page.page import StaffError, StaffPage, api, body_of, json_reply, page_of
from bot.staff_tools import GapGroup, group_gaps, read_gap_questions, store_gap_questions
from bot.staff_page.store import read_dict, update_dict

routes = web.RouteTableDef()

HANDLED_FILE = "staff_gaps_handled.json"
DEFAULT_DAYS = 30
MAX_DAYS = 3650


def key_of(group: GapGroup) -> str:
    return hashlib.sha256(group.key.encode("utf-8")).hexdigest()[:16]


def example_of(group: GapGroup) -> str:
    return sorted(group.texts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def handled(data_dir: Path) -> dict[str, dict]:
    return read_dict(Path(data_dir) / HANDLED_FILE)


def mark_handled(data_dir: Path, key: str, username: str, at: str) -> None:
    update_dict(Path(data_dir) / HANDLED_FILE, lambda done: done.__setitem__(key, {"by": username, "at": at}))


async def open_groups(page: StaffPage, days: int) -> list[GapGroup]:
    """The groups of the last `days` days not marked as handled, most asked first."""
    since = page.clock() - timedelta(days=days)
    if page.conversations is not None:
        questions = await store_gap_questions(page.conversations, since)
    else:
        questions = await asyncio.to_thread(read_gap_questions, page.data_dir, since)
    done = await asyncio.to_thread(handled, page.data_dir)
    return [g for g in await asyncio.to_thread(group_gaps, questions) if key_of(g) not in done]


def _days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days") or DEFAULT_DAYS)
    except ValueError:
        raise StaffError("bad_days") from None
    if not 1 <= days <= MAX_DAYS:
        raise StaffError("bad_days")
    return days


@routes.get("/api/gaps")
@api
async def get_gaps(request: web.Request, user: StaffUser) -> web.Response:
    groups = await open_groups(page_of(request), _days(request))
    return json_reply({"groups": [
        {"key": key_of(g), "example": example_of(g), "count": g.count, "variants": len(g.texts),
         "fallback": g.outcomes["fallback"], "clarify": g.outcomes["clarify"],
         "last": g.last.isoformat() if g.last else None} for g in groups]})


async def _group(request: web.Request) -> GapGroup:
    key = request.match_info["key"]
    groups = await open_groups(page_of(request), MAX_DAYS)
    found = next((g for g in groups if key_of(g) == key), None)
    if found is None:
        raise StaffError("no_gap", 404)
    return found


@routes.post("/api/gaps/{key}/phrasing")
@api
async def post_phrasing(request: web.Request, user: StaffUser) -> web.Response:
    body = await body_of(request)
    group = await _group(request)
    entry_id, lang = body.get("entry"), body.get("lang") or "sv"
    if not isinstance(entry_id, str) or lang not in ("sv", "en"):
        raise StaffError("entry_shape")
    file, entry = await found_entry(page_of(request), entry_id)
    phrasings = dict(entry.get("phrasings") or {})
    phrasings[lang] = list(phrasings.get(lang) or []) + [example_of(group)]
    entry = {**entry, "phrasings": phrasings}
    result = await save(request, user, put_change(entry_id, entry, file), (entry_id,))
    return json_reply({"entry": {**entry, "file": file}, "draft": True, "warnings": result.warnings})


@routes.post("/api/gaps/{key}/handled")
@api
async def post_handled(request: web.Request, user: StaffUser) -> web.Response:
    await body_of(request)
    page = page_of(request)
    key = request.match_info["key"]
    await _group(request)
    await asyncio.to_thread(mark_handled, page.data_dir, key, user.username, page.clock().isoformat())
    return json_reply({"handled": key})
