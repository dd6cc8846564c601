"""Halmstad direkt's calendar: weekly hours, Swedish holidays and the staff exceptions calendar.

Pure: no I/O and no clock. Callers pass the parsed `contact.yaml` mapping and an aware `now`,
so `serve --now ...` and the tests see exactly the answers a guardian would see on that day.
`ContactCalendar.answer` writes the reply to an `HoursQuery` (what is asked: which kind, which
day, open now?); reading that query out of a guardian's words is `flows.hours_questions`.
Every sentence comes from `knowledge/texts/hours.yaml` through the `t(key, **fmt)` callable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "WEEKDAYS",
    "DayHours",
    "OpenStatus",
    "HoursQuery",
    "PERIODS",
    "ContactCalendar",
    "swedish_holidays",
    "next_holiday",
    "parse_span",
    "parse_date",
    "parse_weekday",
    "rule_days",
    "HolidayConflict",
    "ClosesBeforeOpens",
    "format_time",
    "format_date",
    "format_datetime",
]

Translate = Callable[..., str]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS: tuple[str, ...] = ("phone", "visiting")
# How far ahead `next_open` looks before giving up (a whole year of closed days is a data error).
_SEARCH_DAYS = 400
_HOURS_RE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–]\s*(\d{1,2})[:.](\d{2})\s*$")
_CLOSED_WORDS = {"closed", "stängt", "stangt"}
# `holidays` language codes per bot language; Swedish is the fallback for names.
_HOLIDAY_LANGS = {"sv": "sv", "en": "en_US"}
_HOLIDAY_SUPPORTED = frozenset(getattr(holidays.Sweden, "supported_languages", ()) or ("sv",))


@dataclass(frozen=True)
class DayHours:
    """Say when one kind of service is open on one day, and why it differs from the usual week.

    `reason` is the holiday's Swedish name (see `ContactCalendar.holiday_name` for other
    languages) or the exception's Swedish note; `notes` holds the exception note per language.
    """

    opens: time | None
    closes: time | None
    reason: str | None = None
    reason_kind: str | None = None  # "holiday" | "exception" | "weekend" | None
    notes: Mapping[str, str] | None = field(default=None, compare=False)

    @property
    def is_closed(self) -> bool:
        return self.opens is None


@dataclass(frozen=True)
class OpenStatus:
    """Tell whether a service is open at an instant, until when, and when it opens next."""

    kind: str
    is_open: bool
    closes_at: datetime | None
    next_open: datetime | None
    today: DayHours


@dataclass(frozen=True)
class HoursQuery:
    """Say what to answer about the opening hours (`flows.hours_questions` reads it from words).

    `day` is None, "today", "tomorrow", a weekday 0-6 (Monday = 0) or a date. A named day
    ("julafton", "midsummer eve") is kept in `named`; it becomes a date in `day` when the parser
    was given `today`, otherwise `ContactCalendar.answer` resolves it against its clock.
    """

    kind: str = "both"  # "phone" | "visiting" | "both"
    day: str | int | date | None = None
    open_now: bool = False
    next_open: bool = False
    named: str | None = None
    # "när kan jag ringa er", "when can I come by": asks when one can call or visit, so the reply
    # gives that schedule (or the named day's hours) together with whether it is open now.
    schedule: bool = False
    # "har ni öppet i jul": a holiday period ("jul", "pask", "midsommar"), answered with its days.
    period: str | None = None


# A holiday period: the Swedish name of its last holiday and how many days before it the period
# starts (jul: from 20 December to trettondedag jul; påsk: from the Wednesday before långfredagen).
PERIODS: dict[str, tuple[str, int]] = {
    "jul": ("Trettondedag jul", 17),
    "pask": ("Annandag påsk", 5),
    "midsommar": ("Midsommardagen", 2),
}


# --------------------------------------------------------------------------- holidays


def swedish_holidays(year: int, lang: str = "sv") -> dict[date, str]:
    """List the closed days of a year (public and de-facto holidays) with names in `lang`."""
    code = _HOLIDAY_LANGS.get(lang, "sv")
    if code not in _HOLIDAY_SUPPORTED:
        code = "sv"
    found = holidays.Sweden(years=year, categories=(holidays.PUBLIC, holidays.DE_FACTO), language=code)
    return dict(found.items())


def next_holiday(name: str, today: date,
                 holiday_dates: Callable[[int], Mapping[date, str]] = swedish_holidays) -> date | None:
    """Find the next date (from `today`) of a holiday by its Swedish name ("Julafton")."""
    for year in (today.year, today.year + 1):
        found = holiday_dates(year)
        for day in sorted(found):
            if day >= today and name in found[day].split("; "):
                return day
    return None


# --------------------------------------------------------------------------- configuration


class ClosesBeforeOpens(ValueError):
    """Opening hours whose closing time is not after the opening time ("16:00-07:00")."""


def parse_span(value: object, where: str = "hours") -> tuple[time, time] | None:
    """Turn "HH:MM-HH:MM" (or "closed") into times, so a typo fails loudly, not silently.

    The one definition of the hours format: the knowledge checker accepts what this accepts.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{where}: expected \"HH:MM-HH:MM\" or \"closed\" as a quoted string, got {value!r}")
    if value.strip().lower() in _CLOSED_WORDS:
        return None
    m = _HOURS_RE.match(value)
    if not m:
        raise ValueError(f"{where}: {value!r} is not \"HH:MM-HH:MM\" (e.g. \"07:00-17:00\") or \"closed\"")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    try:
        opens, closes = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{where}: {value!r} has an impossible time of day") from None
    if not opens < closes:
        raise ClosesBeforeOpens(f"{where}: {value!r} closes before it opens (overnight hours are not supported)")
    return opens, closes


def parse_date(value: object, where: str = "date") -> date:
    """Accept a YAML date or "YYYY-MM-DD", because staff files may quote dates or not."""
    if isinstance(value, datetime):
        raise ValueError(f"{where}: {value!r} has a time of day; write only the date, e.g. 2026-12-23")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-23")


def _parse_note(value: object, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"sv": value, "en": value}
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()) and "sv" in value:
        notes = {str(k): v for k, v in value.items()}
        notes.setdefault("en", notes["sv"])
        return notes
    raise ValueError(f"{where}: note must be text or {{sv: ..., en: ...}}, got {value!r}")


@dataclass(frozen=True)
class _Exception:
    spans: Mapping[str, tuple[time, time] | None]  # kind -> hours or None (closed); missing = normal
    all_closed: bool
    notes: Mapping[str, str] | None
    open_on_holiday: bool = False  # staff said so: the hours apply even on a public holiday
    entry: int = 0  # the index of the entry in contact.yaml's `exceptions` (for messages)
    rule: bool = False  # a repeating rule (a dated entry wins over it)


@dataclass(frozen=True)
class HolidayConflict:
    """An exception or rule that gives hours on a public holiday or de-facto closed day."""

    day: date
    holiday: str  # the Swedish name ("Juldagen")
    entry: int  # the index of the entry in `exceptions`
    rule: bool
    opens: bool  # True: `open_on_holiday: true` opens the day; False: the holiday wins


# Weekday names staff may write in a rule: mon..sun, Swedish and English names, and plurals.
_WEEKDAY_NAMES: tuple[tuple[str, ...], ...] = (
    ("mon", "måndag", "mandag", "monday"), ("tue", "tisdag", "tuesday"), ("wed", "onsdag", "wednesday"),
    ("thu", "torsdag", "thursday"), ("fri", "fredag", "friday"), ("sat", "lördag", "lordag", "saturday"),
    ("sun", "söndag", "sondag", "sunday"),
)


def parse_weekday(value: object, where: str = "weekday") -> int:
    """Turn "fredag", "fredagar", "fri" or "Friday" into 0-6 (Monday = 0)."""
    word = value.strip().lower() if isinstance(value, str) else ""
    for number, names in enumerate(_WEEKDAY_NAMES):
        if any(word == name or (len(name) > 3 and word in (name + "ar", name + "s", name + "en"))
               for name in names):
            return number
    raise ValueError(f"{where}: {value!r} is not a weekday; write e.g. fredag or fri")


def rule_days(rule: object, where: str = "rule") -> list[date]:
    """List the days of a repeating rule {weekday: fredag, from: 2026-12-01, to: 2026-12-31}."""
    if not isinstance(rule, Mapping) or set(rule) != {"weekday", "from", "to"}:
        raise ValueError(f"{where}: write the rule as {{weekday: fredag, from: 2026-12-01, to: 2026-12-31}}")
    weekday = parse_weekday(rule["weekday"], f"{where}.weekday")
    first, last = parse_date(rule["from"], f"{where}.from"), parse_date(rule["to"], f"{where}.to")
    if last < first:
        raise ValueError(f"{where}: 'to' ({last}) is before 'from' ({first})")
    start = first + timedelta(days=(weekday - first.weekday()) % 7)
    return [start + timedelta(days=7 * i) for i in range((last - start).days // 7 + 1)] if start <= last else []


def _parse_weekly(hours: object) -> dict[str, dict[int, tuple[time, time]]]:
    """Turn contact.yaml's `hours` into kind -> weekday 0-6 -> (opens, closes); closed days are absent."""
    if not isinstance(hours, Mapping):
        raise ValueError("hours: missing; give weekly hours for phone and visiting")
    weekly: dict[str, dict[int, tuple[time, time]]] = {}
    for kind, days in hours.items():
        if not isinstance(days, Mapping):
            raise ValueError(f"hours.{kind}: expected a mapping of weekdays (mon..sun) to \"HH:MM-HH:MM\"")
        per_day: dict[int, tuple[time, time]] = {}
        for day_name, value in days.items():
            if day_name not in WEEKDAYS:
                raise ValueError(f"hours.{kind}.{day_name}: unknown weekday; use one of {', '.join(WEEKDAYS)}")
            span = parse_span(value, f"hours.{kind}.{day_name}")
            if span is not None:
                per_day[WEEKDAYS.index(day_name)] = span
        weekly[str(kind)] = per_day
    for kind in KINDS:
        if kind not in weekly:
            raise ValueError(f"hours.{kind}: missing; both phone and visiting hours are required")
    return weekly


def _parse_exception(entry: object, i: int, weekly: Mapping[str, object]) -> tuple[list[date], _Exception]:
    """Turn one entry of `exceptions` (a `date:` or a repeating `rule:`) into its days and hours."""
    where = f"exceptions[{i}]"
    if not isinstance(entry, Mapping) or ("date" in entry) == ("rule" in entry):
        raise ValueError(f"{where}: expected a mapping with a date or a rule (not both)")
    if "date" in entry:
        days = [parse_date(entry["date"], f"{where}.date")]
        where = f"exceptions[{i}] ({days[0].isoformat()})"
    else:
        days = rule_days(entry["rule"], f"{where}.rule")
    unknown = set(entry) - {"date", "rule", "closed", "note", "open_on_holiday", *weekly}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"use date or rule, closed, note, open_on_holiday or {', '.join(weekly)}")
    flags = {name: entry.get(name, False) for name in ("closed", "open_on_holiday")}
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValueError(f"{where}.{name}: expected true or false, got {flag!r}")
    spans = {k: parse_span(entry[k], f"{where}.{k}") for k in weekly if k in entry}
    if not flags["closed"] and not spans:
        raise ValueError(f"{where}: says nothing; give closed: true or hours for {' or '.join(weekly)}")
    notes = _parse_note(entry.get("note"), f"{where}.note")
    return days, _Exception(spans, flags["closed"], notes, flags["open_on_holiday"], i, "rule" in entry)


def _parse_exceptions(raw: object, weekly: Mapping[str, object]) -> dict[date, _Exception]:
    """Turn contact.yaml's `exceptions` list into date -> the changed hours of that day.

    A dated entry wins over a rule on the same day; a day given twice by dates or by rules is an error.
    """
    if not isinstance(raw, list):
        raise ValueError("exceptions: expected a list of entries with a date or a rule")
    exceptions: dict[date, _Exception] = {}
    for i, entry in enumerate(raw):
        days, exc = _parse_exception(entry, i, weekly)
        for day in days:
            other = exceptions.get(day)
            if other is not None and other.rule == exc.rule:
                raise ValueError(f"exceptions[{i}] ({day.isoformat()}): the date is also given by "
                                 f"exceptions[{other.entry}]; merge the entries")
            if other is None or other.rule:
                exceptions[day] = exc
    return exceptions


# --------------------------------------------------------------------------- the calendar


class ContactCalendar:
    """Answer "are you open?" for Halmstad direkt, honouring holidays and the staff calendar."""

    def __init__(
        self,
        tz: ZoneInfo,
        weekly: Mapping[str, Mapping[int, tuple[time, time]]],
        staffed: str,
        exceptions: Mapping[date, _Exception],
    ) -> None:
        self.tz = tz
        self._weekly = weekly
        self.staffed = staffed
        self._exceptions = exceptions
        self._holidays: dict[tuple[int, str], dict[date, str]] = {}

    # ---- construction

    @classmethod
    def from_config(cls, contact: Mapping) -> "ContactCalendar":
        """Build the calendar from parsed contact.yaml; raise ValueError naming what is wrong."""
        if not isinstance(contact, Mapping):
            raise ValueError("contact: expected a mapping (the parsed contact.yaml)")
        tz_name = contact.get("timezone", "Europe/Stockholm")
        try:
            tz = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {tz_name!r}; use e.g. Europe/Stockholm") from None
        weekly = _parse_weekly(contact.get("hours"))
        staffed = contact.get("staffed", "phone") or "phone"
        if staffed not in weekly:
            raise ValueError(f"staffed: {staffed!r} is not one of the kinds under hours ({', '.join(weekly)})")
        return cls(tz, weekly, staffed, _parse_exceptions(contact.get("exceptions") or [], weekly))

    # ---- holidays

    def _holiday_map(self, year: int, lang: str = "sv") -> dict[date, str]:
        key = (year, lang)
        if key not in self._holidays:
            self._holidays[key] = swedish_holidays(year, lang)
        return self._holidays[key]

    def holiday_name(self, day: date, lang: str = "sv") -> str | None:
        """Name the Swedish holiday on `day` in `lang` (sv fallback), or None on ordinary days."""
        return self._holiday_map(day.year, lang).get(day)

    def holiday_dates(self, year: int) -> dict[date, str]:
        """List the closed holidays of a year with Swedish names (for other modules' deadlines)."""
        return dict(self._holiday_map(year, "sv"))

    # ---- hours

    def resolve_kind(self, kind: str) -> str:
        """Map "staffed" to the kind it aliases, rejecting unknown kinds early."""
        resolved = self.staffed if kind == "staffed" else kind
        if resolved not in self._weekly:
            raise ValueError(f"unknown kind {kind!r}; use one of {', '.join([*self._weekly, 'staffed'])}")
        return resolved

    def holiday_conflicts(self) -> list[HolidayConflict]:
        """List the days an exception or rule gives hours on a holiday, in date order.

        Such hours apply only with `open_on_holiday: true`; otherwise the holiday wins.
        """
        found = []
        for day, exc in sorted(self._exceptions.items()):
            name = self.holiday_name(day, "sv")
            if name is not None and not exc.all_closed and any(span for span in exc.spans.values()):
                found.append(HolidayConflict(day, name, exc.entry, exc.rule, exc.open_on_holiday))
        return found

    def day_hours(self, kind: str, day: date) -> DayHours:
        """Give the hours of `kind` on `day`: exceptions first, then holidays, then the week.

        An exception opens a holiday only when it says `open_on_holiday: true`.
        """
        kind = self.resolve_kind(kind)
        exc = self._exceptions.get(day)
        if (exc is not None and not exc.all_closed and not exc.open_on_holiday and exc.spans.get(kind)
                and self.holiday_name(day, "sv") is not None):
            exc = None  # the holiday wins over hours that do not say they open it
        if exc is not None and (exc.all_closed or kind in exc.spans):
            reason = exc.notes["sv"] if exc.notes else None
            span = None if exc.all_closed else exc.spans[kind]
            if span is None:
                return DayHours(None, None, reason, "exception", exc.notes)
            return DayHours(span[0], span[1], reason, "exception", exc.notes)
        name = self.holiday_name(day, "sv")
        if name is not None:
            return DayHours(None, None, name, "holiday")
        span = self._weekly[kind].get(day.weekday())
        if span is None:
            return DayHours(None, None, None, "weekend" if day.weekday() >= 5 else None)
        return DayHours(span[0], span[1])

    def reason_text(self, hours: DayHours, day: date, lang: str) -> str | None:
        """Say in `lang` why a day differs: the holiday's name or the staff note."""
        if hours.reason_kind == "holiday":
            return self.holiday_name(day, lang) or hours.reason
        if hours.reason_kind == "exception" and hours.notes:
            return hours.notes.get(lang) or hours.notes.get("sv")
        return hours.reason

    def _at(self, day: date, wall: time) -> datetime:
        """Build an aware datetime for a local wall time; zoneinfo picks the right UTC offset on DST days."""
        return datetime.combine(day, wall, tzinfo=self.tz)

    def _first_opening(self, kind: str, start: date) -> datetime | None:
        for offset in range(_SEARCH_DAYS):
            day = start + timedelta(days=offset)
            dh = self.day_hours(kind, day)
            if dh.opens is not None:
                return self._at(day, dh.opens)
        return None

    def status(self, kind: str, now: datetime) -> OpenStatus:
        """Tell whether `kind` is open at `now` and when it next opens (after this period if open)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(ZoneInfo('Europe/Stockholm')))")
        kind = self.resolve_kind(kind)
        local = now.astimezone(self.tz)
        today = local.date()
        dh = self.day_hours(kind, today)
        instant = now.astimezone(timezone.utc)
        if dh.opens is not None and dh.closes is not None:
            opens_at, closes_at = self._at(today, dh.opens), self._at(today, dh.closes)
            if opens_at.astimezone(timezone.utc) <= instant < closes_at.astimezone(timezone.utc):
                nxt = self._first_opening(kind, today + timedelta(days=1))
                return OpenStatus(kind, True, closes_at, nxt, dh)
            if instant < opens_at.astimezone(timezone.utc):
                return OpenStatus(kind, False, None, opens_at, dh)
        return OpenStatus(kind, False, None, self._first_opening(kind, today + timedelta(days=1)), dh)

    # ---- answering

    def resolve_day(self, query: HoursQuery, today: date) -> date | None:
        """Turn the query's day (relative, weekday or named) into a date on or after `today`."""
        day = query.day
        if isinstance(day, date):
            return day
        if day == "today":
            return today
        if day == "tomorrow":
            return today + timedelta(days=1)
        if isinstance(day, int) and not isinstance(day, bool):
            return today + timedelta(days=(day - today.weekday()) % 7)
        if query.named:
            return next_holiday(query.named, today, self.holiday_dates)
        return None

    def answer(self, query: HoursQuery, now: datetime, lang: str, t: Translate) -> str:
        """Write the reply to an hours question for `now`, every sentence from knowledge."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(self.tz)
        kinds = list(KINDS) if query.kind == "both" else [self.resolve_kind(query.kind)]
        day = self.resolve_day(query, local.date())
        lines: list[str] = []
        if query.period in PERIODS:
            lines += self._period_lines(kinds, query.period, local.date(), lang, t)
        elif query.open_now or query.next_open:
            lines += self._status_lines(kinds, local, lang, t)
            if day is not None and day != local.date():
                lines += self._day_lines(kinds, day, local, lang, t)
        elif day is not None:
            lines += self._day_lines(kinds, day, local, lang, t)
            if query.kind != "both":
                # When to call or visit on a day: that day's hours, the usual week if the day is
                # closed, and whether it is open now.
                if all(self.day_hours(k, day).is_closed for k in kinds):
                    lines += [t(f"hours.weekly_{kind}", hours=self.weekly_text(kind, lang, t)) for kind in kinds]
                lines += self._status_lines(kinds, local, lang, t, header=day != local.date())
            elif day == local.date():
                lines += self._status_lines(kinds, local, lang, t, header=False)
            elif all(self.day_hours(k, day).is_closed for k in kinds):
                lines += self._reopen_lines(kinds, day, local, lang, t)
        else:
            lines += self._overview_lines(kinds, local, lang, t)
        return " ".join(line for line in lines if line)

    def _status_lines(self, kinds: list[str], local: datetime, lang: str, t: Translate,
                      header: bool = True) -> list[str]:
        """Say, per kind, open until when or closed until when; name a holiday/closed day once."""
        statuses = [self.status(k, local) for k in kinds]
        today = local.date()
        lines: list[str] = []
        first = statuses[0].today
        special = header and all(
            s.today.is_closed and s.today.reason_kind == first.reason_kind
            and s.today.reason == first.reason for s in statuses
        ) and first.reason_kind in ("holiday", "exception")
        if special:
            reason = self.reason_text(first, today, lang)
            if first.reason_kind == "holiday":
                lines.append(t("hours.closed_today_holiday", reason=reason or ""))
            else:
                lines.append(t("hours.closed_today_exception" if reason else "hours.closed_today", reason=reason or ""))
        for s in statuses:
            label = t(f"hours.kind.{s.kind}")
            if s.is_open:
                lines.append(t("hours.open_now", kind=label, closes=format_time(s.closes_at, lang, t)))
                if s.today.reason_kind == "exception":
                    note = self.reason_text(s.today, today, lang)
                    if note:
                        lines.append(t("hours.changed_today", reason=note))
            elif s.next_open is None:
                lines.append(t("hours.no_next_open", kind=label))
            else:
                when = format_datetime(s.next_open, lang, t, now=local)
                lines.append(t("hours.next_open" if special else "hours.closed_now", kind=label, when=when))
        return lines

    def _reopen_lines(self, kinds: list[str], day: date, local: datetime, lang: str, t: Translate) -> list[str]:
        """After a closed day: when each kind opens again after it ("har ni öppet på julafton?")."""
        lines = []
        for kind in kinds:
            opens = self._first_opening(kind, day + timedelta(days=1))
            label = t(f"hours.kind.{kind}")
            lines.append(t("hours.next_open", kind=label, when=format_datetime(opens, lang, t, now=local))
                         if opens is not None else t("hours.no_next_open", kind=label))
        return lines

    def _day_lines(self, kinds: list[str], day: date, local: datetime, lang: str, t: Translate) -> list[str]:
        """Give the hours of each kind on one day, with the holiday or staff note if any."""
        lines = []
        when = format_date(day, lang, t)
        if day == local.date():
            when = t("hours.today_date", date=when)
        elif day == local.date() + timedelta(days=1):
            when = t("hours.tomorrow_date", date=when)
        for kind in kinds:
            dh = self.day_hours(kind, day)
            label = t(f"hours.kind_hours.{kind}")
            reason = self.reason_text(dh, day, lang)
            if dh.is_closed:
                key = "hours.day_closed_reason" if reason else "hours.day_closed"
                lines.append(t(key, kind_hours=label, date=when, reason=reason or ""))
            else:
                key = "hours.day_hours_reason" if reason else "hours.day_hours"
                lines.append(t(key, kind_hours=label, date=when, hours=self._span(dh.opens, dh.closes, lang, t),
                               reason=reason or ""))
        return lines

    def _overview_lines(self, kinds: list[str], local: datetime, lang: str, t: Translate) -> list[str]:
        """Give the ordinary week, today's state and the unusual days of the coming week."""
        lines = [t(f"hours.weekly_{kind}", hours=self.weekly_text(kind, lang, t)) for kind in kinds]
        lines.append(t("hours.weekly_closed"))
        lines += self._status_lines(kinds[:1], local, lang, t)
        parts = self._unusual_days(kinds, [local.date() + timedelta(days=i) for i in range(1, 8)], lang, t)
        if parts:
            lines.append(t("hours.upcoming", days="; ".join(parts)))
        return lines

    def _unusual_days(self, kinds: list[str], days: list[date], lang: str, t: Translate) -> list[str]:
        """Say, for each day whose hours differ from the usual week, its hours or that it is closed."""
        parts = []
        for day in days:
            hours = [self.day_hours(k, day) for k in kinds]
            if not any(h.reason_kind in ("holiday", "exception") for h in hours):
                continue
            if day.weekday() >= 5 and not any(h.reason_kind == "exception" for h in hours):
                continue  # a holiday on a weekend changes nothing
            reason = next((self.reason_text(h, day, lang) for h in hours if h.reason_kind), None) or t("hours.reason_changed")
            date_text = format_date(day, lang, t)
            if all(h.is_closed for h in hours):
                parts.append(t("hours.upcoming_closed", date=date_text, reason=reason))
            else:
                spans = [t("hours.kind_span", kind=t(f"hours.kind_short.{k}"),
                           hours=self._span(h.opens, h.closes, lang, t) if not h.is_closed else t("hours.closed_word"))
                         for k, h in zip(kinds, hours)]
                parts.append(t("hours.upcoming_hours", date=date_text, reason=reason, hours=", ".join(spans)))
        return parts

    def period_days(self, period: str, today: date) -> list[date]:
        """The days of the next (or current) holiday period from `today` on, e.g. jul: 20 Dec - 6 Jan."""
        last_name, before = PERIODS[period]
        last = next_holiday(last_name, today, self.holiday_dates)
        if last is None:
            return []
        first = max(today, last - timedelta(days=before))
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def _period_lines(self, kinds: list[str], period: str, today: date, lang: str, t: Translate) -> list[str]:
        """Answer "har ni öppet i jul?": the period's closed and changed days, then the usual hours."""
        parts = self._unusual_days(kinds, self.period_days(period, today), lang, t)
        name = t(f"hours.period.{period}")
        if not parts:
            return [t("hours.period_usual", period=name)]
        return [t("hours.period_days", period=name, days="; ".join(parts)), t("hours.period_rest")]

    @staticmethod
    def _span(opens: time, closes: time, lang: str, t: Translate) -> str:
        return t("hours.span", opens=format_time(opens, lang, t), closes=format_time(closes, lang, t))

    def weekly_text(self, kind: str, lang: str, t: Translate) -> str:
        """Group equal consecutive weekdays: "måndag–torsdag kl. 07.00–17.00, fredag kl. 07.00–16.00"."""
        week = self._weekly[kind]
        groups: list[tuple[int, int, tuple[time, time]]] = []
        for wd in range(7):
            span = week.get(wd)
            if span is None:
                continue
            if groups and groups[-1][1] == wd - 1 and groups[-1][2] == span:
                groups[-1] = (groups[-1][0], wd, span)
            else:
                groups.append((wd, wd, span))
        parts = []
        for first, last, (opens, closes) in groups:
            days = t(f"hours.day.{WEEKDAYS[first]}")
            if last != first:
                days = t("hours.day_range", first=days, last=t(f"hours.day.{WEEKDAYS[last]}"))
            parts.append(t("hours.weekly_part", days=days, hours=self._span(opens, closes, lang, t)))
        return ", ".join(parts)


# --------------------------------------------------------------------------- formatting


def format_time(value: time | datetime, lang: str, t: Translate) -> str:
    """Write a clock time the language's way ("07.00" in Swedish, "7:00" in English)."""
    return t("hours.clock", h=str(value.hour), hh=f"{value.hour:02d}", mm=f"{value.minute:02d}")


def format_date(value: date, lang: str, t: Translate, with_year: bool = False) -> str:
    """Write a date as "måndag 28 december" / "Monday 28 December" (optionally with the year)."""
    if isinstance(value, datetime):
        value = value.date()
    key = "hours.date_year" if with_year else "hours.date"
    return t(key, weekday=t(f"hours.day.{WEEKDAYS[value.weekday()]}"), day=str(value.day),
             month=t(f"hours.month.{value.month}"), year=str(value.year))


def format_datetime(value: datetime, lang: str, t: Translate, now: datetime | None = None) -> str:
    """Write when something happens ("måndag 28 december kl. 07.00"; "i morgon måndag kl. 07.00").

    Given `now`, today and tomorrow are said as such; the wall time is `value`'s own (callers pass
    datetimes in the calendar's zone).
    """
    clock = format_time(value, lang, t)
    weekday = t(f"hours.day.{WEEKDAYS[value.weekday()]}")
    if now is not None:
        local_now = now.astimezone(value.tzinfo) if value.tzinfo and now.tzinfo else now
        delta = (value.date() - local_now.date()).days
        if delta == 0:
            return t("hours.datetime_today", time=clock, weekday=weekday)
        if delta == 1:
            return t("hours.datetime_tomorrow", time=clock, weekday=weekday)
    return t("hours.datetime", date=format_date(value, lang, t), time=clock, weekday=weekday)
