"""The case list a data-protection officer works from: which cases a filter shows, in what order,
and how many days each has left.

Filters: `open` (the default: every case still being handled), `overdue`, `week` (open, not
waiting, due from today to this week's Sunday), `mine` (open and assigned to the signed-in
staff member), `closed` (answered, partly granted, refused or withdrawn) and `all`. Open cases
come first by due date (waiting ones after them: their clock is stopped), closed ones after,
the most recently closed first, so an answered case is never listed above an overdue one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .cases import WAITING, closed_at, effective_due, is_open, is_overdue, local_day

FILTERS = ("open", "overdue", "week", "mine", "closed", "all")
DEFAULT_FILTER = "open"
LATE_MATTERS = ("answered", "partly_granted", "refused")  # a withdrawal is never "late"


def _week_end(today: date) -> date:
    return today + timedelta(days=6 - today.weekday())


def matches(case: dict, name: str, today: date, me: str) -> bool:
    """Tell whether `case` belongs in the list filter `name`."""
    if name == "all":
        return True
    if name == "closed":
        return not is_open(case)
    if not is_open(case):
        return False
    if name == "overdue":
        return is_overdue(case, today)
    if name == "week":
        return case["status"] != WAITING and today <= effective_due(case, today) <= _week_end(today)
    if name == "mine":
        return case.get("assignee") == me
    return True  # open


def select(cases: list[dict], name: str, today: date, me: str) -> list[dict]:
    """Return the cases of filter `name` in the order staff work them."""
    chosen = [c for c in cases if matches(c, name, today, me)]
    open_ = sorted((c for c in chosen if is_open(c)),
                   key=lambda c: (c["status"] == WAITING, effective_due(c, today), c["received_at"]))
    closed = sorted((c for c in chosen if not is_open(c)),
                    key=lambda c: datetime.fromisoformat(closed_at(c) or c["received_at"]),
                    reverse=True)
    return open_ + closed


def counts(cases: list[dict], today: date, me: str) -> dict[str, int]:
    """Return how many cases each filter shows."""
    return {name: sum(matches(c, name, today, me) for c in cases) for name in FILTERS}


@dataclass(frozen=True)
class DaysLeft:
    """What the days-left column says: `kind` names the text, `days` fills it in."""

    kind: str  # left, today, late, waiting, on_time, answered_late, closed
    days: int = 0


def days_left(case: dict, today: date) -> DaysLeft:
    """Say how the case stands against its deadline (closed ones: whether they were in time)."""
    if not is_open(case):
        if case["status"] not in LATE_MATTERS:
            return DaysLeft("closed")
        closed = closed_at(case)
        late = (local_day(closed) - date.fromisoformat(case["due_date"])).days if closed else 0
        return DaysLeft("answered_late", late) if late > 0 else DaysLeft("on_time")
    if case["status"] == WAITING and not is_overdue(case, today):
        return DaysLeft("waiting")
    left = (effective_due(case, today) - today).days
    if left < 0:
        return DaysLeft("late", -left)
    return DaysLeft("today") if left == 0 else DaysLeft("left", left)
