"""Read what a guardian asks about the opening hours: "är ni öppna nu?", "telefontid imorgon".

`parse_question` turns the words into an `HoursQuery` (which kind, which day, open now, next
opening, a schedule); `common.calendar.ContactCalendar.answer` writes the reply to it. Small and
table-driven: cue words over folded text, typos caught by fuzzy word matching.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date

from rapidfuzz import fuzz

from common.calendar import HoursQuery, next_holiday

__all__ = ["parse_question"]



def _fold(text: str) -> str:
    """Lower-case, drop accents (å->a, ä->a, ö->o) and punctuation, so typed variants compare equal."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# Cue tables over folded text. A cue matches at the start of a word ("besok" matches "besoka",
# "besokstid"); multi-word cues match as phrases. Typos are caught by fuzzy word matching below.
_FUZZY_MIN = 84  # rapidfuzz ratio for a misspelt cue word ("telefpn"); 80 let "visst" pass as "visit"
_PHONE_CUES = ("telefon", "telfon", "telefn", "ring", "samtal", "phone", "call", "telephone")
_VISIT_CUES = ("besok", "besak", "kontor", "komma in", "komma forbi", "kommer in", "radhus", "reception",
               "visit", "office", "in person", "come in", "come by", "drop in", "walk in", "kyrkogatan")
_TODAY_CUES = ("idag", "i dag", "ikvall", "i kvall", "today", "tonight", "this afternoon", "this morning")
_TOMORROW_CUES = ("imorgon", "i morgon", "imorn", "i morn", "imorrn", "i morrn", "imorron", "i morron",
                  "imorgn", "tomorrow", "tomorow", "tommorow", "tommorrow", "tmrw", "tmr")
_NOW_CUES = ("nu", "just nu", "now", "right now", "currently", "at the moment", "for tillfallet", "nuvarande")
_NEXT_CUES = ("oppnar", "oppnas", "oppna igen", "oppet igen", "open again", "reopen", "opens", "do you open",
              "will you open", "next open", "nasta gang")
_WEEKEND_CUES = ("helgen", "i helg", "veckoslut", "weekend")
_WHEN_CUES = ("nar", "when", "vilka tider", "what time", "tider", "oppettid", "hours", "telefontid",
              "besokstid", "schedule")
_OPEN_CUES = ("oppet", "oppen", "oppna", "open", "stangt", "stangd", "closed", "svarar", "answer")
_WEEKDAY_CUES: tuple[tuple[str, int], ...] = (
    ("mandag", 0), ("tisdag", 1), ("onsdag", 2), ("torsdag", 3), ("fredag", 4), ("lordag", 5), ("sondag", 6),
    ("monday", 0), ("tuesday", 1), ("wednesday", 2), ("thursday", 3), ("friday", 4), ("saturday", 5),
    ("sunday", 6),
)
# Named days -> the Swedish name the `holidays` package uses, so movable feasts need no arithmetic.
_NAMED_CUES: tuple[tuple[str, str], ...] = (
    ("julafton", "Julafton"), ("christmas eve", "Julafton"), ("xmas eve", "Julafton"),
    ("juldag", "Juldagen"), ("christmas day", "Juldagen"), ("xmas day", "Juldagen"),
    ("annandag jul", "Annandag jul"), ("annandagen", "Annandag jul"), ("boxing day", "Annandag jul"),
    ("nyarsafton", "Nyårsafton"), ("nyars afton", "Nyårsafton"), ("new years eve", "Nyårsafton"),
    ("new year s eve", "Nyårsafton"), ("nyarsdag", "Nyårsdagen"), ("new years day", "Nyårsdagen"),
    ("new year s day", "Nyårsdagen"), ("trettondag", "Trettondedag jul"), ("epiphany", "Trettondedag jul"),
    ("midsommarafton", "Midsommarafton"), ("midsommar afton", "Midsommarafton"),
    ("midsummer eve", "Midsommarafton"), ("midsommardag", "Midsommardagen"), ("midsummer day", "Midsommardagen"),
    ("langfredag", "Långfredagen"), ("good friday", "Långfredagen"), ("annandag pask", "Annandag påsk"),
    ("easter monday", "Annandag påsk"), ("kristi himmelsfard", "Kristi himmelsfärdsdag"),
    ("ascension", "Kristi himmelsfärdsdag"), ("nationaldag", "Nationaldagen"), ("national day", "Nationaldagen"),
    ("forsta maj", "Första maj"), ("1 maj", "Första maj"), ("may day", "Första maj"),
    ("alla helgons", "Alla helgons dag"), ("all saints", "Alla helgons dag"),
)
# A whole holiday period named loosely ("i jul", "över påsk"), checked after the exact names: the
# reply lists the period's days. "jul" is matched as a whole word only (not "juli").
_PERIOD_WORDS: tuple[tuple[str, str], ...] = (
    ("jul", "jul"), ("julen", "jul"), ("julhelgen", "jul"), ("julhelgerna", "jul"), ("christmas", "jul"),
    ("xmas", "jul"), ("pask", "pask"), ("easter", "pask"), ("midsommar", "midsommar"), ("midsummer", "midsommar"),
)
_PERIOD_PREFIXES = ("pask", "easter", "midsommar", "midsummer", "christmas", "julhelg")


def _period(words: list[str]) -> str | None:
    """Find a holiday period named in the words ("i jul", "påskhelgen", "over Christmas")."""
    for w in words:
        for cue, period in _PERIOD_WORDS:
            if w == cue or (cue in _PERIOD_PREFIXES and w.startswith(cue)):
                return period
    return None


def _has(folded: str, words: list[str], cues: tuple[str, ...], fuzzy: bool = False) -> bool:
    padded = f" {folded} "
    for cue in cues:
        if " " in cue:
            if f" {cue}" in padded:
                return True
        elif any(w.startswith(cue) for w in words):
            return True
    if fuzzy:
        single = [c for c in cues if " " not in c.strip() and len(c) >= 5]
        return any(len(w) >= 5 and fuzz.ratio(w, c) >= _FUZZY_MIN for w in words for c in single)
    return False


def _exact_word(folded: str, cues: tuple[str, ...]) -> bool:
    padded = f" {folded} "
    return any(f" {c} " in padded for c in cues)


def _weekday(words: list[str]) -> int | None:
    """Find a weekday named in the words, by prefix ("fredagen") or a close misspelling ("fredg")."""
    for w in words:
        for cue, wd in _WEEKDAY_CUES:
            if w.startswith(cue):
                return wd
    for w in words:
        if len(w) < 5:
            continue
        score, wd = max((fuzz.ratio(w, cue), wd) for cue, wd in _WEEKDAY_CUES)
        if score >= _FUZZY_MIN:
            return wd
    return None


def parse_question(text: str, lang: str = "sv", today: date | None = None) -> HoursQuery:
    """Read what a guardian asks about hours, tolerating typos and missing å/ä/ö.

    Small and table-driven on purpose: the engine has already decided this is an hours question.
    """
    folded = _fold(text)
    words = folded.split()
    phone = _has(folded, words, _PHONE_CUES, fuzzy=True)
    visit = _has(folded, words, _VISIT_CUES, fuzzy=True)
    kind = "phone" if phone and not visit else "visiting" if visit and not phone else "both"

    named = None
    for cue, name in _NAMED_CUES:
        if _has(folded, words, (cue,)):
            named = name
            break
    period = _period(words) if named is None else None
    day: str | int | date | None = None
    if period is not None:
        pass
    elif named is None:
        if _has(folded, words, _TOMORROW_CUES):
            day = "tomorrow"
        elif _exact_word(folded, _TODAY_CUES) or _has(folded, words, ("idag", "today")):
            day = "today"
        else:
            day = _weekday(words)
            if day is None and _has(folded, words, _WEEKEND_CUES):
                day = 5  # "i helgen", "this weekend": the Saturday (closed days say so, with the next open)
    elif today is not None:
        day = next_holiday(named, today)

    now_word = _exact_word(folded, _NOW_CUES)
    next_open = _has(folded, words, _NEXT_CUES)
    when = _has(folded, words, _WHEN_CUES)
    open_word = _has(folded, words, _OPEN_CUES)
    open_now = now_word or (open_word and not when and not next_open and day is None and named is None
                            and period is None)
    # A schedule: when to call or visit ("när kan jag ringa er"), or any question about a named day
    # other than today ("har ni öppet på julafton?"): the words decide the reply, not the entry.
    asks_day = named is not None or day not in (None, "today")
    schedule = ((kind != "both" and (when or day is not None)) or asks_day) and not open_now and not next_open
    return HoursQuery(kind=kind, day=day, open_now=bool(open_now), next_open=bool(next_open), named=named,
                      schedule=schedule, period=period)
