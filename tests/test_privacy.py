"""Masking of identity numbers, passwords and contact details; the retention cutoff."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.privacy import (
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
