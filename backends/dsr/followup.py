"""Follow-through on cases, a job that runs with the app while it has a mailer.

- The receipt: a case filed with an e-mail address is marked `receipt: pending` when it is
  created (`api.py`), and the job mails the requester its reference, due date and how identity
  is checked (texts in `knowledge/texts/dsr_letter.yaml`, the requester's language). A failed
  send is tried again each round, five times at most; then the case says the receipt failed, so
  the officer contacts the requester another way. The mark is in the case file, so a restart
  loses no receipt (a crash between sending and recording may send one twice).
- The reminder: once a day, from `reminder_hour` o'clock Stockholm time, one e-mail to the
  data-protection officer's mailbox (`reminder_to`) lists the overdue cases and those due within
  five days (references, rights, dates and assignees only: no requester's name). The day it
  last ran is recorded, so a restart never sends it twice; a failed send is tried next round.

`run_once` is one round, for tests with an injected clock; `follow_through` is the app's
cleanup context that runs rounds every `job_interval` seconds, or at once when woken.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from datetime import date, datetime
from email.message import EmailMessage

from aiohttp import web

from .cases import WAITING, effective_due, is_open, is_overdue, local_now
from .config import CONFIG_KEY, STORE_KEY, DsrConfig
from .listing import days_text
from .pages import Texts
from .store import DsrStore
from .textkeys import LETTER_PREFIX

log = logging.getLogger(__name__)

RECEIPT_ATTEMPTS = 5
SOON_DAYS = 5
REMINDER_JOB = "reminder"
WAKE_KEY = web.AppKey("dsr_follow_through_wake", asyncio.Event)


def receipt_message(texts: dict, case: dict) -> EmailMessage:
    """Return the receipt e-mail for a newly filed case, in the requester's language."""
    t = Texts(texts, case["language"])
    lt = t.other(prefix=LETTER_PREFIX)
    msg = EmailMessage()
    msg["To"] = case["requester"]["email"]
    msg["Subject"] = lt.plain("receipt.subject", reference=case["reference"])
    msg.set_content("\n\n".join([
        lt.plain("receipt.body", name=case["requester"].get("name") or "",
                 reference=case["reference"], right=t.plain("right." + case["right"]),
                 received=case["received_date"], due_date=case["due_date"]),
        lt.plain("receipt.identity"), lt.plain("receipt.footer")]))
    return msg


async def _send_receipt(store: DsrStore, config: DsrConfig, case: dict, at: str) -> None:
    """Mail one pending receipt and record the outcome on the case (audited when final)."""
    try:
        await config.mailer.send(receipt_message(config.texts, case))
        sent, error = True, None
    except Exception as exc:  # noqa: BLE001 - any transport fault: try again next round
        sent, error = False, type(exc).__name__
        log.warning("dsr receipt not sent reference=%s error=%s", case["reference"], error)

    def record(stored: dict) -> dict | None:
        receipt = stored.setdefault("receipt", {"status": "pending", "attempts": 0})
        receipt["attempts"] = receipt.get("attempts", 0) + 1
        if sent or receipt["attempts"] >= RECEIPT_ATTEMPTS:
            receipt.update(status="sent" if sent else "failed", at=at)
            return {"reference": stored["reference"], "at": at, "by": "api",
                    "action": "receipt_sent" if sent else "receipt_failed", "reason": None}
        return None

    await store.update_case(case["reference"], record)


def due_soon(cases: list[dict], today: date) -> tuple[list[dict], list[dict]]:
    """Return (overdue cases, open cases due within SOON_DAYS days), each by due date."""
    overdue = [c for c in cases if is_overdue(c, today)]
    soon = [c for c in cases if is_open(c) and c["status"] != WAITING and not is_overdue(c, today)
            and (effective_due(c, today) - today).days <= SOON_DAYS]

    def order(case: dict) -> tuple:
        return effective_due(case, today), case["reference"]

    return sorted(overdue, key=order), sorted(soon, key=order)


def reminder_message(config: DsrConfig, overdue: list[dict], soon: list[dict],
                     today: date) -> EmailMessage:
    """Return the reminder to the officer's mailbox, in `config.reminder_lang`."""
    t = Texts(config.texts, config.reminder_lang)
    base = config.public_url.rstrip("/")

    def lines(heading: str, listed: list[dict]) -> list[str]:
        out = [t.plain(heading)] if listed else []
        for case in listed:
            out.append(t.plain("reminder.line", reference=case["reference"],
                               right=t.plain("right." + case["right"]),
                               due_date=effective_due(case, today).isoformat(),
                               days=html.unescape(days_text(t, case, today)),
                               assignee=case.get("assignee") or t.plain("unassigned")))
            if base:
                out.append("  " + t.plain("reminder.link", url=f"{base}/cases/{case['reference']}"))
        return out

    msg = EmailMessage()
    msg["To"] = config.reminder_to
    msg["Subject"] = t.plain("reminder.subject", count=len(overdue) + len(soon))
    msg.set_content("\n".join([t.plain("reminder.intro"), ""] + lines("reminder.overdue", overdue)
                              + [""] + lines("reminder.soon", soon) + ["", t.plain("reminder.footer")]))
    return msg


async def _remind(store: DsrStore, config: DsrConfig, now: datetime) -> None:
    """Send the day's reminder once, from the reminder hour on."""
    today = now.date()
    if not config.reminder_to or now.hour < config.reminder_hour:
        return
    if (await store.job_state(REMINDER_JOB)).get("last") == today.isoformat():
        return
    overdue, soon = due_soon(await store.cases(), today)
    if overdue or soon:
        await config.mailer.send(reminder_message(config, overdue, soon, today))
    log.info("dsr reminder round overdue=%d soon=%d", len(overdue), len(soon))
    await store.set_job_state(REMINDER_JOB, {"last": today.isoformat(), "at": now.isoformat(),
                                             "overdue": len(overdue), "soon": len(soon)})


async def run_once(store: DsrStore, config: DsrConfig) -> None:
    """One round: send the pending receipts, then the day's reminder when it is due."""
    if config.mailer is None:
        return
    now = local_now(config.clock)
    at = now.isoformat(timespec="seconds")
    for case in await store.cases():
        if (case.get("receipt") or {}).get("status") == "pending" and case["requester"].get("email"):
            await _send_receipt(store, config, case, at)
    await _remind(store, config, now)


async def _rounds(app: web.Application) -> None:
    config, store, wake = app[CONFIG_KEY], app[STORE_KEY], app[WAKE_KEY]
    while True:
        wake.clear()
        try:
            await run_once(store, config)
        except Exception as exc:  # noqa: BLE001 - the job must outlive one bad round
            log.error("dsr follow-through round failed type=%s", type(exc).__name__)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), config.job_interval)


async def follow_through(app: web.Application):
    """Run the follow-through rounds while the app runs (when it has a mailer)."""
    task = asyncio.create_task(_rounds(app)) if app[CONFIG_KEY].mailer is not None else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
