"""The rules of a data-subject case, apart from HTTP and HTML.

A case is numbered in its receipt year (`DSR-2026-00001`) and is due one month after receipt
(`deadline.py`). It moves received → identity verified → in progress → answered or partly
granted; it may wait for the requester (an identity check: the clock stops, docs/DSR.md), be
refused (with a reason) or withdrawn from any open status, and a closed case may be corrected
(the history keeps what it said before). Its deadline may be extended once, by two months, when
the requester was told so within the first month and the case is not yet overdue. Notes,
assignments and the decision per part (`parts.py`) change no status. Every change returns the
audit entry that records who did what and when. Dates are Europe/Stockholm local dates.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Callable
from zoneinfo import ZoneInfo

from .deadline import due_date, extended_due_date

TZ = ZoneInfo("Europe/Stockholm")
MAX_REASON = 2000

STATUSES = ("received", "waiting_for_requester", "identity_verified", "in_progress",
            "answered", "partly_granted", "refused", "withdrawn")
FINAL_STATUSES = ("answered", "partly_granted", "refused", "withdrawn")
WAITING = "waiting_for_requester"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("identity_verified", WAITING, "refused", "withdrawn"),
    WAITING: ("identity_verified", "refused", "withdrawn"),
    "identity_verified": ("in_progress", "refused", "withdrawn"),
    "in_progress": ("answered", "partly_granted", "refused", "withdrawn"),
    **{final: () for final in FINAL_STATUSES},
}
# A closed case may be corrected to another closing status, or opened again for more work.
CORRECTIONS = FINAL_STATUSES + ("in_progress",)
# The statuses whose change needs a reason, and the page text that asks for it.
REASON_NEEDED = {"refused": "err_reason_required", "partly_granted": "err_reason_partly",
                 WAITING: "err_reason_waiting", "withdrawn": "err_reason_withdrawn"}


class Refused(ValueError):
    """A change the rules do not allow; `key` and `values` name the page text that says why
    (status values under "from" and "to" are status codes, for the page to name)."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__("change refused")
        self.key = key
        self.values = values


def local_now(clock: Callable[[], datetime]) -> datetime:
    """Return the clock's time in Europe/Stockholm."""
    return clock().astimezone(TZ)


def local_today(clock: Callable[[], datetime]) -> date:
    """Return today's Europe/Stockholm date by `clock`."""
    return local_now(clock).date()


def now_iso(clock: Callable[[], datetime]) -> str:
    """Return the current Europe/Stockholm time as ISO 8601 with offset."""
    return local_now(clock).isoformat(timespec="seconds")


def local_day(at: str) -> date:
    """Return the Stockholm date of a stored local ISO time."""
    return datetime.fromisoformat(at).astimezone(TZ).date()


def paused_days(case: dict, today: date) -> int:
    """Return the days the case waited for the requester (an open wait counts up to today)."""
    total = 0
    for wait in case.get("waits") or []:
        until = date.fromisoformat(wait["until"]) if wait.get("until") else today
        total += max(0, (until - date.fromisoformat(wait["from"])).days)
    return total


def _computed_due(case: dict, today: date) -> date:
    """Return the due date from receipt, extension and the days spent waiting."""
    received = date.fromisoformat(case["received_date"])
    pause = paused_days(case, today)
    return (extended_due_date(received, pause) if case.get("extension")
            else due_date(received, pause))


def effective_due(case: dict, today: date) -> date:
    """Return the case's due date as of `today`: while it waits, the date moves a day a day."""
    if case["status"] == WAITING:
        return _computed_due(case, today)
    return date.fromisoformat(case["due_date"])


def first_month_end(case: dict, today: date) -> date:
    """Return the last day to tell the requester of an extension (one month, the waits not
    counted)."""
    if not case.get("waits"):
        return date.fromisoformat(case["original_due_date"])
    return due_date(date.fromisoformat(case["received_date"]), paused_days(case, today))


def is_open(case: dict) -> bool:
    """Tell whether the case is still being handled."""
    return case["status"] not in FINAL_STATUSES


def is_overdue(case: dict, today: date) -> bool:
    """Tell whether an open case has passed its due date (a waiting one only when it was
    overdue already when the wait began)."""
    return is_open(case) and effective_due(case, today) < today


def by_due_date(cases: list[dict]) -> list[dict]:
    """Return the cases in the order staff work them: due first, then received first."""
    return sorted(cases, key=lambda c: (c["due_date"], c["received_at"]))


def closed_at(case: dict) -> str | None:
    """Return when the case was last closed (its last history entry into a closing status)."""
    for entry in reversed(case.get("history") or []):
        if entry.get("status") in FINAL_STATUSES:
            return entry.get("at")
    return None


def public_case(case: dict) -> dict:
    """Return what the bot may tell the requester about a case (no personal data)."""
    return {
        "reference": case["reference"],
        "status": case["status"],
        "received_at": case["received_at"],
        "due_date": case["due_date"],
        "extended": case.get("extension") is not None,
    }


def canonical_hash(fields: dict) -> str:
    """Hash a request canonically so the same request always gives the same digest."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_case(fields: dict, existing: dict, now: datetime, *, receipt: bool = False
             ) -> tuple[dict, dict, dict]:
    """Number a new case in its receipt year (after the `existing` cases, by id) and compute its
    deadline; return the case, the answer for the bot and the audit entry. `receipt`: an e-mail
    receipt is to be sent to the requester (the follow-through job sends it)."""
    received = now.date()
    seq = 1 + max((c["seq"] for c in existing.values() if c.get("year") == received.year),
                  default=0)
    reference = f"DSR-{received.year}-{seq:05d}"
    at = now.isoformat(timespec="seconds")
    due = due_date(received).isoformat()
    case = {
        "reference": reference, "year": received.year, "seq": seq,
        "received_at": at, "received_date": received.isoformat(),
        "due_date": due, "original_due_date": due, "extension": None,
        "status": "received",
        "history": [{"status": "received", "at": at, "by": "api", "reason": None}],
        **fields,
    }
    if receipt:
        case["receipt"] = {"status": "pending", "attempts": 0}
    response = {"reference": reference, "received_at": at, "due_date": due, "status": "received"}
    audit = {"reference": reference, "at": at, "by": "api", "action": "created",
             "channel": fields["channel"]}
    return case, response, audit


def check_reason(reason: str, required_key: str | None) -> None:
    """Refuse a missing reason (when `required_key` names the text asking for one) or one too long."""
    if required_key and not reason:
        raise Refused(required_key)
    if len(reason) > MAX_REASON:
        raise Refused("err_reason_too_long")


def _check_parts(case: dict, new: str) -> None:
    """Keep the closing status true to the decision per part: partly granted needs a granted
    and a refused part; answered (granted) has no refused part."""
    outcomes = {part["outcome"] for part in case.get("parts") or []}
    if new == "partly_granted" and outcomes != {"granted", "refused"}:
        raise Refused("err_partly_needs_parts")
    if new == "answered" and "refused" in outcomes:
        raise Refused("err_answered_has_refused")


def _end_wait(case: dict, today: date) -> None:
    """Close an open wait today and move the due date by the days it lasted."""
    for wait in case.get("waits") or []:
        if wait.get("until") is None:
            wait["until"] = today.isoformat()
    case["due_date"] = _computed_due(case, today).isoformat()


def change_status(case: dict, new: str, reason: str, by: str, at: str) -> dict:
    """Move `case` to status `new` (some need a reason, REASON_NEEDED); return the audit entry.
    Waiting for the requester stops the clock; leaving the wait moves the due date on."""
    old = case["status"]
    if old in FINAL_STATUSES:
        raise Refused("case_closed")
    if new not in TRANSITIONS.get(old, ()):
        raise Refused("err_bad_transition", **{"from": old, "to": new})
    check_reason(reason, REASON_NEEDED.get(new))
    _check_parts(case, new)
    today = local_day(at)
    if new == WAITING:
        case.setdefault("waits", []).append(
            {"from": today.isoformat(), "until": None, "at": at, "by": by, "reason": reason})
    elif old == WAITING:
        _end_wait(case, today)
    case["status"] = new
    case.setdefault("history", []).append(
        {"status": new, "at": at, "by": by, "reason": reason or None})
    entry = {"reference": case["reference"], "at": at, "by": by,
             "action": "status", "from": old, "to": new, "reason": reason or None}
    if old == WAITING:
        entry["due_date"] = case["due_date"]
    return entry


def correct(case: dict, new: str, reason: str, by: str, at: str) -> dict:
    """Correct a closed case to another closing status, or open it again (in progress); the
    history keeps the earlier entries and marks this one as a correction. Needs a reason."""
    old = case["status"]
    if old not in FINAL_STATUSES:
        raise Refused("err_not_closed")
    if new not in CORRECTIONS or new == old:
        raise Refused("err_bad_correction")
    check_reason(reason, "err_correction_reason")
    _check_parts(case, new)
    case["status"] = new
    case["history"].append({"status": new, "at": at, "by": by, "reason": reason,
                            "correction": True})
    return {"reference": case["reference"], "at": at, "by": by, "action": "corrected",
            "from": old, "to": new, "reason": reason}


def add_note(case: dict, text: str, by: str, at: str) -> dict:
    """Add a note to the case without changing its status; return the audit entry."""
    check_reason(text, "err_note_empty")
    case.setdefault("notes", []).append({"at": at, "by": by, "text": text})
    return {"reference": case["reference"], "at": at, "by": by, "action": "note", "reason": text}


def assign(case: dict, username: str | None, staff: list[str], by: str, at: str) -> dict:
    """Give an open case to a staff member (None: to nobody); return the audit entry."""
    if not is_open(case):
        raise Refused("case_closed")
    if username is not None and username not in staff:
        raise Refused("err_unknown_assignee")
    case["assignee"] = username
    return {"reference": case["reference"], "at": at, "by": by, "action": "assigned",
            "to": username}


def extend(case: dict, reason: str, told_on_text: str, today: date, by: str, at: str) -> dict:
    """Extend `case`'s deadline by two months, once, recording the reason and the day the
    requester was told (within the first month, and not in the future); return the audit entry.
    An overdue or waiting case cannot be extended."""
    if case["status"] in FINAL_STATUSES:
        raise Refused("case_closed")
    if case.get("extension"):
        raise Refused("err_already_extended")
    if case["status"] == WAITING:
        raise Refused("err_extend_waiting")
    if is_overdue(case, today):
        raise Refused("err_extend_overdue", due_date=case["due_date"])
    check_reason(reason, "err_extend_reason")
    try:
        told_on = date.fromisoformat(told_on_text)
    except ValueError:
        raise Refused("err_told_on_format") from None
    received = date.fromisoformat(case["received_date"])
    month_end = first_month_end(case, today)
    if not received <= told_on <= min(month_end, today):
        raise Refused("err_told_on_range", received=received.isoformat(),
                      due_date=month_end.isoformat())
    case["extension"] = {"reason": reason, "told_on": told_on.isoformat(), "at": at,
                         "by": by, "previous_due_date": case["due_date"]}
    new_due = _computed_due(case, today).isoformat()
    case["due_date"] = new_due
    return {"reference": case["reference"], "at": at, "by": by, "action": "extended",
            "due_date": new_due, "told_on": told_on.isoformat(), "reason": reason}
