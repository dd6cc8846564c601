"""Due dates of data-subject requests: one month (three when extended), off non-working days."""
from datetime import date

import pytest

from backends.dsr.deadline import add_months, due_date, extended_due_date, is_non_working_day


@pytest.mark.parametrize("received, expected", [
    # The acceptance examples.
    (date(2026, 1, 31), date(2026, 3, 2)),     # 28 Feb is a Saturday, 1 Mar a Sunday
    (date(2026, 5, 19), date(2026, 6, 22)),    # midsommarafton, midsommardagen, Sunday
    (date(2026, 11, 24), date(2026, 12, 28)),  # julafton, juldagen, annandag jul, Sunday
    # An ordinary working day a month later stays as it is.
    (date(2026, 3, 10), date(2026, 4, 10)),
    # Month end: 31 March → 30 April (Thursday).
    (date(2026, 3, 31), date(2026, 4, 30)),
    # Leap year: 31 January 2028 → 29 February 2028 (Tuesday).
    (date(2028, 1, 31), date(2028, 2, 29)),
    # Public holiday: 1 May 2026 is a Friday → Monday 4 May.
    (date(2026, 4, 1), date(2026, 5, 4)),
    # Nyårsafton (Thursday) → nyårsdagen (Friday) → weekend → Monday 4 January 2027.
    (date(2026, 12, 1), date(2027, 1, 4)),
    # Saturday alone: 2026-07-11 is a Saturday → Monday 13 July.
    (date(2026, 6, 11), date(2026, 7, 13)),
    # Kristi himmelsfärdsdag 2026-05-14 (Thursday) → Friday 15 May.
    (date(2026, 4, 14), date(2026, 5, 15)),
])
def test_due_date_is_one_month_moved_off_non_working_days(received, expected):
    assert due_date(received) == expected


def test_the_day_before_nyarsafton_is_a_working_day():
    # 2026-12-30 is a Wednesday: the deadline stays there.
    assert due_date(date(2026, 11, 30)) == date(2026, 12, 30)


def test_midsommarafton_julafton_nyarsafton_and_sundays_are_not_working_days():
    assert is_non_working_day(date(2026, 6, 19))    # midsommarafton (de facto)
    assert is_non_working_day(date(2026, 12, 24))   # julafton (de facto)
    assert is_non_working_day(date(2026, 12, 31))   # nyårsafton (de facto)
    assert is_non_working_day(date(2026, 1, 4))     # a Sunday (not listed by holidays >= 0.107)
    assert is_non_working_day(date(2026, 1, 6))     # trettondedag jul
    assert not is_non_working_day(date(2026, 12, 23))
    assert not is_non_working_day(date(2026, 6, 18))


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 10, 15), 3) == date(2027, 1, 15)


@pytest.mark.parametrize("received, expected", [
    (date(2026, 11, 24), date(2027, 2, 24)),   # Wednesday
    (date(2026, 3, 19), date(2026, 6, 22)),    # 19 June is midsommarafton → Monday 22 June
    (date(2026, 9, 24), date(2026, 12, 28)),   # julafton → 28 December
    (date(2026, 11, 30), date(2027, 3, 1)),    # 28 Feb 2027 is a Sunday → Monday 1 March
])
def test_extended_due_date_is_three_months_moved_off_non_working_days(received, expected):
    assert extended_due_date(received) == expected


def test_due_date_is_never_a_non_working_day_over_two_years():
    day = date(2026, 1, 1)
    while day.year < 2028:
        due = due_date(day)
        assert not is_non_working_day(due)
        assert add_months(day, 1) <= due
        assert (due - add_months(day, 1)).days <= 5
        day = date.fromordinal(day.toordinal() + 1)
