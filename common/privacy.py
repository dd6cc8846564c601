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
import unicodedata
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

# What people type is normalised before numbers are looked for (see `_normalise`): Unicode NFKC
# (full-width digits become 0-9), zero-width and other invisible format characters dropped, every
# dash (en dash, minus sign, ...) read as '-' and every space (no-break, thin, ...) as ' '.
#
# A personnummer or samordningsnummer: YYMMDD or YYYYMMDD (or YY MM DD / YYYY-MM-DD, the same
# separator twice), an optional separator ('-', '+' for 100+ years, '_' or spaces), then the last
# four digits (or "12 34"). Never glued to other digits, so parts of longer numbers (bank
# accounts, order numbers) never match.
_SEP = r"(?: *[-+_] *| +)"
_PNR_RE = re.compile(
    r"(?<![\d+])"
    r"(?P<century>18|19|20)?(?P<yy>\d{2})(?P<ds>[ _-]?)(?P<mm>\d{2})(?P=ds)(?P<dd>\d{2})"
    rf"(?P<sep>{_SEP})?"
    r"(?P<n1>\d{2})(?P<ns> ?)(?P<n2>\d{2})"
    r"(?!\d)"
)
# Swedish mobile numbers (07x) are 10 digits too; written without separators they are only
# treated as a personnummer when the check digit also fits.
_MOBILE_PREFIX = re.compile(r"^07[02369]")
_DIGIT = re.compile(r"\d")
# Characters people (or their phones) put into numbers without meaning anything by them.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"}

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: starts with 0, +CC or 00CC, then digits with optional space/hyphen groups.
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s\-()]{5,18}\d(?![\d])")

# Password cues (sv/en), then a separator and the value. A strong separator (':' or '=' or a
# copula: "är", "is", "blev") says a value follows, so the word after it is masked unless it
# describes a problem ("mitt lösenord är fel"). After a weak one (only a space, or "to"/"till":
# "lösenordet Sommar99xyz", "changed my password to Tr0ub4dor&3") the word is masked only when it
# looks like a secret (see `_looks_secret`), so "mitt lösenord fungerar inte" stays readable.
_PASSWORD_RE = re.compile(
    r"(?ix)"
    r"\b(?P<cue>"
    r"l[öo]sen(?:ord(?:et)?)?|nytt\s+l[öo]senord|"
    r"pin-?kod(?:en)?|pin\s*code|pin|"
    r"pass(?:word|ord|wd|code)|pwd|pw"
    r")"
    r"(?P<sep>\s*[:=]\s*"
    r"|\s+(?P<copula>är|ar|is|was|var|blir|blev|became|will\s+be|=)(?:\s+(?:nu|now))?\s*[:=]?\s*"
    r"|\s+(?:(?:to|till|nu|now)\s+)?)"
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


# Text of ASCII and Latin-1 letters (Swedish, most typed messages) has nothing `_normalise`
# changes but its ASCII white space: it is normalised without a loop over its characters.
_PLAIN = re.compile(r"[\x00-\x7f\xc0-\xff]*")
_ASCII_SPACES = {ord(c): " " for c in map(chr, range(128)) if c.isspace()}


def _normalise(text: str) -> tuple[str, list[int] | range]:
    """Return the text as numbers are looked for in it, and for each of its characters the index
    of the character of `text` it came from (so what is found can be cut out of the original)."""
    if _PLAIN.fullmatch(text):
        return text.translate(_ASCII_SPACES), range(len(text))
    return _normalise_each(text)


def _normalise_each(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in _INVISIBLE or (ch > "\x7f" and unicodedata.category(ch) == "Cf"):
            continue
        if ch > "\x7f":
            if unicodedata.category(ch) == "Pd" or ch == "\u2212":
                ch = "-"
            elif ch.isspace():
                ch = " "
            else:
                ch = unicodedata.normalize("NFKC", ch)
        elif ch.isspace():
            ch = " "
        out.append(ch)
        origin.extend([i] * len(ch))
    return "".join(out), origin


def _is_personnummer(norm: str, m: re.Match) -> bool:
    """Decide whether a candidate is a personnummer: a real date (day+60 for a samordningsnummer);
    the check digit must fit too when only spaces separate the parts ("2013 05 15 2389"), or when
    ten bare digits could be a mobile number."""
    century, yy, mm, dd, sep = m.group("century", "yy", "mm", "dd", "sep")
    if not _valid_birth_date(century, yy, mm, dd):
        return False
    ten = yy + mm + dd + m.group("n1") + m.group("n2")
    loose = bool(m.group("ds") or m.group("ns"))
    if loose:
        # Spaced groups must not run on into more digit groups (phone numbers, date ranges).
        before, after = norm[max(0, m.start() - 2):m.start()], norm[m.end():m.end() + 2]
        if re.fullmatch(r"[\d+][ _-]", before) or re.match(r"[ _-]\d", after):
            return False
    strong = sep is not None and any(c in sep for c in "-+_")
    if loose and not strong:
        return luhn_ok(ten)
    if not century and not sep and _MOBILE_PREFIX.match(ten) and not luhn_ok(ten):
        return False  # "0701234567" is far more likely a mobile number than a personnummer
    return True


def _pnr_spans(norm: str) -> list[tuple[int, int]]:
    """Return the (start, end) of each personnummer in the normalised text, left to right."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for digit in _DIGIT.finditer(norm):  # a number only starts at a digit (\d)
        start = digit.start()
        if start < pos:
            continue
        m = _PNR_RE.match(norm, start)
        if m is not None and _is_personnummer(norm, m):
            spans.append((m.start(), m.end()))
            pos = m.end()
    return spans


def _looks_secret(value: str) -> bool:
    """Say whether a word typed after a weak password cue looks like a password, not prose."""
    if len(value) < 4 or value.lower() in _NOT_A_PASSWORD or value in (PNR_TOKEN, PASSWORD_TOKEN):
        return False
    return any(c.isdigit() for c in value) or any(not c.isalnum() and c not in "-'/" for c in value)


def _password_spans(norm: str) -> list[tuple[int, int]]:
    """Return the (start, end) of each password value in the normalised text."""
    spans = []
    for m in _PASSWORD_RE.finditer(norm):
        value, start = m.group("value"), m.start("value")
        if value[0] not in "\"'«":
            value = value.rstrip(_TRAILING)
        if not value or value in (PNR_TOKEN, PASSWORD_TOKEN):
            continue
        explicit = any(c in m.group("sep") for c in ":=")
        if explicit or m.group("copula"):
            if not explicit and value.lower() in _NOT_A_PASSWORD:
                continue  # "mitt lösenord är fel" describes a problem; "lösenord: fel" types one
        elif not _looks_secret(value):
            continue
        spans.append((start, start + len(value)))
    return spans


def looks_like_personnummer(text: str) -> bool:
    """Say whether the text contains something that may be a personnummer or samordningsnummer."""
    return bool(_pnr_spans(_normalise(unicodedata.normalize("NFC", text))[0]))


def mask(text: str) -> MaskResult:
    """Mask identity numbers and passwords before a message is stored or shown to staff.

    The text is searched in its normalised form (`_normalise`), but only what was found is
    replaced: the rest of the message reads exactly as it was typed.
    """
    nfc = unicodedata.normalize("NFC", text)
    norm, origin = _normalise(nfc)
    pnr = _pnr_spans(norm)
    passwords = [s for s in _password_spans(norm) if not any(s[0] < e and b < s[1] for b, e in pnr)]
    if not pnr and not passwords:
        return MaskResult(text, frozenset())
    out, last = [], 0
    for (start, end), token in sorted([(s, PNR_TOKEN) for s in pnr] + [(s, PASSWORD_TOKEN) for s in passwords]):
        o_start, o_end = origin[start], origin[end - 1] + 1
        out.append(nfc[last:o_start])
        out.append(token)
        last = o_end
    out.append(nfc[last:])
    found = {"personnummer"} if pnr else set()
    if passwords:
        found.add("password")
    return MaskResult("".join(out), frozenset(found))


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


# The disposal decision a guardian may be told -----------------------------------------------------

PLACEHOLDER_MARKER = "retention_decision_placeholder"
UNNAMED_DECISION = "retention_decision_unnamed"


def privacy_settings(settings: dict) -> dict:
    """Return settings.yaml's `privacy:` section ({} when missing or not a mapping)."""
    privacy = settings.get("privacy") if isinstance(settings, dict) else None
    return privacy if isinstance(privacy, dict) else {}


def is_placeholder(settings: dict) -> bool:
    """Tell whether settings.yaml marks the retention decision as a placeholder."""
    return privacy_settings(settings).get(PLACEHOLDER_MARKER) is True


def public_retention_decision(settings: dict, lang: str) -> str:
    """Return the disposal decision a guardian may be told in `lang`: the decision itself, or
    while it is marked as a placeholder the wording without a decision number. Every place that
    shows the decision (the privacy command, FAQ answers, the privacy page) uses this."""
    key = UNNAMED_DECISION if is_placeholder(settings) else "retention_decision"
    texts = privacy_settings(settings).get(key)
    return texts.get(lang, "") if isinstance(texts, dict) else ""
