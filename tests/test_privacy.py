"""Masking of identity numbers, passwords and contact details; the retention cutoff."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from common.privacy import (
    EMAIL_TOKEN,
    PASSWORD_TOKEN,
    PHONE_TOKEN,
    PNR_TOKEN,
    RetentionPolicy,
    looks_like_personnummer,
    luhn_ok,
    mask,
    mask_contact,
)

TZ = ZoneInfo("Europe/Stockholm")


# --------------------------------------------------------------------------- personnummer


@pytest.mark.parametrize("text, expected", [
    ("121212-1212", PNR_TOKEN),                                    # valid Luhn (Skatteverket's example)
    ("121212-1213", PNR_TOKEN),                                    # wrong check digit: still personal data
    ("19121212-1212", PNR_TOKEN),                                  # 12 digits with separator
    ("191212121212", PNR_TOKEN),                                   # 12 digits
    ("201512121234", PNR_TOKEN),                                   # a child born 2015, bad Luhn
    ("1212121212", PNR_TOKEN),                                     # 10 digits
    ("121212+1212", PNR_TOKEN),                                    # '+' for 100 years or more
    ("121212 1212", PNR_TOKEN),                                    # space separator
    ("121212 - 1212", PNR_TOKEN),                                  # spaces around the hyphen
    ("121272-1219", PNR_TOKEN),                                    # samordningsnummer (day + 60)
    ("19121272-1219", PNR_TOKEN),                                  # 12-digit samordningsnummer
    ("000229-1234", PNR_TOKEN),                                    # 29 Feb 2000 exists
    ("mitt personnummer är 850709-9805.", f"mitt personnummer är {PNR_TOKEN}."),
    ("Dottern (150612-1234) syns inte", f"Dottern ({PNR_TOKEN}) syns inte"),
    ("pnr:121212-1212", f"pnr:{PNR_TOKEN}"),
    ("barnen 121212-1212 och 20150612-1234, tack",
     f"barnen {PNR_TOKEN} och {PNR_TOKEN}, tack"),                 # several in one text
])
def test_personnummer_is_masked(text, expected):
    result = mask(text)
    assert result.text == expected
    if PNR_TOKEN in expected:
        assert "personnummer" in result.found
        assert looks_like_personnummer(text)


@pytest.mark.parametrize("text", [
    "ring 035-13 70 00",                          # Halmstad direkt's phone number
    "+46 35 13 70 00",
    "070-123 45 67",
    "0701234567",                                 # a mobile number whose check digit does not fit
    "den 2026-12-24 kl. 10:00",                   # a date and a time
    "20261224",                                   # a compact date
    "kl 07.00-17.00",
    "org.nr 212000-1355",                         # Halmstads kommun's organisation number (month 20)
    "121312-1212",                                # month 13
    "121232-1212",                                # day 32
    "121292-1212",                                # day 92 (samordningsnummer stop at 91)
    "010229-1234",                                # 29 Feb 1901/2001 does not exist
    "123456789012345",                            # a long number: no part of it matches
    "ärende 4567, 12345 kr",
    "kontonummer 8327-9 123 456 789-0",
])
def test_non_identity_numbers_are_left_alone(text):
    result = mask(text)
    assert result.text == text
    assert result.found == set()
    assert not looks_like_personnummer(text)


def test_a_mobile_written_without_separators_is_masked_when_its_check_digit_fits():
    # 070101-xxxx is also a valid date in 2007; with a fitting check digit it is treated as a pnr.
    candidates = [f"070101{n:04d}" for n in range(20)]
    valid = next(c for c in candidates if luhn_ok(c))
    invalid = next(c for c in candidates if not luhn_ok(c))
    assert mask(valid).text == PNR_TOKEN
    assert mask(invalid).text == invalid
    assert mask(invalid[:6] + "-" + invalid[6:]).text == PNR_TOKEN  # the hyphen says personnummer


def test_luhn():
    assert luhn_ok("1212121212")
    assert luhn_ok("8507099805")
    assert not luhn_ok("1212121213")
    assert not luhn_ok("12121212")
    assert not luhn_ok("12121212ab")


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize("text, expected", [
    ("lösenord: hemligt123", f"lösenord: {PASSWORD_TOKEN}"),
    ("Lösenordet är Sommar2026!", f"Lösenordet är {PASSWORD_TOKEN}"),
    ("mitt lösen är kaffe99", f"mitt lösen är {PASSWORD_TOKEN}"),
    ("losenord=abc", f"losenord={PASSWORD_TOKEN}"),
    ("my password is hunter2.", f"my password is {PASSWORD_TOKEN}."),
    ("Password: wrong", f"Password: {PASSWORD_TOKEN}"),            # typed after a colon: mask it
    ('my password is "correct horse".', f"my password is {PASSWORD_TOKEN}."),
    ("pinkoden är 4711", f"pinkoden är {PASSWORD_TOKEN}"),
    ("användare anna, lösenord: x1, tack", f"användare anna, lösenord: {PASSWORD_TOKEN}, tack"),
])
def test_password_after_cue_is_masked(text, expected):
    result = mask(text)
    assert result.text == expected
    assert result.found == {"password"}


@pytest.mark.parametrize("text", [
    "mitt lösenord är fel",
    "jag har glömt mitt lösenord",
    "lösenordet är för kort",
    "my password is not working",
    "the password was wrong",
    "hur byter jag lösenord i appen?",
    "passet är borta",
])
def test_password_talk_without_a_password_is_left_alone(text):
    assert mask(text).text == text
    assert mask(text).found == set()


def test_personnummer_and_password_together():
    result = mask("pnr 121212-1212, lösenord: abc123")
    assert result.text == f"pnr {PNR_TOKEN}, lösenord: {PASSWORD_TOKEN}"
    assert result.found == {"personnummer", "password"}


def test_plain_question_is_untouched():
    text = "Hur aktiverar jag appen? Jag har BankID."
    assert mask(text).text == text and not mask(text).found


# --------------------------------------------------------------------------- contact details


@pytest.mark.parametrize("text, expected", [
    ("mejla anna.svensson@example.se", f"mejla {EMAIL_TOKEN}"),
    ("a+b@sub.example.com, tack", f"{EMAIL_TOKEN}, tack"),
    ("ring 070-123 45 67 i morgon", f"ring {PHONE_TOKEN} i morgon"),
    ("ring 0701234567", f"ring {PHONE_TOKEN}"),
    ("nummer +46 35 13 70 00.", f"nummer {PHONE_TOKEN}."),
    ("035-13 70 00", PHONE_TOKEN),
    ("0046 70 123 45 67", PHONE_TOKEN),
    ("pnr 121212-1212 mejl x@y.se", f"pnr {PNR_TOKEN} mejl {EMAIL_TOKEN}"),
    ("lösenord: p@ss", f"lösenord: {PASSWORD_TOKEN}"),
])
def test_mask_contact(text, expected):
    assert mask_contact(text) == expected


@pytest.mark.parametrize("text", [
    "den 2026-12-24 kl. 10:00",
    "öppet 07.00-17.00",
    "ärende 4567 från 2026",
    "Hur aktiverar jag appen?",
])
def test_mask_contact_leaves_dates_and_times(text):
    assert mask_contact(text) == text


def test_mask_does_not_touch_email_or_phone():
    text = "anna@example.se 070-123 45 67"
    assert mask(text).text == text


# --------------------------------------------------------------------------- retention

DECISION = {"sv": "Gallringsbeslut KS 2026/1", "en": "Disposal decision KS 2026/1"}


def test_retention_cutoff_and_expiry():
    policy = RetentionPolicy(days=90, decision=DECISION)
    now = datetime(2026, 12, 24, 10, 0, tzinfo=TZ)
    cutoff = policy.cutoff(now)
    assert cutoff == now - timedelta(days=90)
    assert policy.expired(cutoff - timedelta(seconds=1), now)
    assert not policy.expired(cutoff, now)
    assert not policy.expired(now - timedelta(days=89), now)
    assert policy.expired(now - timedelta(days=91), now)
    # Another zone for the same instant gives the same answer.
    assert policy.expired((cutoff - timedelta(seconds=1)).astimezone(timezone.utc), now)


def test_retention_from_settings():
    policy = RetentionPolicy.from_settings({"privacy": {"retention_days": 30, "retention_decision": DECISION}})
    assert policy.days == 30 and policy.decision["sv"] == DECISION["sv"]
    assert RetentionPolicy.from_settings({"privacy": {"retention_decision": DECISION}}).days == 90


@pytest.mark.parametrize("days, decision, message", [
    (0, DECISION, "at least 1"),
    (-5, DECISION, "at least 1"),
    ("90", DECISION, "whole number"),
    (True, DECISION, "whole number"),
    (90, {"sv": "Beslut"}, "sv and en"),
    (90, {}, "sv and en"),
    (90, {"sv": " ", "en": "x"}, "sv and en"),
])
def test_retention_policy_refuses_bad_configuration(days, decision, message):
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(days=days, decision=decision)


def test_retention_needs_aware_times():
    policy = RetentionPolicy(days=90, decision=DECISION)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.cutoff(datetime(2026, 12, 24, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.expired(datetime(2026, 1, 1), datetime(2026, 12, 24, tzinfo=TZ))


# --------------------------------------------------------------------------- written forms (issue 13)

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from datetime import date  # noqa: E402


def _check_digit(nine: str) -> str:
    """The digit that makes `nine` + digit pass the Luhn check."""
    return next(str(d) for d in range(10) if luhn_ok(nine + str(d)))


@pytest.mark.parametrize("text", [
    "850101\u20131234",                 # en dash
    "850101\u20141234",                 # em dash
    "850101\u22121234",                 # minus sign
    "85 01 01-1234",                    # spaces inside the date
    "19850101_1234",                    # underscore
    "2013-05-15-2389",                  # dashes inside the date
    "2013 05 15 2389",                  # spaces only (the check digit fits)
    "\uff18\uff15\uff10\uff11\uff10\uff11-\uff11\uff12\uff13\uff14",   # full-width digits
    "850101\u200b-1234",                # a zero-width space before the dash
    "850101-12 34",                     # a space inside the last four
    "850101\u00a0-\u00a01234",          # no-break spaces around the dash
    "85\u200b0101-1234",                # a zero-width space inside the date
])
def test_personnummer_in_other_written_forms_is_masked(text):
    result = mask(f"Mitt barn har {text}, hjälp")
    assert result.text == f"Mitt barn har {PNR_TOKEN}, hjälp"
    assert result.found == {"personnummer"}
    assert looks_like_personnummer(text)


@pytest.mark.parametrize("text", [
    "070-123 45 67", "070\u2013123 45 67", "070 123 45 67", "070-1234567", "+46 70 123 45 67",
    "0046 70-123 45 67", "035-13 70 00", "08-123 456 78", "0346-12 34 56", "\uff10\uff17\uff10-123 45 67",
    "2026-12-24 - 2027-01-06",          # a date range
    "2013 05 15 2388",                  # a date and a number whose check digit does not fit
])
def test_phone_numbers_and_dates_in_other_written_forms_are_kept(text):
    result = mask(f"ring {text} tack")
    assert result.text == f"ring {text} tack"
    assert result.found == set()


@pytest.mark.parametrize("text, expected", [
    ("lösenordet Sommar99xyz", f"lösenordet {PASSWORD_TOKEN}"),
    ("my password hunter2secret", f"my password {PASSWORD_TOKEN}"),
    ("I changed my password to Tr0ub4dor&3", f"I changed my password to {PASSWORD_TOKEN}"),
    ("mitt nya lösenord blev Kalle123abc", f"mitt nya lösenord blev {PASSWORD_TOKEN}"),
    ("ändrade lösenordet till Vinter#2026.", f"ändrade lösenordet till {PASSWORD_TOKEN}."),
    ("lösenordet är nu Hej12345", f"lösenordet är nu {PASSWORD_TOKEN}"),
    ("PIN 4711 funkar inte", f"PIN {PASSWORD_TOKEN} funkar inte"),
])
def test_password_in_a_phrase_is_masked(text, expected):
    result = mask(text)
    assert result.text == expected
    assert result.found == {"password"}


@pytest.mark.parametrize("text", [
    "mitt lösenord fungerar inte",
    "I want to change my password to something else",
    "hur byter jag lösenord i BankID-appen?",
    "my password reset link expired",
    "lösenordet blev fel igen",
    "jag fick lösenordet i ett mejl",
])
def test_password_talk_in_a_phrase_is_left_alone(text):
    assert mask(text).text == text and mask(text).found == set()


def test_masking_is_idempotent_and_keeps_the_rest_readable():
    text = "Hej! Sonen 2013-05-15-2389 ser inte frånvaron, lösenordet Sommar99xyz, ring 070-123 45 67."
    once = mask(text).text
    assert once == (f"Hej! Sonen {PNR_TOKEN} ser inte frånvaron, lösenordet {PASSWORD_TOKEN}, "
                    "ring 070-123 45 67.")
    assert mask(once).text == once


DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"]
SPACES = [" ", "\u00a0", "\u2009", "\u202f", "\u3000"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
CONTEXTS = [("", ""), ("Mitt personnummer är ", "."), ("Dottern (", ") syns inte"), ("pnr: ", ", tack"),
            ("my son's number is ", " and")]


@st.composite
def personnummer(draw):
    """A valid personnummer or samordningsnummer written as people write it: (text, ten digits)."""
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2024, 12, 31)))
    coordination = draw(st.booleans())
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{draw(st.integers(0, 999)):03d}"
    ten = nine + _check_digit(nine)
    century = draw(st.sampled_from(["", f"{born.year // 100}"]))
    spaced_date = draw(st.booleans())
    date_sep = draw(st.sampled_from(["-", " ", "_"] + SPACES + DASHES)) if spaced_date else ""
    before_last = draw(st.sampled_from(["-", " - ", "_", " ", "+"] + DASHES + SPACES
                                       + ([""] if not spaced_date else [])))
    split_last = draw(st.booleans())
    last = ten[6:8] + draw(st.sampled_from(SPACES)) + ten[8:] if split_last else ten[6:]
    if split_last and before_last == "":
        before_last = "-"
    text = century + ten[0:2] + date_sep + ten[2:4] + date_sep + ten[4:6] + before_last + last
    if draw(st.booleans()):  # full-width digits
        text = "".join(chr(ord(c) - ord("0") + 0xFF10) if c.isdigit() else c for c in text)
    if draw(st.booleans()):  # a zero-width character somewhere inside
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(ZERO_WIDTH)) + text[at:]
    return text, ten


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(personnummer(), st.sampled_from(CONTEXTS))
def test_property_every_written_form_of_a_valid_personnummer_is_masked(pnr, context):
    text, _ = pnr
    before, after = context
    result = mask(before + text + after)
    assert result.text == before + PNR_TOKEN + after
    assert "personnummer" in result.found


@st.composite
def phone_number(draw):
    """A Swedish mobile or landline number in the groupings people use."""
    sep = draw(st.sampled_from(["-", " "] + DASHES + SPACES))
    space = draw(st.sampled_from(SPACES))
    digits = st.text("0123456789", min_size=1, max_size=1)
    d = lambda n: "".join(draw(digits) for _ in range(n))  # noqa: E731
    kind = draw(st.sampled_from(["mobile", "mobile7", "intl", "landline08", "landline3", "landline4"]))
    operator = draw(st.sampled_from("02369"))
    if kind == "mobile":        # 070-123 45 67
        return f"07{operator}{sep}{d(3)}{space}{d(2)}{space}{d(2)}"
    if kind == "mobile7":       # 070-1234567
        return f"07{operator}{sep}{d(7)}"
    if kind == "intl":          # +46 70 123 45 67
        return f"+46{space}7{operator}{space}{d(3)}{space}{d(2)}{space}{d(2)}"
    if kind == "landline08":    # 08-123 456 78
        return f"08{sep}{d(3)}{space}{d(3)}{space}{d(2)}"
    if kind == "landline3":     # 035-13 70 00
        return f"0{draw(st.sampled_from(['31', '35', '40', '46']))}{sep}{d(2)}{space}{d(2)}{space}{d(2)}"
    return f"0{draw(st.sampled_from(['346', '430', '611']))}{sep}{d(2)}{space}{d(2)}{space}{d(2)}"


@settings(max_examples=400, deadline=None)
@given(phone_number(), st.sampled_from([("ring mig på ", " efter tre"), ("", ""), ("Tel: ", ".")]))
def test_property_phone_numbers_are_never_masked(phone, context):
    text = context[0] + phone + context[1]
    result = mask(text)
    assert result.text == text
    assert result.found == set()


_PIECES = list("0123456789 -+_:=\t\nabcåäöÅÄÖéü×") + [
    "\u00a0", "\u2013", "\u200b", "\uff11", "\u00b2", "\u00ad", "lösenord ", "pin ", "19", "850101"]
_TYPED = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_TYPED)
def test_the_quick_path_for_plain_latin_text_normalises_exactly_like_the_per_character_one(text):
    from common.privacy import _normalise, _normalise_each

    norm, origin = _normalise(text)
    assert (norm, list(origin)) == _normalise_each(text)
