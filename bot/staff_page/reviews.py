"""Review reminders: the entries past their `review_by` date, on the page and in a weekly e-mail
to each owner.

Owners' addresses are in knowledge/settings.yaml (`staff_page: {owners: {name: email}}`). The
mail goes through the same Mailer as every other (SMTP or the Maildir outbox), once per owner per
ISO week (DATA_DIR/staff_reminders.json remembers the week), from Monday 08:00 Stockholm time:
`serve` runs `reminder_loop`, and `halmstad-bot knowledge remind` sends them at once.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

from aiohttp import web

from backends.mail import add_mail_options, mailer_from
from bot.clock import STOCKHOLM, make_clock
from bot.holder import load_checked
from bot.knowledge import Knowledge, KnowledgeError, default_knowledge_dir
from bot.knowledge_messages import catalog
from bot.staff_page.accounts import StaffUser
from bot.staff_page.page import api, json_reply, page_of
from bot.staff_page.store import read_dict, update_dict
from flows.registry import all_flows

routes = web.RouteTableDef()

log = logging.getLogger("halmstad.staff_page")
SENT_FILE = "staff_reminders.json"
SEND_AT = time(8, 0)  # Monday, Stockholm time
POLL_SECONDS = 600


def overdue(knowledge: Knowledge, today: date) -> list[dict]:
    """Every entry past its review date, oldest first."""
    found = [{"id": e.id, "owner": e.owner, "review_by": e.review_by.isoformat(), "file": Path(e.path).name}
             for e in knowledge.entries.values() if e.review_by is not None and e.review_by < today]
    return sorted(found, key=lambda e: (e["review_by"], e["id"]))


def owners(knowledge: Knowledge) -> dict[str, str]:
    """The owners' e-mail addresses from settings.yaml's `staff_page: {owners: ...}`."""
    given = (knowledge.settings.get("staff_page") or {}).get("owners") or {}
    return {str(name): str(mail) for name, mail in given.items() if isinstance(mail, str) and "@" in mail} \
        if isinstance(given, dict) else {}


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def due(now: datetime) -> bool:
    """Whether this week's reminders may go out: from Monday 08:00 Stockholm time."""
    local = now.astimezone(STOCKHOLM)
    monday = local.date() - timedelta(days=local.weekday())
    return local >= datetime.combine(monday, SEND_AT, STOCKHOLM)


def _sent(data_dir: Path) -> dict[str, str]:
    return read_dict(Path(data_dir) / SENT_FILE)


def _remember(data_dir: Path, owner: str, week: str) -> None:
    update_dict(Path(data_dir) / SENT_FILE, lambda sent: sent.__setitem__(owner, week))


def reminder(knowledge: Knowledge, owner: str, address: str, entries: list[dict]) -> EmailMessage:
    """The e-mail to one owner (Swedish first, then English)."""
    cat = catalog(knowledge.root)
    msg = EmailMessage()
    msg["To"] = address
    msg["Subject"] = cat.text("staff.page.remind_subject", "sv", count=len(entries))
    parts = []
    for lang in ("sv", "en"):
        lines = [cat.text("staff.page.remind_intro", lang, owner=owner, count=len(entries)), ""]
        lines += [cat.text("staff.page.remind_line", lang, **e) for e in entries]
        lines += ["", cat.text("staff.page.remind_outro", lang)]
        parts.append("\n".join(lines))
    msg.set_content("\n\n— — —\n\n".join(parts))
    return msg


async def send_reminders(knowledge: Knowledge, mailer, data_dir: Path, now: datetime, claims=None) -> int:
    """Mail each owner with overdue entries who has not had this week's mail; return how many.

    `claims` (`first(name)`, bot/handoff/service.py's Claims): with several serve processes on one
    Redis, each runs this loop with its own data dir, so the first to claim an owner's week sends
    and the others skip it (a mail that then fails to send is not retried that week)."""
    week, sent, count = week_of(now.astimezone(STOCKHOLM)), _sent(data_dir), 0
    by_owner: dict[str, list[dict]] = {}
    for entry in overdue(knowledge, now.astimezone(STOCKHOLM).date()):
        by_owner.setdefault(entry["owner"], []).append(entry)
    addresses = owners(knowledge)
    for owner, entries in sorted(by_owner.items()):
        if owner not in addresses:
            log.info("review reminder skipped: an owner has no address in settings.yaml")
            continue
        if sent.get(owner) == week:
            continue
        digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]
        if claims is not None and not await claims.first(f"review-reminder:{week}:{digest}"):
            await asyncio.to_thread(_remember, data_dir, owner, week)  # another process sent it
            continue
        await mailer.send(reminder(knowledge, owner, addresses[owner], entries))
        await asyncio.to_thread(_remember, data_dir, owner, week)
        count += 1
    log.info("review reminders sent=%d", count)
    return count


async def reminder_loop(holder, mailer, data_dir: Path, clock, interval: float = POLL_SECONDS,
                        claims=None) -> None:
    """Send the week's reminders from Monday 08:00 on (checked every `interval` seconds)."""
    while True:
        try:
            if due(clock()):
                await send_reminders(holder.knowledge, mailer, data_dir, clock(), claims)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("review reminders failed")
        await asyncio.sleep(interval)


@routes.get("/api/reviews")
@api
async def get_reviews(request: web.Request, user: StaffUser) -> web.Response:
    page = page_of(request)
    today = page.clock().astimezone(STOCKHOLM).date()
    return json_reply({"overdue": overdue(page.holder.knowledge, today)})



# `halmstad-bot knowledge remind` -----------------------------------------------------------------


def add_command(knowledge_subparsers) -> None:
    """Add `knowledge remind` (send this week's review reminders now) to the CLI."""
    remind = knowledge_subparsers.add_parser("remind", help="e-mail each owner their entries past review_by now")
    remind.add_argument("--data-dir", type=Path, default=Path("./var"), help="the server's --data-dir")
    remind.add_argument("--dir", type=Path, default=default_knowledge_dir())
    remind.add_argument("--now", help="the Stockholm time to count from, e.g. 2026-12-07T08:00")
    remind.add_argument("--lang", choices=("sv", "en"), default="sv", help="language of the report")
    add_mail_options(remind)


def cmd_remind(args) -> int:
    """Send the reminders not yet sent this week; print how many went out."""
    try:
        now = make_clock(args.now)()
        knowledge = load_checked(args.dir, all_flows())[0]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    mailer = mailer_from(args, Path(args.data_dir) / "outbox")
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    sent = asyncio.run(send_reminders(knowledge, mailer, args.data_dir, now))
    print(catalog(args.dir).text("staff.page.remind_done", args.lang, count=sent))
    return 0
