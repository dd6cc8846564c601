"""Statutory deadlines for data-subject requests (GDPR Art. 12(3)).

A request is answered at the latest one month after receipt, extendable by two further months.
Periods are counted as Regulation 1182/71 and Swedish lag (1930:173) say: the period ends on the
same date in the target month, or on that month's last day when the date does not exist; a
deadline on a Saturday, Sunday, public holiday, midsommarafton, julafton or nyårsafton moves to the
next working day. The received date is the Europe/Stockholm local date of receipt.

Days the case waited for the requester (an identity check, docs/DSR.md) do not count: they are
added to the period before the move off a non-working day.
"""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

__all__ = ["due_date", "extended_due_date", "add_months", "is_non_working_day"]


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    """Return Sweden's public and de-facto holidays of `year`, cached because they never change.

    Categories and language are passed explicitly: PUBLIC alone lacks midsommarafton, julafton
    and nyårsafton, and since holidays 0.107 Sundays are not listed at all (checked separately).
    """
    calendar_ = holidays.Sweden(
        years=year, categories=(holidays.PUBLIC, holidays.DE_FACTO), language="sv"
    )
    return frozenset(calendar_.keys())


def is_non_working_day(day: date) -> bool:
    """Tell whether a deadline falling on `day` must move to the next day."""
    return day.weekday() >= 5 or day in _holidays_of(day.year)


def add_months(start: date, months: int) -> date:
    """Return the same date `months` later, or that month's last day when the date is missing."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last))


def _next_working_day(day: date) -> date:
    """Move `day` forward until it is a working day (itself when it already is)."""
    while is_non_working_day(day):
        day += timedelta(days=1)
    return day


def due_date(received: date, paused_days: int = 0) -> date:
    """Return the last day to answer a request received on `received` (one month), the clock
    stopped for `paused_days` days."""
    return _next_working_day(add_months(received, 1) + timedelta(days=paused_days))


def extended_due_date(received: date, paused_days: int = 0) -> date:
    """Return the last day after the two-month extension (three months from receipt), the
    clock stopped for `paused_days` days."""
    return _next_working_day(add_months(received, 3) + timedelta(days=paused_days))
