"""The rules of a data-subject case, apart from HTTP and HTML.

A case is numbered in its receipt year (`DSR-2026-00001`) and is due one month after receipt
(`deadline.py`); it moves received → identity verified → in progress → answered, and may be
refused from any open status (with a reason); its deadline may be extended once, by two months,
when the requester was told so within the first month. Every change returns the audit entry
that records who did what and when. Dates are Europe/Stockholm local dates.
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

STATUSES = ("received", "identity_verified", "in_progress", "answered", "refused")
FINAL_STATUSES = ("answered", "refused")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("identity_verified", "refused"),
    "identity_verified": ("in_progress", "refused"),
    "in_progress": ("answered", "refused"),
    "answered": (),
    "refused": (),
}


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


def is_overdue(case: dict, today: date) -> bool:
    """Tell whether an open case has passed its due date."""
    return case["status"] not in FINAL_STATUSES and date.fromisoformat(case["due_date"]) < today


def by_due_date(cases: list[dict]) -> list[dict]:
    """Return the cases in the order staff work them: due first, then received first."""
    return sorted(cases, key=lambda c: (c["due_date"], c["received_at"]))


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


def new_case(fields: dict, existing: dict, now: datetime) -> tuple[dict, dict, dict]:
    """Number a new case in its receipt year (after the `existing` cases, by id) and compute its
    deadline; return the case, the answer for the bot and the audit entry."""
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
    response = {"reference": reference, "received_at": at, "due_date": due, "status": "received"}
    audit = {"reference": reference, "at": at, "by": "api", "action": "created",
             "channel": fields["channel"]}
    return case, response, audit


def _check_reason(reason: str, required_key: str | None) -> None:
    if required_key and not reason:
        raise Refused(required_key)
    if len(reason) > MAX_REASON:
        raise Refused("err_reason_too_long")


def change_status(case: dict, new: str, reason: str, by: str, at: str) -> dict:
    """Move `case` to status `new` (a refusal needs a reason); return the audit entry."""
    old = case["status"]
    if old in FINAL_STATUSES:
        raise Refused("case_closed")
    if new not in TRANSITIONS.get(old, ()):
        raise Refused("err_bad_transition", **{"from": old, "to": new})
    _check_reason(reason, "err_reason_required" if new == "refused" else None)
    case["status"] = new
    case.setdefault("history", []).append(
        {"status": new, "at": at, "by": by, "reason": reason or None})
    return {"reference": case["reference"], "at": at, "by": by,
            "action": "status", "from": old, "to": new, "reason": reason or None}


def extend(case: dict, reason: str, told_on_text: str, today: date, by: str, at: str) -> dict:
    """Extend `case`'s deadline by two months, once, recording the reason and the day the
    requester was told (within the first month, and not in the future); return the audit entry."""
    if case["status"] in FINAL_STATUSES:
        raise Refused("case_closed")
    if case.get("extension"):
        raise Refused("err_already_extended")
    _check_reason(reason, "err_extend_reason")
    try:
        told_on = date.fromisoformat(told_on_text)
    except ValueError:
        raise Refused("err_told_on_format") from None
    received = date.fromisoformat(case["received_date"])
    first_month_end = date.fromisoformat(case["original_due_date"])
    if not received <= told_on <= min(first_month_end, today):
        raise Refused("err_told_on_range", received=received.isoformat(),
                      due_date=first_month_end.isoformat())
    new_due = extended_due_date(received).isoformat()
    case["extension"] = {"reason": reason, "told_on": told_on.isoformat(), "at": at,
                         "by": by, "previous_due_date": case["due_date"]}
    case["due_date"] = new_due
    return {"reference": case["reference"], "at": at, "by": by, "action": "extended",
            "due_date": new_due, "told_on": told_on.isoformat(), "reason": reason}
