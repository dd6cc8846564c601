"""The entries API: list, read, save (to the draft, checked first), add and remove FAQ entries."""
from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path

from aiohttp import web

from bot.staff_page import yamlfiles
from bot.staff_page.accounts import StaffUser
from bot.staff_page.checking import Focus, Result
from bot.staff_page.drafts import change_draft, move_entry
from bot.staff_page.page import Invalid, StaffError, StaffPage, api, body_of, json_reply, lang_of, page_of

routes = web.RouteTableDef()

FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}\.yaml$")
MAX_QUERY = 200


def _overdue(entry: dict, today: date) -> bool:
    try:
        return date.fromisoformat(str(entry.get("review_by"))) < today
    except ValueError:
        return False


def _title(entry: dict) -> dict:
    phrasings = entry.get("phrasings") if isinstance(entry.get("phrasings"), dict) else {}
    return {lang: (phrasings.get(lang) or [""])[0] if isinstance(phrasings.get(lang), list) else ""
            for lang in ("sv", "en")}


def _matches(entry: dict, query: dict, today: date) -> bool:
    q = (query.get("q") or "")[:MAX_QUERY].casefold().strip()
    if q and q not in " ".join(search_texts(entry)).casefold():
        return False
    for key in ("topic", "owner"):
        if query.get(key) and str(entry.get(key) or "") != query[key]:
            return False
    return not (query.get("overdue") in ("1", "true") and not _overdue(entry, today))


def search_texts(entry: dict) -> list[str]:
    """Every text of an entry, for the search box."""
    out = [str(entry.get("id", ""))]
    for value in (entry.get("phrasings") or {}).values():
        out += [str(v) for v in value] if isinstance(value, list) else []
    out += [str(v) for v in (entry.get("answer") or {}).values()] if isinstance(entry.get("answer"), dict) else []
    return out


def drafted(page: StaffPage) -> set[str]:
    """The ids the draft changes (new, changed or removed)."""
    return {c["id"] for c in page.draft.changes() if "id" in c} if page.draft.exists() else set()


@routes.get("/api/entries")
@api
async def list_entries(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    today = page.clock().date()
    entries = await asyncio.to_thread(yamlfiles.read_entries, page.draft.folder())
    changed = await asyncio.to_thread(drafted, page)
    shown = [{"id": i, "file": f, "topic": e.get("topic"), "owner": e.get("owner"), "review_by": e.get("review_by"),
              "overdue": _overdue(e, today), "title": _title(e), "draft": i in changed}
             for i, (f, e) in entries.items() if _matches(e, request.query, today)]
    return json_reply({"entries": shown})


async def found_entry(page: StaffPage, entry_id: str) -> tuple[str, dict]:
    entries = await asyncio.to_thread(yamlfiles.read_entries, page.draft.folder())
    if entry_id not in entries:
        raise StaffError("no_entry", 404, id=entry_id[:80])
    return entries[entry_id]


@routes.get("/api/entries/{id}")
@api
async def get_entry(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    entry_id = request.match_info["id"]
    file, entry = await found_entry(page, entry_id)
    changed = await asyncio.to_thread(drafted, page)
    return json_reply({"entry": {**entry, "file": file}, "draft": entry_id in changed})


def clean_entry(raw) -> dict:
    """The entry of a request body as it will be written: no page-only keys, no empty ones."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
        raise StaffError("entry_shape")
    return {str(k): v for k, v in raw.items() if k not in ("file", "draft") and v is not None}


def file_name(value) -> str:
    if not isinstance(value, str) or not FILE_NAME.match(value):
        raise StaffError("bad_file")
    return value


def put_change(entry_id: str | None, entry: dict | None, file: str | None):
    """The change that puts `entry` into `file` (removing `entry_id` where it was)."""
    def change(folder: Path) -> Focus | None:
        if entry_id and (entry is None or entry_id != entry["id"]):
            move_entry(folder, entry_id, None)
        if entry is None:
            return None
        move_entry(folder, entry["id"], (file, entry))
        doc = yamlfiles.load(folder / "faq" / file)
        return Focus(f"faq/{file}", yamlfiles.entries_of(doc)[yamlfiles.find_entry(doc, entry["id"])])
    return change


async def save(request: web.Request, user: StaffUser, change, ids: tuple[str, ...], hours: bool = False) -> Result:
    """Try a change on the draft (checked as `knowledge check`); raise 422 with the problems."""
    page = page_of(request)
    async with page.lock:
        result = await asyncio.to_thread(change_draft, page.draft, user.username, lang_of(request), change,
                                         ids, hours)
    if not result.ok:
        raise Invalid(result)
    return result


@routes.put("/api/entries/{id}")
@api
async def put_entry(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    entry_id = request.match_info["id"]
    body = await body_of(request)
    file, _ = await found_entry(page, entry_id)
    entry = clean_entry(body.get("entry"))
    file = file_name(body.get("file") or (body.get("entry") or {}).get("file") or file)
    if entry["id"] != entry_id and entry["id"] in await asyncio.to_thread(yamlfiles.read_entries, page.draft.folder()):
        raise StaffError("id_taken", 409, id=entry["id"][:80])
    result = await save(request, user, put_change(entry_id, entry, file), (entry_id, entry["id"]))
    return json_reply({"entry": {**entry, "file": file}, "draft": True, "warnings": result.warnings})


@routes.post("/api/entries")
@api
async def post_entry(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    body = await body_of(request)
    entry = clean_entry(body.get("entry"))
    file = file_name(body.get("file") or (body.get("entry") or {}).get("file"))
    if entry["id"] in await asyncio.to_thread(yamlfiles.read_entries, page.draft.folder()):
        raise StaffError("id_taken", 409, id=entry["id"][:80])
    result = await save(request, user, put_change(None, entry, file), (entry["id"],))
    return json_reply({"entry": {**entry, "file": file}, "draft": True, "warnings": result.warnings},
                             status=201)


@routes.delete("/api/entries/{id}")
@api
async def delete_entry(request: web.Request, user: StaffUser) -> web.Response:
    entry_id = request.match_info["id"]
    await found_entry(page_of(request), entry_id)
    await save(request, user, put_change(entry_id, None, None), (entry_id,))
    return json_reply({"removed": entry_id, "draft": True})
