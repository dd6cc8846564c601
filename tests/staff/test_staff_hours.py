"""Hours that cannot lie: repeating rules, holidays that an exception cannot silently open."""
from __future__ import annotations

import pytest

from tests.staff.staffkit import cli, line_of, replace_once

FRIDAYS_RULE = """exceptions:
  - rule: {weekday: fredag, from: 2026-12-01, to: 2026-12-31}
    phone: "07:00-15:00"
    visiting: "08:00-15:00"
    note: {sv: "Fredag i december", en: "A Friday in December"}
"""


def _reply(*args: str) -> str:
    """What the bot answers in `knowledge try` (without the question echoed above it)."""
    run = cli("knowledge", "try", *args)
    assert "Boten svarar:" in run.stdout, run.stdout + run.stderr
    return run.stdout.split("Boten svarar:", 1)[1]


def _add_fridays(kdir) -> int:
    path = kdir / "contact.yaml"
    replace_once(path, "exceptions:\n", FRIDAYS_RULE)
    return line_of(path, "- rule:", line_of(path, "exceptions:"))


@pytest.mark.parametrize("lang, template", [
    ("en", "knowledge/contact.yaml:{line}: warning: the rule gives hours on 2026-12-25 (Juldagen), a holiday: the "
           "holiday wins and the day stays closed — nothing to do if it should stay closed; to open it, add "
           "'open_on_holiday: true'"),
    ("sv", "knowledge/contact.yaml:{line}: varning: regeln ger tider på 2026-12-25 (Juldagen), en helgdag: "
           "helgdagen vinner och dagen förblir stängd — inget att göra om dagen ska vara stängd; lägg till "
           "'open_on_holiday: true' för att öppna den"),
])
def test_fridays_in_december_is_one_rule_with_the_juldagen_warning(kdir, lang, template):
    line = _add_fridays(kdir)
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 0, run.stdout + run.stderr
    assert template.format(line=line) in run.stdout.splitlines(), run.stdout
    assert sum("2026-12-25" in line for line in run.stdout.splitlines()) == 1  # one rule, one warning


def test_the_rule_shortens_fridays_and_juldagen_stays_closed(kdir):
    _add_fridays(kdir)
    friday = _reply("--dir", str(kdir), "--now", "2026-12-11T14:00", "är telefonen öppen nu?")
    assert "15.00" in friday and "Fredag i december" in friday, friday
    christmas = _reply("--dir", str(kdir), "--now", "2026-12-25T10:00", "är telefonen öppen nu?")
    assert "Juldagen" in christmas and "öppen nu" not in christmas, christmas


def test_open_on_holiday_opens_it_and_still_warns(kdir):
    path = kdir / "contact.yaml"
    replace_once(path, "exceptions:\n", FRIDAYS_RULE.replace("    note:", "    open_on_holiday: true\n    note:"))
    line = line_of(path, "- rule:", line_of(path, "exceptions:"))
    run = cli("knowledge", "check", "--dir", str(kdir))
    assert run.returncode == 0, run.stdout
    assert (f"knowledge/contact.yaml:{line}: warning: the rule opens 2026-12-25 (Juldagen), a holiday — check that "
            "this is meant; remove 'open_on_holiday: true' to keep the day closed") in run.stdout.splitlines()
    christmas = _reply("--dir", str(kdir), "--now", "2026-12-25T10:00", "är telefonen öppen nu?")
    assert "öppen nu" in christmas, christmas


@pytest.mark.parametrize("rule, expected", [
    ("{weekday: fredagsmys, from: 2026-12-01, to: 2026-12-31}",
     "'fredagsmys' is not a weekday — write e.g. fredag (or fri)"),
    ("{weekday: fredag, from: 2026-12-31, to: 2026-12-01}",
     "the rule ends ('to') before it starts ('from') — write the first day in 'from' and the last day in 'to'"),
    ("{weekday: fredag, from: 2026-12-01}",
     "a rule needs a weekday, a first day (from) and a last day (to) — write "
     "'rule: {weekday: fredag, from: 2026-12-01, to: 2026-12-31}'"),
])
def test_a_broken_rule_says_what_is_wrong(kdir, rule, expected):
    path = kdir / "contact.yaml"
    replace_once(path, "exceptions:\n", FRIDAYS_RULE.replace("{weekday: fredag, from: 2026-12-01, to: 2026-12-31}",
                                                             rule))
    run = cli("knowledge", "check", "--dir", str(kdir))
    assert run.returncode == 1
    line = line_of(path, "- rule:", line_of(path, "exceptions:"))
    assert any(l.startswith(f"knowledge/contact.yaml:{line}: ") and l.endswith(expected)
               for l in run.stdout.splitlines()), run.stdout


@pytest.mark.parametrize("lang, template", [
    ("en", "knowledge/faq/contact.yaml:{line}: warning: the answer of 'contact-phone' (sv) has hours typed in: "
           "'till 16.00' — write {{phone_hours}} or {{visiting_hours}} instead, so the answer follows the hours in "
           "contact.yaml"),
    ("sv", "knowledge/faq/contact.yaml:{line}: varning: svaret i 'contact-phone' (sv) har inskrivna tider: "
           "'till 16.00' — skriv {{phone_hours}} eller {{visiting_hours}} i stället, så följer svaret tiderna i "
           "contact.yaml"),
])
def test_check_flags_hours_typed_into_an_answer(kdir, lang, template):
    path = kdir / "faq" / "contact.yaml"
    replace_once(path, "Telefonen är öppen {phone_hours}, utom helgdagar.",
                 "Telefonen är öppen vardagar, fredag till 16.00.")
    line = line_of(path, "answer:", line_of(path, "id: contact-phone"))
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 0, run.stdout + run.stderr
    assert template.format(line=line) in run.stdout.splitlines(), run.stdout
    assert "(en)" not in run.stdout  # the English answer still uses the placeholder


def test_shipped_answers_have_no_typed_hours():
    run = cli("knowledge", "check")
    assert "hours typed in" not in run.stdout, run.stdout
