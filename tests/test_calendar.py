"""Halmstad direkt's calendar: holidays, the staff exceptions calendar, DST and the replies.

Reading the question itself is tested in tests/test_hours_questions.py."""
from __future__ import annotations

import string
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
import yaml

from common import calendar as hours_mod
from common.calendar import ContactCalendar, HoursQuery, parse_weekday, format_date, format_datetime, format_time, next_holiday
from flows.hours_questions import parse_question

TZ = ZoneInfo("Europe/Stockholm")
TEXTS_PATH = Path(__file__).resolve().parents[1] / "knowledge" / "texts" / "hours.yaml"
TEXTS = yaml.safe_load(TEXTS_PATH.read_text(encoding="utf-8"))

FACTS = {
    "phone": "035-13 70 00",
    "email": "direkt@halmstad.se",
    "visiting_address": {"sv": "Rådhuset, Kyrkogatan 5, Halmstad", "en": "Rådhuset, Kyrkogatan 5, Halmstad"},
}
# The hours DOMAIN.md gives for Halmstad direkt.
CONTACT = {
    "timezone": "Europe/Stockholm",
    "facts": FACTS,
    "hours": {
        "phone": {"mon": "07:00-17:00", "tue": "07:00-17:00", "wed": "07:00-17:00", "thu": "07:00-17:00",
                  "fri": "07:00-16:00"},
        "visiting": {"mon": "08:00-17:00", "tue": "08:00-17:00", "wed": "08:00-17:00", "thu": "08:00-17:00",
                     "fri": "08:00-16:00"},
    },
    "staffed": "phone",
    "exceptions": [],
}


def translator(lang: str):
    """Build the `t(key, **fmt)` the engine passes: text in `lang`, facts and arguments filled in."""
    facts = {k: (v[lang] if isinstance(v, dict) else v) for k, v in FACTS.items()}

    def t(key: str, **fmt) -> str:
        return TEXTS[key][lang].format(**{**facts, **fmt})

    return t


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def with_exceptions(*entries) -> ContactCalendar:
    return ContactCalendar.from_config({**CONTACT, "exceptions": list(entries)})


@pytest.fixture
def cal() -> ContactCalendar:
    return ContactCalendar.from_config(CONTACT)


def ask(cal: ContactCalendar, question: str, now: str, lang: str = "sv") -> str:
    return cal.answer(parse_question(question, lang), at(now), lang, translator(lang))


# --------------------------------------------------------------------------- required outcomes


def test_julafton_is_closed_and_phone_opens_monday_28_december(cal):
    status = cal.status("phone", at("2026-12-24T10:00"))
    assert not status.is_open
    assert status.today.reason_kind == "holiday"
    assert status.next_open == datetime(2026, 12, 28, 7, 0, tzinfo=TZ)

    reply = ask(cal, "är ni öppna nu?", "2026-12-24T10:00")
    assert "julafton" in reply.lower()
    assert "Telefonen öppnar igen måndag 28 december kl. 07.00" in reply
    en = ask(cal, "are you open now?", "2026-12-24T10:00", "en")
    assert "Christmas Eve" in en
    assert "Monday 28 December at 7:00" in en


def test_friday_1630_is_closed_until_monday_0700(cal):
    status = cal.status("phone", at("2026-12-04T16:30"))
    assert not status.is_open
    assert status.next_open == datetime(2026, 12, 7, 7, 0, tzinfo=TZ)
    reply = ask(cal, "har ni öppet nu", "2026-12-04T16:30")
    assert "Telefonen är stängd just nu och öppnar måndag 7 december kl. 07.00" in reply


def test_thursday_1630_is_open_until_1700(cal):
    status = cal.status("phone", at("2026-12-03T16:30"))
    assert status.is_open
    assert status.closes_at == datetime(2026, 12, 3, 17, 0, tzinfo=TZ)
    assert status.next_open == datetime(2026, 12, 4, 7, 0, tzinfo=TZ)  # after the current period
    assert "Telefonen är öppen nu, till kl. 17.00" in ask(cal, "är ni öppna nu?", "2026-12-03T16:30")
    assert "The phone line is open now, until 17:00" in ask(cal, "are you open now?", "2026-12-03T16:30", "en")


def test_closing_time_itself_is_closed(cal):
    assert cal.status("phone", at("2026-12-03T16:59:59")).is_open
    assert not cal.status("phone", at("2026-12-03T17:00")).is_open
    assert cal.status("phone", at("2026-12-03T07:00")).is_open
    before = cal.status("phone", at("2026-12-03T06:59"))
    assert not before.is_open and before.next_open == datetime(2026, 12, 3, 7, 0, tzinfo=TZ)


def test_midsommarafton_is_closed(cal):
    status = cal.status("phone", at("2026-06-19T10:00"))
    assert not status.is_open
    assert status.today.reason == "Midsommarafton"
    assert status.next_open == datetime(2026, 6, 22, 7, 0, tzinfo=TZ)  # midsommardagen, then Sunday
    assert "midsommarafton" in ask(cal, "öppet nu?", "2026-06-19T10:00").lower()
    assert "Midsummer Eve" in ask(cal, "open now?", "2026-06-19T10:00", "en")


def test_sunday_night_opens_monday_0700(cal):
    status = cal.status("phone", at("2026-12-06T23:30"))
    assert not status.is_open
    assert status.today.reason_kind == "weekend"
    assert status.next_open == datetime(2026, 12, 7, 7, 0, tzinfo=TZ)
    assert "öppnar i morgon måndag kl. 07.00" in ask(cal, "när öppnar ni?", "2026-12-06T23:30")
    assert "opens tomorrow (Monday) at 7:00" in ask(cal, "when do you open?", "2026-12-06T23:30", "en")


def test_dst_spring_forward_sunday_next_open_is_cest():
    cal = ContactCalendar.from_config(CONTACT)
    # 2026-03-29 01:30 UTC is 03:30 CEST, just after the clocks went forward.
    status = cal.status("phone", datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc))
    assert status.next_open == datetime(2026, 3, 30, 7, 0, tzinfo=TZ)
    assert status.next_open.utcoffset() == timedelta(hours=2)
    assert status.next_open.isoformat() == "2026-03-30T07:00:00+02:00"
    # 07:00 CEST is 05:00 UTC; a calendar stuck at +01:00 would still be closed then.
    assert not cal.status("phone", datetime(2026, 3, 30, 4, 30, tzinfo=timezone.utc)).is_open
    assert cal.status("phone", datetime(2026, 3, 30, 5, 0, tzinfo=timezone.utc)).is_open


def test_dst_fall_back_sunday_next_open_is_cet():
    cal = ContactCalendar.from_config(CONTACT)
    status = cal.status("phone", datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc))  # 02:30 CET, second time
    assert not status.is_open
    assert status.next_open.isoformat() == "2026-10-26T07:00:00+01:00"
    assert not cal.status("phone", datetime(2026, 10, 26, 5, 59, tzinfo=timezone.utc)).is_open
    assert cal.status("phone", datetime(2026, 10, 26, 6, 0, tzinfo=timezone.utc)).is_open
    # A Friday evening before the change: the opening after the weekend is already in CET.
    assert cal.status("phone", at("2026-10-23T18:00")).next_open.utcoffset() == timedelta(hours=1)


def test_now_in_another_zone_is_converted(cal):
    status = cal.status("phone", datetime(2026, 12, 3, 15, 30, tzinfo=timezone.utc))  # 16:30 in Halmstad
    assert status.is_open
    assert status.closes_at.tzinfo is not None


def test_alla_helgons_dag_saturday_is_closed_and_named(cal):
    dh = cal.day_hours("phone", date(2026, 10, 31))
    assert dh.is_closed and dh.reason_kind == "holiday" and dh.reason == "Alla helgons dag"
    assert cal.holiday_name(date(2026, 10, 31), "en") == "All Saints' Day"


def test_next_open_skips_easter(cal):
    status = cal.status("phone", at("2026-04-02T17:30"))  # Thursday before Good Friday
    assert status.next_open == datetime(2026, 4, 7, 7, 0, tzinfo=TZ)
    on_good_friday = cal.status("visiting", at("2026-04-03T10:00"))
    assert on_good_friday.today.reason == "Långfredagen"
    assert on_good_friday.next_open == datetime(2026, 4, 7, 8, 0, tzinfo=TZ)


def test_exception_shortens_a_day():
    cal = with_exceptions({"date": date(2026, 12, 23), "phone": "07:00-15:00",
                           "note": {"sv": "Dagen före julafton", "en": "The day before Christmas Eve"}})
    open_status = cal.status("phone", at("2026-12-23T14:00"))
    assert open_status.is_open and open_status.closes_at == datetime(2026, 12, 23, 15, 0, tzinfo=TZ)
    assert open_status.today.reason_kind == "exception"
    reply = ask(cal, "kan jag ringa nu?", "2026-12-23T14:00")
    assert "till kl. 15.00" in reply and "Dagen före julafton" in reply
    closed = cal.status("phone", at("2026-12-23T15:30"))
    assert not closed.is_open and closed.next_open == datetime(2026, 12, 28, 7, 0, tzinfo=TZ)
    # The visiting hours were not listed, so they keep their normal hours that day.
    assert cal.day_hours("visiting", date(2026, 12, 23)).closes == time(17, 0)


def test_exception_closes_a_normal_weekday():
    cal = with_exceptions({"date": "2026-12-08", "closed": True,
                           "note": {"sv": "Personaldag", "en": "Staff training day"}})
    assert cal.status("phone", at("2026-12-07T17:30")).next_open == datetime(2026, 12, 9, 7, 0, tzinfo=TZ)
    assert cal.day_hours("visiting", date(2026, 12, 8)).is_closed
    reply = ask(cal, "är ni öppna nu", "2026-12-08T10:00")
    assert "Vi har stängt i dag (Personaldag)." in reply
    assert "Telefonen öppnar igen i morgon onsdag kl. 07.00" in reply
    assert "Staff training day" in ask(cal, "are you open now", "2026-12-08T10:00", "en")


def test_exception_does_not_silently_open_a_holiday():
    cal = with_exceptions({"date": date(2027, 1, 6), "phone": "10:00-14:00", "note": "Extra telefontid"})
    assert cal.day_hours("phone", date(2027, 1, 6)).reason_kind == "holiday"
    assert not cal.status("phone", at("2027-01-06T11:00")).is_open
    [conflict] = cal.holiday_conflicts()
    assert (conflict.day, conflict.holiday, conflict.opens) == (date(2027, 1, 6), "Trettondedag jul", False)


def test_exception_can_open_a_holiday_when_it_says_so():
    cal = with_exceptions({"date": date(2027, 1, 6), "phone": "10:00-14:00", "note": "Extra telefontid",
                           "open_on_holiday": True})
    assert cal.holiday_conflicts()[0].opens
    phone = cal.day_hours("phone", date(2027, 1, 6))
    assert (phone.opens, phone.closes, phone.reason_kind) == (time(10), time(14), "exception")
    assert cal.day_hours("visiting", date(2027, 1, 6)).reason_kind == "holiday"  # not listed: still closed
    assert cal.status("phone", at("2027-01-06T11:00")).is_open


def test_staffed_is_an_alias(cal):
    now = at("2026-12-03T07:30")
    assert cal.status("staffed", now).kind == "phone"
    assert cal.status("staffed", now).is_open
    visiting = ContactCalendar.from_config({**CONTACT, "staffed": "visiting"})
    assert visiting.status("staffed", now).kind == "visiting"
    assert not visiting.status("staffed", now).is_open
    with pytest.raises(ValueError, match="unknown kind"):
        cal.status("fax", now)


def test_naive_now_is_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.status("phone", datetime(2026, 12, 3, 10, 0))


def test_holidays_follow_domain_list_and_exclude_sundays(cal):
    expected = {"01-01", "01-06", "04-03", "04-05", "04-06", "05-01", "05-14", "05-24", "06-06", "06-19",
                "06-20", "10-31", "12-24", "12-25", "12-26", "12-31"}
    assert {d.strftime("%m-%d") for d in cal.holiday_dates(2026)} == expected
    assert cal.day_hours("phone", date(2026, 12, 6)).reason_kind == "weekend"  # an ordinary Sunday
    assert cal.holiday_name(date(2026, 12, 24), "en") == "Christmas Eve"
    assert cal.holiday_name(date(2026, 12, 24), "xx") == "Julafton"  # unknown language: Swedish names


def test_next_holiday_looks_into_next_year():
    assert next_holiday("Julafton", date(2026, 12, 24)) == date(2026, 12, 24)
    assert next_holiday("Julafton", date(2026, 12, 25)) == date(2027, 12, 24)
    assert next_holiday("Midsommarafton", date(2026, 7, 1)) == date(2027, 6, 25)
    assert next_holiday("Ingen sådan dag", date(2026, 7, 1)) is None


def test_holidays_are_computed_once_per_year(cal, monkeypatch):
    calls = []
    real = holidays.Sweden

    def counting(*args, **kwargs):
        calls.append(kwargs.get("years"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hours_mod.holidays, "Sweden", counting)
    fresh = ContactCalendar.from_config(CONTACT)
    for offset in range(60):
        fresh.day_hours("phone", date(2026, 12, 1) + timedelta(days=offset))
    assert calls == [2026, 2027]


# --------------------------------------------------------------------------- day questions and overview


def test_weekly_overview_lists_phone_visiting_and_address(cal):
    reply = ask(cal, "när har ni öppet?", "2026-12-02T10:00")
    assert "035-13 70 00: måndag–torsdag kl. 07.00–17.00, fredag kl. 07.00–16.00" in reply
    assert "Kyrkogatan 5" in reply
    assert "måndag–torsdag kl. 08.00–17.00, fredag kl. 08.00–16.00" in reply
    en = ask(cal, "what are your opening hours?", "2026-12-02T10:00", "en")
    assert "Monday–Thursday 7:00–17:00, Friday 7:00–16:00" in en and "Kyrkogatan 5" in en


def test_overview_announces_the_unusual_days_of_the_coming_week():
    cal = with_exceptions({"date": date(2026, 12, 23), "phone": "07:00-15:00", "visiting": "08:00-15:00",
                           "note": {"sv": "Dagen före julafton", "en": "The day before Christmas Eve"}})
    reply = ask(cal, "vilka tider har ni?", "2026-12-21T10:00")
    assert "onsdag 23 december (Dagen före julafton): telefon kl. 07.00–15.00" in reply
    assert "torsdag 24 december stängt (Julafton)" in reply
    assert "23 december" not in ask(cal, "vilka tider har ni?", "2026-12-02T10:00")


def test_tomorrow_phone_hours(cal):
    reply = ask(cal, "telefontid imorgon?", "2026-12-03T10:00")
    assert reply == "Telefontid i morgon (fredag 4 december): kl. 07.00–16.00. Telefonen är öppen nu, till kl. 17.00."


def test_named_day_julafton_in_advance(cal):
    reply = ask(cal, "har ni öppet på julafton?", "2026-12-01T10:00")
    assert "torsdag 24 december: stängt (Julafton)" in reply
    en = ask(cal, "are you open on christmas eve", "2026-12-01T10:00", "en")
    assert "Thursday 24 December: closed (Christmas Eve)" in en


def test_weekday_question_uses_the_next_such_day(cal):
    reply = ask(cal, "besökstid på fredag", "2026-12-01T10:00")
    assert reply == ("Besökstid i Rådhuset fredag 4 december: kl. 08.00–16.00. "
                     "Besöksreceptionen i Rådhuset är öppen nu, till kl. 17.00.")


def test_today_question_gives_hours_and_current_state(cal):
    reply = ask(cal, "vad är telefontiden idag", "2026-12-03T06:00")
    assert "i dag (torsdag 3 december): kl. 07.00–17.00" in reply
    assert "öppnar i dag kl. 07.00" in reply


# --------------------------------------------------------------------------- formatting helpers


def test_format_helpers_for_other_modules():
    sv, en = translator("sv"), translator("en")
    assert format_date(date(2026, 12, 28), "sv", sv, with_year=True) == "måndag 28 december 2026"
    assert format_date(date(2026, 12, 28), "en", en, with_year=True) == "Monday 28 December 2026"
    assert format_time(time(7, 5), "sv", sv) == "07.05"
    assert format_time(time(7, 5), "en", en) == "7:05"
    monday = datetime(2026, 12, 7, 7, 0, tzinfo=TZ)
    assert format_datetime(monday, "sv", sv) == "måndag 7 december kl. 07.00"
    assert format_datetime(monday, "sv", sv, now=at("2026-12-06T20:00")) == "i morgon måndag kl. 07.00"
    assert format_datetime(monday, "en", en, now=at("2026-12-07T05:00")) == "today at 7:00"


# --------------------------------------------------------------------------- the knowledge file

ALLOWED_PLACEHOLDERS = {
    *FACTS, "name", "phone_intl", "postal_address",
    "h", "hh", "mm", "opens", "closes", "weekday", "day", "month", "year", "date", "time", "first", "last",
    "kind", "kind_hours", "when", "reason", "hours", "days", "period",
}


def test_every_text_has_both_languages_and_known_placeholders():
    for key, value in TEXTS.items():
        assert set(value) == {"sv", "en"}, key
        for lang in ("sv", "en"):
            names = {f for _, f, _, _ in string.Formatter().parse(value[lang]) if f}
            assert names <= ALLOWED_PLACEHOLDERS, (key, lang, names - ALLOWED_PLACEHOLDERS)


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("question", ["open now", "när öppnar ni", "när har ni öppet", "telefontid idag",
                                      "besök imorgon", "julafton"])
@pytest.mark.parametrize("now", ["2026-12-21T10:00", "2026-12-24T10:00", "2026-06-19T09:00", "2026-03-29T12:00"])
def test_every_answer_renders(cal, lang, question, now):
    """Fail if any path of `answer` uses a key or placeholder the knowledge file lacks."""
    reply = ask(cal, question, now, lang)
    assert reply and "{" not in reply


# --------------------------------------------------------------------------- bad configuration


@pytest.mark.parametrize("change, message", [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"hours": {"phone": {"mon": "7-17"}, "visiting": {}}}, "HH:MM-HH:MM"),
    ({"hours": {"phone": {"mon": "17:00-07:00"}, "visiting": {}}}, "closes before it opens"),
    ({"hours": {"phone": {"mon": "25:00-26:00"}, "visiting": {}}}, "impossible time"),
    ({"hours": {"phone": {"monday": "07:00-17:00"}, "visiting": {}}}, "unknown weekday"),
    ({"hours": {"phone": {"mon": 420}, "visiting": {}}}, "quoted string"),
    ({"hours": {"phone": {}}}, "hours.visiting: missing"),
    ({"hours": None}, "hours: missing"),
    ({"staffed": "fax"}, "staffed"),
    ({"exceptions": [{"date": "24/12/2026", "closed": True}]}, "YYYY-MM-DD"),
    ({"exceptions": [{"date": datetime(2026, 12, 24, 10, 0), "closed": True}]}, "time of day"),
    ({"exceptions": [{"date": date(2026, 12, 24)}]}, "says nothing"),
    ({"exceptions": [{"date": date(2026, 12, 24), "phone": "closed", "fax": "closed"}]}, "unknown key"),
    ({"exceptions": [{"date": date(2026, 12, 24), "closed": "yes"}]}, "true or false"),
    ({"exceptions": [{"date": date(2026, 12, 23), "closed": True},
                     {"date": "2026-12-23", "phone": "07:00-12:00"}]}, "also given by"),
    ({"exceptions": {"date": date(2026, 12, 24)}}, "list"),
])
def test_malformed_contact_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        ContactCalendar.from_config({**CONTACT, **change})


FRIDAYS_IN_DECEMBER = {"rule": {"weekday": "fredag", "from": "2026-12-01", "to": "2026-12-31"},
                       "phone": "07:00-15:00", "note": {"sv": "Fredag i december", "en": "A Friday in December"}}


def test_a_rule_repeats_on_its_weekday_and_the_holiday_wins():
    cal = with_exceptions(FRIDAYS_IN_DECEMBER)
    for friday in (4, 11, 18):
        phone = cal.day_hours("phone", date(2026, 12, friday))
        assert (phone.opens, phone.closes, phone.reason_kind) == (time(7), time(15), "exception")
    assert cal.day_hours("phone", date(2026, 12, 10)).closes == time(17)  # a Thursday: the usual week
    assert cal.day_hours("phone", date(2027, 1, 8)).closes == time(16)  # after the rule's last day
    christmas = cal.day_hours("phone", date(2026, 12, 25))
    assert christmas.is_closed and christmas.reason == "Juldagen"
    assert not cal.status("phone", at("2026-12-25T10:00")).is_open
    assert [(c.day, c.holiday, c.rule) for c in cal.holiday_conflicts()] == [(date(2026, 12, 25), "Juldagen", True)]


def test_a_dated_exception_wins_over_a_rule():
    cal = with_exceptions(FRIDAYS_IN_DECEMBER, {"date": "2026-12-18", "closed": True})
    assert cal.day_hours("phone", date(2026, 12, 18)).is_closed
    assert cal.day_hours("phone", date(2026, 12, 11)).closes == time(15)


@pytest.mark.parametrize("word, weekday", [("fredag", 4), ("Fredagar", 4), ("fri", 4), ("friday", 4),
                                           ("lördag", 5), ("lordag", 5), ("måndagar", 0), ("sun", 6)])
def test_rule_weekday_names(word, weekday):
    assert parse_weekday(word) == weekday


@pytest.mark.parametrize("rule, message", [
    ({"weekday": "fredagsmys", "from": "2026-12-01", "to": "2026-12-31"}, "not a weekday"),
    ({"weekday": "fredag", "from": "2026-12-31", "to": "2026-12-01"}, "before"),
    ({"weekday": "fredag", "from": "2026-12-01"}, "write the rule as"),
])
def test_malformed_rules_are_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        with_exceptions({"rule": rule, "phone": "07:00-15:00"})


def test_two_rules_on_the_same_day_are_refused():
    with pytest.raises(ValueError, match="also given by"):
        with_exceptions(FRIDAYS_IN_DECEMBER, {"rule": {"weekday": "fri", "from": "2026-12-10", "to": "2026-12-12"},
                                              "closed": True})


def test_real_contact_yaml_builds():
    contact = yaml.safe_load((TEXTS_PATH.parents[1] / "contact.yaml").read_text(encoding="utf-8"))
    cal = ContactCalendar.from_config(contact)
    assert cal.status("phone", at("2026-12-03T16:30")).is_open


def test_query_defaults_to_overview():
    assert HoursQuery() == HoursQuery(kind="both", day=None, open_now=False, next_open=False, named=None)
