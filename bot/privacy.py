"""Mask personal identity numbers and passwords, and decide when transcripts are disposed of.

Chat transcripts are public records (allmänna handlingar): what a guardian types is kept under a
disposal decision (gallringsbeslut). So identity numbers and passwords typed by mistake are masked
*before* storage, and retention is configuration that names the decision it rests on.

Pure: no I/O, no clock (callers pass `now`).

Tokens written in place of what was masked (language-neutral, so stored transcripts read the same
for every staff member and can be searched for):

    [PNR]       a personnummer or samordningsnummer (also when its check digit is wrong)
    [PASSWORD]  the word after a password cue ("lösenord: ...", "my password is ...")
    [EMAIL]     an e-mail address              (mask_contact only)
    [PHONE]     a phone number                 (mask_contact only)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Mapping

__all__ = [
    "PNR_TOKEN",
    "PASSWORD_TOKEN",
    "EMAIL_TOKEN",
    "PHONE_TOKEN",
    "MaskResult",
    "mask",
    "mask_contact",
    "looks_like_personnummer",
    "luhn_ok",
    "RetentionPolicy",
]

PNR_TOKEN = "[PNR]"
PASSWORD_TOKEN = "[PASSWORD]"
EMAIL_TOKEN = "[EMAIL]"
PHONE_TOKEN = "[PHONE]"

# YYMMDD or YYYYMMDD, an optional separator ('-', '+' for 100+ years, or a space; spaces around
# '-'/'+' tolerated), then four digits. Not glued to other digits, so parts of longer numbers
# (bank accounts, order numbers) never match.
_PNR_RE = re.compile(
    r"(?<![\d])"
    r"(?P<century>18|19|20)?(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})"
    r"(?P<sep>\s?[-+]\s?|\s)?"
    r"(?P<num>\d{4})"
    r"(?![\d])"
)
# Swedish mobile numbers (07x) are 10 digits too; written without separators they are only
# treated as a personnummer when the check digit also fits.
_MOBILE_PREFIX = re.compile(r"^07[02369]")

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: starts with 0, +CC or 00CC, then digits with optional space/hyphen groups.
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s\-()]{5,18}\d(?![\d])")

# Password cues (sv/en) followed by a separator: ':' or '=' or a copula ("är", "is", "was").
_PASSWORD_RE = re.compile(
    r"(?ix)"
    r"\b(?P<cue>"
    r"l[öo]sen(?:ord(?:et)?)?|nytt\s+l[öo]senord|"
    r"pin-?kod(?:en)?|pin\s*code|pin|"
    r"pass(?:word|ord|wd|code)|pwd|pw"
    r")"
    r"(?P<sep>\s*[:=]\s*|\s+(?:är|ar|is|was|var|blir|will\s+be|=)\s*[:=]?\s*)"
    r"(?P<value>\"[^\"\n]+\"|'[^'\n]+'|«[^»\n]+»|\S+)"
)
# Words that follow "my password is ..." when people describe a problem, not type the secret.
_NOT_A_PASSWORD = {
    "fel", "för", "for", "inte", "ej", "glömt", "glomt", "borta", "ogiltigt", "ogiltig", "rätt", "ratt",
    "samma", "utgånget", "utganget", "spärrat", "sparrat", "låst", "last", "kort", "långt", "langt",
    "nytt", "gammalt", "okej", "ok", "det", "den", "ett", "en", "mitt", "min", "som", "också", "ocksa",
    "wrong", "not", "too", "incorrect", "correct", "invalid", "expired", "forgotten", "lost", "locked",
    "the", "my", "a", "an", "same", "new", "old", "blocked", "fine", "right", "it", "also", "still",
    "missing", "empty", "tomt", "kvar", "ändrat", "andrat", "changed", "reset", "återställt",
}
# Sentence punctuation after the value stays visible; "!" and "?" are common in passwords, so they go.
_TRAILING = ".,;:)»"


@dataclass(frozen=True)
class MaskResult:
    """Give the masked text and which kinds were found, so the bot can warn the guardian."""

    text: str
    found: frozenset[str] = field(default_factory=frozenset)  # {"personnummer", "password"}


def luhn_ok(ten_digits: str) -> bool:
    """Check the personnummer control digit (Luhn over the 10 digits without century)."""
    if len(ten_digits) != 10 or not ten_digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(ten_digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_birth_date(century: str | None, yy: str, mm: str, dd: str) -> bool:
    """Say whether the digits can be a birth date (day+60 for samordningsnummer)."""
    month, day = int(mm), int(dd)
    if day > 60:
        day -= 60
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return False
    years = [int(century + yy)] if century else [1900 + int(yy), 2000 + int(yy)]
    for year in years:
        try:
            date(year, month, day)
            return True
        except ValueError:
            continue
    return False


def _pnr_matches(text: str) -> list[re.Match]:
    found = []
    for m in _PNR_RE.finditer(text):
        century, yy, mm, dd, sep, num = m.group("century", "yy", "mm", "dd", "sep", "num")
        if not _valid_birth_date(century, yy, mm, dd):
            continue
        ten = yy + mm + dd + num
        if not century and not sep and _MOBILE_PREFIX.match(ten) and not luhn_ok(ten):
            continue  # "0701234567" is far more likely a mobile number than a personnummer
        found.append(m)
    return found


def looks_like_personnummer(text: str) -> bool:
    """Say whether the text contains something that may be a personnummer or samordningsnummer."""
    return bool(_pnr_matches(text))


def _mask_pnr(text: str) -> tuple[str, bool]:
    matches = _pnr_matches(text)
    for m in reversed(matches):
        text = text[: m.start()] + PNR_TOKEN + text[m.end():]
    return text, bool(matches)


def _mask_passwords(text: str) -> tuple[str, bool]:
    found = False

    def repl(m: re.Match) -> str:
        nonlocal found
        value = m.group("value")
        tail = ""
        if value[0] not in "\"'«":
            stripped = value.rstrip(_TRAILING)
            tail = value[len(stripped):]
            value = stripped
        if not value or value == PNR_TOKEN:
            return m.group(0)
        explicit = any(c in m.group("sep") for c in ":=")
        if not explicit and value.lower() in _NOT_A_PASSWORD:
            return m.group(0)  # "mitt lösenord är fel" describes a problem; "lösenord: fel" types one
        found = True
        return m.group("cue") + m.group("sep") + PASSWORD_TOKEN + tail

    return _PASSWORD_RE.sub(repl, text), found


def mask(text: str) -> MaskResult:
    """Mask identity numbers and passwords before a message is stored or shown to staff."""
    masked, pnr = _mask_pnr(text)
    masked, password = _mask_passwords(masked)
    found = set()
    if pnr:
        found.add("personnummer")
    if password:
        found.add("password")
    return MaskResult(masked, frozenset(found))


def _mask_phone(m: re.Match) -> str:
    raw = m.group(0)
    digits = re.sub(r"\D", "", raw)
    starts_ok = raw.startswith(("+", "00", "0"))
    if not starts_ok or not 7 <= len(digits) <= 15:
        return raw
    return PHONE_TOKEN


def mask_contact(text: str) -> str:
    """Mask identity numbers, passwords, e-mail addresses and phone numbers (staff gap reports)."""
    masked = mask(text).text
    masked = _EMAIL_RE.sub(EMAIL_TOKEN, masked)
    return _PHONE_RE.sub(_mask_phone, masked)


# --------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class RetentionPolicy:
    """Hold how long transcripts are kept and the disposal decision (gallringsbeslut) behind it."""

    days: int
    decision: Mapping[str, str]

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"retention days must be a whole number of at least 1, got {self.days!r}")
        if not isinstance(self.decision, Mapping) or not all(
            isinstance(self.decision.get(lang), str) and self.decision[lang].strip() for lang in ("sv", "en")
        ):
            raise ValueError("retention decision must name the disposal decision in sv and en")

    @classmethod
    def from_settings(cls, settings: Mapping) -> "RetentionPolicy":
        """Build the policy from parsed settings.yaml (`privacy.retention_days`, default 90)."""
        privacy = (settings or {}).get("privacy") or {}
        return cls(days=privacy.get("retention_days", 90), decision=privacy.get("retention_decision") or {})

    def cutoff(self, now: datetime) -> datetime:
        """Give the instant before which a conversation's last activity makes it due for disposal."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        return now - timedelta(days=self.days)

    def expired(self, last_activity: datetime, now: datetime) -> bool:
        """Say whether a conversation last active at `last_activity` must now be disposed of."""
        if last_activity.tzinfo is None or last_activity.utcoffset() is None:
            raise ValueError("last_activity must be timezone-aware")
        return last_activity < self.cutoff(now)
