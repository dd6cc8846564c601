"""Reading an hours question (flows.hours_questions) and the reply the contact_hours flow gives it."""
from __future__ import annotations

from datetime import date

import pytest

from common.calendar import ContactCalendar
from flows.contact_hours import query_for
from flows.hours_questions import parse_question
from tests.test_calendar import at, cal, translator  # noqa: F401  (cal is a fixture)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, kind, day, open_now, next_open", [
    ("är ni öppna nu?", "both", None, True, False),
    ("har ni oppet nu", "both", None, True, False),
    ("Har ni öppet?", "both", None, True, False),
    ("are you open now", "both", None, True, False),
    ("när öppnar ni", "both", None, False, True),
    ("nar oppnar ni igen", "both", None, False, True),
    ("when do you open?", "both", None, False, True),
    ("när har ni öppet?", "both", None, False, False),
    ("what are your opening hours", "both", None, False, False),
    ("telefontid imorgon", "phone", "tomorrow", False, False),
    ("kan man ringa i morgon", "phone", "tomorrow", False, False),
    ("kan jag ringa imorn?", "phone", "tomorrow", False, False),
    ("besökstid idag", "visiting", "today", False, False),
    ("besokstid i dag", "visiting", "today", False, False),
    ("kan jag besöka er på fredag", "visiting", 4, False, False),
    ("öppet på fredg?", "both", 4, False, False),
    ("telfon måndag", "phone", 0, False, False),
    ("can I call you tomorrow", "phone", "tomorrow", False, False),
    ("phone hours on wednesday", "phone", 2, False, False),
    ("can I visit the office on saturday", "visiting", 5, False, False),
    ("is the phone open right now", "phone", None, True, False),
    ("visst, när har ni öppet", "both", None, False, False),
])
def test_parse_question(text, kind, day, open_now, next_open):
    q = parse_question(text, "sv")
    assert (q.kind, q.day, q.open_now, q.next_open) == (kind, day, open_now, next_open)


@pytest.mark.parametrize("text, named, expected", [
    ("har ni öppet på julafton", "Julafton", date(2026, 12, 24)),
    ("öppet midsommarafton?", "Midsommarafton", date(2027, 6, 25)),
    ("nyarsafton oppet?", "Nyårsafton", date(2026, 12, 31)),
    ("open on new year's eve?", "Nyårsafton", date(2026, 12, 31)),
    ("christmas eve hours", "Julafton", date(2026, 12, 24)),
    ("annandag påsk", "Annandag påsk", date(2027, 3, 29)),
])
def test_parse_named_days(text, named, expected):
    q = parse_question(text, "sv", today=date(2026, 7, 1))
    assert q.named == named and q.day == expected
    assert parse_question(text, "sv").day is None  # without a clock the name is kept for `answer`


@pytest.mark.parametrize("text, period", [
    ("har ni öppet i jul", "jul"), ("öppet över julhelgen?", "jul"), ("are you open over christmas", "jul"),
    ("har ni öppet i påsk", "pask"), ("öppettider påskhelgen", "pask"), ("easter hours", "pask"),
    ("är ni öppna i midsommar", "midsommar"), ("open at midsummer?", "midsommar"),
    ("har ni öppet i juli", None), ("har ni öppet på julafton", None), ("annandag påsk", None),
])
def test_parse_holiday_periods(text, period):
    q = parse_question(text, "sv")
    assert q.period == period
    assert not (period and q.open_now)  # "har ni öppet i jul" asks about the days, not "open now?"


# --------------------------------------------------------------------------- when can I call or visit?
# The question reaches the contact_hours flow through whichever hours entry matched it best; the
# words of the question, not the entry's topic, decide that a schedule is asked for.

TOPICS = ["open_now", "overview", "phone", "visiting", "next_open", None]
WEEK_PHONE_SV = "Ring oss på 035-13 70 00: måndag–torsdag kl. 07.00–17.00, fredag kl. 07.00–16.00."
WEEK_VISIT_SV = "måndag–torsdag kl. 08.00–17.00, fredag kl. 08.00–16.00"


def ask_flow(cal: ContactCalendar, question: str, now: str, topic: str | None, lang: str = "sv") -> str:
    """Answer as the contact_hours flow does when the entry with `topic` started it."""
    moment = at(now)
    return cal.answer(query_for(topic, question, lang, moment.date()), moment, lang, translator(lang))


@pytest.mark.parametrize("topic", TOPICS)
def test_when_can_i_call_on_a_weekday_gives_phone_hours_and_open_now(cal, topic):
    reply = ask_flow(cal, "när kan jag ringa er", "2026-12-01T10:00", topic)  # Tuesday
    assert WEEK_PHONE_SV in reply
    assert "Telefonen är öppen nu, till kl. 17.00." in reply
    assert reply != "Telefonen är öppen nu, till kl. 17.00."
    assert "08.00" not in reply, "the visiting hours were not asked for"


def test_when_can_i_call_in_the_evening_says_closed_and_when_it_opens(cal):
    reply = ask_flow(cal, "när kan jag ringa er", "2026-12-01T19:30", "open_now")
    assert WEEK_PHONE_SV in reply
    assert "Telefonen är stängd just nu och öppnar i morgon onsdag kl. 07.00." in reply


@pytest.mark.parametrize("topic", TOPICS)
def test_when_can_i_come_by_on_saturday_gives_visiting_hours(cal, topic):
    reply = ask_flow(cal, "när kan man komma förbi", "2026-12-05T11:00", topic)
    assert "Besök oss på Rådhuset, Kyrkogatan 5, Halmstad: " + WEEK_VISIT_SV in reply
    assert "Besöksreceptionen i Rådhuset är stängd just nu och öppnar måndag 7 december kl. 08.00." in reply
    assert "035-13 70 00:" not in reply and "Telefonen" not in reply


def test_when_can_i_call_on_julafton_names_the_holiday(cal):
    reply = ask_flow(cal, "när kan jag ringa er", "2026-12-24T10:00", "phone")
    assert WEEK_PHONE_SV in reply
    assert "Vi har stängt i dag (Julafton). Telefonen öppnar igen måndag 28 december kl. 07.00." in reply


def test_call_on_julafton_asked_in_advance_gives_that_day_and_the_week(cal):
    reply = ask_flow(cal, "kan jag ringa på julafton?", "2026-12-21T10:00", "open_now")
    assert reply.startswith("Telefontid torsdag 24 december: stängt (Julafton).")
    assert WEEK_PHONE_SV in reply, "a closed day is followed by the days one can call"
    assert "Telefonen är öppen nu, till kl. 17.00." in reply


@pytest.mark.parametrize("topic", TOPICS)
def test_can_i_call_on_friday_asked_on_friday_afternoon(cal, topic):
    reply = ask_flow(cal, "kan jag ringa på fredag?", "2026-12-04T15:30", topic)
    assert reply == "Telefontid i dag (fredag 4 december): kl. 07.00–16.00. Telefonen är öppen nu, till kl. 16.00."


@pytest.mark.parametrize("topic", TOPICS)
def test_open_on_a_closed_named_day_gives_that_day_and_when_it_opens_again(cal, topic):
    # Whichever hours entry matched, a question about another day gets that day and, when it is
    # closed, the next opening after it (not whether it is open right now).
    reply = ask_flow(cal, "är ni öppna på juldagen?", "2026-12-01T19:00", topic)
    assert reply == ("Telefontid fredag 25 december: stängt (Juldagen). "
                     "Besökstid i Rådhuset fredag 25 december: stängt (Juldagen). "
                     "Telefonen öppnar igen måndag 28 december kl. 07.00. "
                     "Besöksreceptionen i Rådhuset öppnar igen måndag 28 december kl. 08.00.")
    english = ask_flow(cal, "are you open on sunday", "2026-12-01T10:00", topic, "en")
    assert english == ("Phone hours, Sunday 6 December: closed. Visiting hours at Rådhuset, Sunday 6 December: "
                       "closed. The phone line opens again Monday 7 December at 7:00. "
                       "The visitors' desk at Rådhuset opens again Monday 7 December at 8:00.")


def test_open_on_an_open_weekday_gives_that_day_only(cal):
    reply = ask_flow(cal, "har ni öppet på torsdag", "2026-12-01T10:00", "next_open")
    assert reply == "Telefontid torsdag 3 december: kl. 07.00–17.00. Besökstid i Rådhuset torsdag 3 december: kl. 08.00–17.00."


def test_can_i_call_on_friday_asked_on_saturday_gives_next_friday(cal):
    reply = ask_flow(cal, "kan jag ringa på fredag?", "2026-12-05T11:00", "open_now")
    assert reply == ("Telefontid fredag 11 december: kl. 07.00–16.00. "
                     "Telefonen är stängd just nu och öppnar måndag 7 december kl. 07.00.")


def test_call_tomorrow_after_friday_closing_says_saturday_is_closed(cal):
    reply = ask_flow(cal, "kan jag ringa imorgon", "2026-12-04T16:30", "next_open")
    assert "Telefontid i morgon (lördag 5 december): stängt." in reply
    assert WEEK_PHONE_SV in reply
    assert "Telefonen" in reply and "öppnar måndag 7 december kl. 07.00" in reply


@pytest.mark.parametrize("topic", TOPICS)
def test_what_time_can_i_call_you_tomorrow_in_english(cal, topic):
    reply = ask_flow(cal, "what time can I call you tomorrow", "2026-12-01T10:00", topic, "en")
    assert reply == ("Phone hours, tomorrow (Wednesday 2 December): 7:00–17:00. "
                     "The phone line is open now, until 17:00.")


def test_when_can_i_call_in_english_in_the_evening(cal):
    reply = ask_flow(cal, "when can I call you?", "2026-12-01T19:30", "phone", "en")
    assert "Call us on 035-13 70 00: Monday–Thursday 7:00–17:00, Friday 7:00–16:00." in reply
    assert "The phone line is closed right now and opens tomorrow (Wednesday) at 7:00." in reply


def test_open_now_and_next_open_questions_stay_short(cal):
    assert ask_flow(cal, "kan jag ringa er nu", "2026-12-01T10:00", "open_now") == \
        "Telefonen är öppen nu, till kl. 17.00."
    assert ask_flow(cal, "när kan jag ringa nästa gång", "2026-12-01T19:30", "next_open") == \
        "Telefonen är stängd just nu och öppnar i morgon onsdag kl. 07.00."


@pytest.mark.parametrize("text, kind, schedule", [
    ("när kan jag ringa er", "phone", True),
    ("nar kan man ringa", "phone", True),
    ("när kan man komma förbi", "visiting", True),
    ("what time can I call you tomorrow", "phone", True),
    ("kan jag ringa på fredag?", "phone", True),
    ("när har ni öppet?", "both", False),
    ("kan jag ringa er nu", "phone", False),
    ("när kan jag ringa nästa gång", "phone", False),
])
def test_parse_schedule_questions(text, kind, schedule):
    q = parse_question(text, "sv")
    assert (q.kind, q.schedule) == (kind, schedule)
