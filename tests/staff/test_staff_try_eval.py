"""`knowledge try` shows what the bot would do with one question; `knowledge eval` measures it."""
from __future__ import annotations

import re

from tests.staff.staffkit import cli, line_of

TWO_STAFF_DAYS = """\
entries:
  - id: studiedag-host
    phrasings:
      sv: ["studiedag hösten", "studiedagar hösten", "höstens studiedagar", "studiedag i oktober", "studiedag höst"]
      en: ["autumn staff day", "staff days in autumn", "autumn inset day", "staff day october", "autumn staff days"]
    answer: {sv: "Höstens studiedagar står i skolans kalender.", en: "The autumn staff days are in the school's calendar."}
    owner: "Utbildningsförvaltningen"
    review_by: 2027-06-30
  - id: studiedag-var
    phrasings:
      sv: ["studiedag våren", "studiedagar våren", "vårens studiedagar", "studiedag i april", "studiedag vår"]
      en: ["spring staff day", "staff days in spring", "spring inset day", "staff day april", "spring staff days"]
    answer: {sv: "Vårens studiedagar står i skolans kalender.", en: "The spring staff days are in the school's calendar."}
    owner: "Utbildningsförvaltningen"
    review_by: 2027-06-30
"""


def _candidates(stdout: str) -> list[tuple[str, float]]:
    return [(m.group(1), float(m.group(2))) for m in re.finditer(r"^  \d\. (\S+)  ([\d.]+)  ", stdout, re.M)]


def test_try_an_answered_question(kdir):
    run = cli("knowledge", "try", "när har ni öppet?", "--now", "2026-12-01T10:00", "--dir", str(kdir))
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert out[0] == 'Fråga: "när har ni öppet?" (svenska)'
    assert out[1] == "Bästa träffar (poäng 0–100):"
    candidates = _candidates(run.stdout)
    assert len(candidates) == 3
    assert candidates[0][0] == "hours-overview"
    assert candidates == sorted(candidates, key=lambda c: -c[1])
    faq = kdir / "faq" / "contact.yaml"
    place = f"knowledge/faq/contact.yaml:{line_of(faq, chr(34) + 'när har ni öppet?' + chr(34))}"
    assert f'formuleringen "när har ni öppet?" på {place}' in out[2]
    assert "Beslut: svar — bästa poängen når 50" in run.stdout
    reply = run.stdout.split("Boten svarar:\n", 1)[1]
    assert "07.00" in reply and "17.00" in reply  # the hours the contact_hours flow says on 1 December


def test_try_a_question_out_of_scope_shows_the_fallback_with_numbered_buttons(kdir):
    run = cli("knowledge", "try", "hur ansöker jag om bygglov?", "--dir", str(kdir))
    assert run.returncode == 0, run.stderr
    assert "Beslut: reservsvar — ingen poäng når 48" in run.stdout
    reply = run.stdout.split("Boten svarar:\n", 1)[1].splitlines()
    buttons = [l.strip() for l in reply if re.match(r"^    \[\d+\] ", l)]
    assert buttons[0] == "[1] Ansöka om konto" and len(buttons) >= 3
    assert [int(b[1:b.index("]")]) for b in buttons] == list(range(1, len(buttons) + 1))


def test_try_a_question_between_two_entries_shows_the_clarification(kdir):
    (kdir / "faq" / "skola.yaml").write_text(TWO_STAFF_DAYS, encoding="utf-8")
    run = cli("knowledge", "try", "studiedagar hösten och våren", "--dir", str(kdir))
    assert run.returncode == 0, run.stderr
    candidates = _candidates(run.stdout)
    assert {c[0] for c in candidates[:2]} == {"studiedag-host", "studiedag-var"}
    assert "Beslut: förtydligande" in run.stdout
    reply = run.stdout.split("Boten svarar:\n", 1)[1]
    assert "[1] Studiedag" in reply and "[2] Studiedag" in reply and "[3] Inget av dem" in reply


def test_try_in_english(kdir):
    run = cli("knowledge", "try", "what are your opening hours?", "--lang", "en", "--now", "2026-12-01T10:00",
              "--dir", str(kdir))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith('Question: "what are your opening hours?" (English)\nBest matches (score 0-100):\n')
    assert "Outcome: answer" in run.stdout
    assert "The bot replies:" in run.stdout and "Monday" in run.stdout


def test_try_refuses_broken_knowledge_and_a_bad_time(kdir):
    (kdir / "faq" / "broken.yaml").write_text("entries: [1]\n", encoding="utf-8")
    run = cli("knowledge", "try", "hej", "--dir", str(kdir))
    assert run.returncode == 1
    assert "knowledge/faq/broken.yaml:1:" in run.stderr and "knowledge check" in run.stderr
    bad = cli("knowledge", "try", "hej", "--now", "igår")
    assert bad.returncode == 2 and "--now igår" in bad.stderr


def test_the_shipped_sets_pass_eval():
    run = cli("knowledge", "eval")
    assert run.returncode == 0, run.stdout
    out = run.stdout
    assert out.startswith("Tuning set (knowledge/tests/labelled.yaml, phrasings you may tune against):\n")
    assert re.search(r"^  sv: \d+ of \d+ correct \([\d.]+ %\), threshold \d+ %$", out, re.M), out
    assert "Held-out set (knowledge/tests/holdout.yaml, never copy from it):" in out
    assert re.search(r"^  out of scope: \d+ of \d+ got the fallback \([\d.]+ %\), threshold \d+ %$", out, re.M)
    assert "Cross-validation (each FAQ phrasing taken out of the index" in out
    assert "Misses in the held-out set" not in out  # never listed unless asked for
    assert out.rstrip().endswith("ok: every set and language reaches its threshold")


LABELLED = """\
threshold: 0.9
cases:
  - {text: "öppettider", lang: sv, expect: hours-overview}
  - {text: "opening hours", lang: en, expect: hours-overview}
  - {text: "era öppettider", lang: sv, expect: account-apply}
  - {text: "vilka öppettider har ni", lang: sv, expect: account-apply}
  - {text: "hur söker jag bygglov", lang: sv, expect: fallback}
"""


def test_eval_below_the_threshold_lists_misses_and_confusions_and_exits_1(kdir):
    for path in (kdir / "tests").glob("*.yaml"):
        path.unlink()
    (kdir / "tests" / "labelled.yaml").write_text(LABELLED, encoding="utf-8")
    (kdir / "tests" / "thresholds.yaml").write_text("cross_validation: 0.5\n", encoding="utf-8")
    run = cli("knowledge", "eval", "--dir", str(kdir))
    assert run.returncode == 1, run.stdout
    out = run.stdout.splitlines()
    assert out[0] == "Tuning set (knowledge/tests/labelled.yaml, phrasings you may tune against):"
    assert out[1] == "  sv: 2 of 4 correct (50.0 %), threshold 90 %"
    assert out[2] == "  en: 1 of 1 correct (100.0 %), threshold 90 %"
    assert out[3].startswith("Cross-validation (")
    misses = out.index("Misses in the tuning set:")
    assert out[misses + 1] == ('  knowledge/tests/labelled.yaml:5: "era öppettider" (sv) expected account-apply, '
                               'got hours-overview')
    assert out[misses + 2].startswith('  knowledge/tests/labelled.yaml:6: "vilka öppettider har ni" (sv) '
                                      'expected account-apply, got ')
    assert "Most confused in the tuning set (expected → got):" in out
    assert "  2 × account-apply → hours-overview" in out or "  1 × account-apply → hours-overview" in out
    assert out[-1].startswith("below the threshold in: tuning set sv —")
    sv = cli("knowledge", "eval", "--dir", str(kdir), "--lang", "sv")
    assert sv.returncode == 1
    assert sv.stdout.splitlines()[1] == "  sv: 2 av 4 rätt (50.0 %), gräns 90 %"
    assert '  knowledge/tests/labelled.yaml:5: "era öppettider" (sv) väntat account-apply, fick hours-overview' in sv.stdout
    assert "Oftast förväxlade i inställningsmängden (väntat → fick):" in sv.stdout


HELD_OUT = """\
# never copy from this file
cases:
  - {text: "vilka tider har ni öppet på kontoret i veckan", lang: sv, expect: [hours-overview, hours-visiting, hours-phone]}
  - {text: "hur söker jag bygglov för ett garage", lang: sv, expect: fallback}
  - {text: "what is the weather tomorrow in halmstad", lang: en, expect: fallback}
  - {text: "vilka öppettider har kontoret egentligen", lang: sv, expect: account-apply}
"""


def test_eval_reports_the_held_out_set_and_out_of_scope_precision_without_listing_its_questions(kdir):
    (kdir / "tests" / "holdout.yaml").write_text(HELD_OUT, encoding="utf-8")
    (kdir / "tests" / "thresholds.yaml").write_text(
        "holdout: 0.7\nout_of_scope: 0.9\ncross_validation: 0.5\ntuning: 0.5\n", encoding="utf-8")
    run = cli("knowledge", "eval", "--dir", str(kdir))
    assert run.returncode == 1, run.stdout
    out = run.stdout
    assert "  sv: 2 of 3 correct (66.7 %), threshold 70 %" in out
    assert "  out of scope: 2 of 2 got the fallback (100.0 %), threshold 90 %" in out
    assert "  1 × account-apply → hours-overview" in out
    assert "har kontoret egentligen" not in out  # the held-out questions are not printed by default
    assert "below the threshold in: held-out set sv —" in out
    shown = cli("knowledge", "eval", "--dir", str(kdir), "--show-held-out-misses")
    assert '"vilka öppettider har kontoret egentligen" (sv) expected account-apply, got hours-overview' in shown.stdout


SAME_REPLY = """\
cases:
  - {text: "är ni öppna på juldagen", lang: sv, expect: hours-next-open}
  - {text: "är ni öppna nu på förmiddagen", lang: sv, expect: hours-next-open}
"""


def test_eval_counts_another_entry_right_only_when_its_flow_gives_the_very_same_reply(kdir):
    # Both hours entries start the contact_hours flow; a question about a named day gets that
    # day's hours whichever of them matched, but "open now?" is not "when do you open next?".
    (kdir / "tests" / "holdout.yaml").write_text(SAME_REPLY, encoding="utf-8")
    (kdir / "tests" / "thresholds.yaml").write_text(
        "holdout: 0.9\nout_of_scope: 0.9\ncross_validation: 0.5\ntuning: 0.5\n", encoding="utf-8")
    run = cli("knowledge", "eval", "--dir", str(kdir), "--show-held-out-misses")
    out = run.stdout
    assert "  sv: 1 of 2 correct (50.0 %), threshold 90 %" in out, out
    assert "  of which 1 right with the same reply: another entry than the expected one matched" in out
    assert '"är ni öppna nu på förmiddagen" (sv) expected hours-next-open, got hours-open-now' in out
    assert "juldagen" not in out


def test_a_bad_threshold_or_expectation_is_a_clear_problem(kdir):
    (kdir / "tests" / "thresholds.yaml").write_text("holdout: 2\nspeed: 0.5\n", encoding="utf-8")
    (kdir / "tests" / "holdout.yaml").write_text(
        'cases:\n  - {text: "x", lang: sv, expect: [hours-overview, no-such-entry]}\n', encoding="utf-8")
    run = cli("knowledge", "check", "--dir", str(kdir))
    assert run.returncode == 1
    assert "knowledge/tests/thresholds.yaml:1: holdout must be between 0 and 1 — write e.g. 0.95" in run.stdout
    assert "knowledge/tests/thresholds.yaml:2: unknown field 'speed'" in run.stdout
    assert "knowledge/tests/holdout.yaml:2: the test case expects unknown entry 'no-such-entry'" in run.stdout
