"""Publishing the draft, the history of versions and restoring an old version of an entry.

Publishing tries the draft's touched entries (and hours) on a copy of the live folder, checks it
as `knowledge check` does, writes only the changed files into the live folder (ruamel.yaml,
comments and order kept), commits them to the history with the staff login as author, and has
the running server load them at once (the file watcher would within seconds anyway).
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from bot.knowledge_messages import catalog
from bot.staff_page.accounts import StaffUser
from bot.staff_page.checking import check_folder
from bot.staff_page.drafts import Touched, apply_changes, move_entry
from bot.staff_page.history import History, word_diff
from bot.staff_page.page import Invalid, StaffError, StaffPage, api, body_of, json_reply, lang_of, page_of
from common.atomic import write_atomic

routes = web.RouteTableDef()

log = logging.getLogger("halmstad.staff_page")
MAX_NOTE = 500


def _write_live(page: StaffPage, changes, username: str, note: str, ids: list[str], lang: str):
    """Apply `changes(folder) -> files` to a checked copy of the live folder, then to the live
    folder itself, and commit. Returns (commit, files) or raises Invalid. Blocking."""
    with tempfile.TemporaryDirectory(dir=page.data_dir, prefix=".staff-publish-") as tmp:
        candidate = Path(tmp) / page.live.name
        shutil.copytree(page.live, candidate, ignore=shutil.ignore_patterns(".git"))
        files = changes(candidate)
        result = check_folder(candidate, lang)
        if not result.ok:
            raise Invalid(result)
        page.history.commit_direct_edits(catalog(page.live).text("staff.page.commit_direct", "sv"))
        for name in files:
            write_atomic(page.live / name, (candidate / name).read_bytes())
        return page.history.commit(files, username, note, ids), files


def _summary(page: StaffPage, changes: list[dict], note: str) -> str:
    if note:
        return note
    cat = catalog(page.live)
    parts = [cat.text(f"staff.page.commit_{c['what']}", "sv", name=c.get("id") or c.get("file")) for c in changes]
    return "; ".join(parts) or cat.text("staff.page.commit_nothing", "sv")


def _note(body: dict) -> str:
    note = body.get("message") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise StaffError("bad_note")
    return " ".join(note.split())


async def _publish_locked(page: StaffPage, user: StaffUser, note: str, lang: str) -> dict:
    if not page.draft.exists():
        raise StaffError("no_draft", 409)
    touched: Touched = page.draft.touched()
    changes = await asyncio.to_thread(page.draft.changes)
    ids = [c["id"] for c in changes if "id" in c]
    summary = _summary(page, changes, note)
    commit, files = await asyncio.to_thread(
        _write_live, page, lambda folder: apply_changes(page.draft.root, folder, touched), user.username,
        summary, ids, lang)
    await asyncio.to_thread(page.draft.discard)
    log.info("staff page published files=%d", len(files))
    return {"commit": commit, "changed": changes, "reloaded": await page.reload()}


async def publisher_call(request: web.Request, user: StaffUser) -> tuple[StaffPage, dict]:
    """The page and the body of a call that publishes: 403 unless `user` may publish."""
    page = page_of(request)
    if not page.may_publish(user):
        raise StaffError("publisher_only", 403)
    return page, await body_of(request)


@routes.post("/api/publish")
@api
async def post_publish(request: web.Request, user: StaffUser) -> web.Response:
    page, body = await publisher_call(request, user)
    note = _note(body)
    async with page.lock:
        return json_reply(await _publish_locked(page, user, note, lang_of(request)))


# Drafts ----------------------------------------------------------------------------------------


@routes.get("/api/draft")
@api
async def get_draft(request: web.Request, user: StaffUser) -> web.Response:
    draft = page_of(request).draft
    if not draft.exists():
        return json_reply({"changed": [], "by": []})
    changes = await asyncio.to_thread(draft.changes)
    return json_reply({"changed": changes, "by": draft.touched().by})


@routes.delete("/api/draft")
@api
async def delete_draft(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    async with page.lock:
        await asyncio.to_thread(page.draft.discard)
    return json_reply({"changed": [], "by": []})


# History ---------------------------------------------------------------------------------------


def _entry_param(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 100:
        raise StaffError("no_entry", 404, id=str(value)[:80])
    return value


@routes.get("/api/history")
@api
async def get_history(request: web.Request, user: StaffUser) -> web.Response:
    history: History = page_of(request).history
    entry = _entry_param(request.query.get("entry"))
    versions = await asyncio.to_thread(history.versions, entry)
    return json_reply({"versions": versions})


def _version(history: History, commit: str, entry: str) -> dict:
    """An entry as it was in a version, and what that version changed in it, in words."""
    sha = history.resolve(commit)
    if sha is None:
        raise StaffError("no_version", 404)
    found = history.entries_at(sha).get(entry)
    parent = history.parent_of(sha)
    before = history.entries_at(parent).get(entry) if parent else None
    return {"commit": sha, "file": found[0] if found else None, "entry": found[1] if found else None,
            "diff": word_diff(before[1] if before else None, found[1] if found else None)}


@routes.get("/api/history/{commit}")
@api
async def get_version(request: web.Request, user: StaffUser) -> web.Response:
    entry = _entry_param(request.query.get("entry"))
    if entry is None:
        raise StaffError("no_entry", 404, id="")
    shown = await asyncio.to_thread(_version, page_of(request).history, request.match_info["commit"], entry)
    if shown["entry"] is None and not shown["diff"]:
        raise StaffError("no_entry", 404, id=entry[:80])
    return json_reply({"entry": shown["entry"], "file": shown["file"], "diff": shown["diff"]})


@routes.post("/api/history/{commit}/restore")
@api
async def post_restore(request: web.Request, user: StaffUser) -> web.Response:
    page, body = await publisher_call(request, user)
    entry = _entry_param(body.get("entry"))
    if entry is None:
        raise StaffError("no_entry", 404, id="")
    async with page.lock:
        shown = await asyncio.to_thread(_version, page.history, request.match_info["commit"], entry)
        if shown["entry"] is None:
            raise StaffError("no_entry", 404, id=entry[:80])
        note = catalog(page.live).text("staff.page.commit_restored", "sv", name=entry, commit=shown["commit"][:7])
        wanted = (shown["file"], shown["entry"])
        commit, _ = await asyncio.to_thread(
            _write_live, page, lambda folder: sorted(move_entry(folder, entry, wanted)), user.username, note,
            [entry], lang_of(request))
        reloaded = await page.reload()
    return json_reply({"commit": commit, "reloaded": reloaded})
