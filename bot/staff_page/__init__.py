"""The knowledge page for staff who do not program (`/staff/`, issue 16).

A browser editor on the knowledge files, which stay the single truth: entries and hours are
saved to a draft copy (checked exactly as `knowledge check`), tried in a test chat at any moment,
published by a publisher into the live files (ruamel.yaml keeps comments and order) with a git
history and rollback, and the running server serves them at once. Modules:

- `accounts`: the page's own logins (editor, publisher) and sessions;
- `page`: what the routes share (the `StaffPage`, language, errors, login and CSRF guard);
- `yamlfiles`: round-trip YAML editing; `checking`: the check and problems mapped to fields;
- `drafts`: the draft folder; `entries`, `hours`: their APIs; `preview`: the test chat;
- `publish`: publish, history and restore (`history`: git); `gaps`: unanswered questions;
- `reviews`: overdue entries and the weekly reminder e-mails; `routes`: the sub-application.

`bot/app.py` mounts it with `mount`; static files (the page) are in `static/`.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.staff_page.accounts import Logins, StaffSessions
from bot.staff_page.drafts import Draft
from bot.staff_page.history import History
from bot.staff_page.page import StaffPage
from bot.staff_page.reviews import reminder_loop
from bot.staff_page.routes import create_app


def mount(app: web.Application, runtime, reloader, mailer, claims=None) -> StaffPage:
    """Mount /staff/ on `app` with the live holder and its reloader; run the weekly reminders
    (`claims`: shared once-only claims when several processes run them, see reviews.py)."""
    config = runtime.config
    logins = Logins(config.data_dir)
    page = StaffPage(
        live=config.knowledge_dir.resolve(), data_dir=config.data_dir.resolve(), holder=runtime.holder,
        reload=reloader.reload_now, clock=runtime.clock, logins=logins,
        sessions=StaffSessions(logins, config.session_hours * 3600),
        draft=Draft(config.knowledge_dir.resolve(), config.data_dir),
        history=History(config.knowledge_dir, config.data_dir),
        clients=runtime.clients, secure=config.base_url.startswith("https://"), mailer=mailer,
        origin=config.base_url, conversations=runtime.store, guard=runtime.login_guards("staff"))
    staff = create_app(page)

    async def reminders(_app: web.Application):
        task = asyncio.get_running_loop().create_task(
            reminder_loop(runtime.holder, mailer, config.data_dir, runtime.clock, claims=claims))
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    staff.cleanup_ctx.append(reminders)
    app.add_subapp("/staff/", staff)
    return page
