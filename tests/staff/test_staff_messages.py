"""Messages staff can act on (issue 16, item 6): one root problem gives one message, structure
errors say which key is at the wrong level and how far to indent it, an impossible date says what
is wrong, and words read alike are named."""
from __future__ import annotations

import pytest

from tests.staff.staffkit import cli, line_of, replace_once


def _check(kdir, lang: str = "en"):
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    return run, [line for line in run.stdout.splitlines() if "warning" not in line and "varning" not in line]


def _entry_line(path, entry: str, needle: str) -> int:
    return line_of(path, needle, line_of(path, f"id: {entry}"))


def _set_line(path, number: int, text: str, insert: bool = False) -> None:
    """Replace line `number` (1-based) of a file, or insert `text` before it."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1:number - 1 if insert else number] = [text]
    path.write_text("".join(lines), encoding="utf-8")


def _only_error(kdir, lang: str, where: str, expected: str) -> str:
    """Run `check` and require exactly one error line: `where: expected`; return the output."""
    run, errors = _check(kdir, lang)
    assert run.returncode == 1
    assert errors == [f"{where}: {expected}"], run.stdout
    return run.stdout


def _impossible_review_date(path) -> int:
    line = _entry_line(path, "contact-phone", "review_by:")
    _set_line(path, line, "    review_by: 2027-02-30\n")
    return line


def _owner_under_the_answer(path) -> int:
    replace_once(path, '    payload: "faq:hours-open-now"\n    owner: "Halmstad direkt"\n',
                 '    payload: "faq:hours-open-now"\n')
    line = _entry_line(path, "contact-phone", "      en: \"You can reach") + 1
    _set_line(path, line, '      owner: "Halmstad direkt"\n', insert=True)
    return line


def _owner_too_far_after_a_list(path) -> int:
    replace_once(path, '    payload: "faq:hours-open-now"\n    owner: "Halmstad direkt"',
                 '    payload: "faq:hours-open-now"\n      owner: "Halmstad direkt"')
    return _entry_line(path, "contact-phone", "owner:")


def _pasted_entry(path) -> int:
    line = _entry_line(path, "contact-phone", "review_by:") + 1
    _set_line(path, line, '      - id: pasted-entry\n        phrasings:\n          sv: ["ett exempel"]\n', insert=True)
    return line


# (how the file is broken, the language, the one message; words the message must not use)
BROKEN = [
    (_impossible_review_date, "en", "review_by '2027-02-30' is not a real date — write a date that exists as "
                                    "YYYY-MM-DD, e.g. 2027-06-30", "add 'review_by"),
    (_impossible_review_date, "sv", "review_by '2027-02-30' är inget riktigt datum — skriv ett datum som finns, som "
                                    "ÅÅÅÅ-MM-DD, t.ex. 2027-06-30", "lägg till"),
    (_owner_under_the_answer, "en", "'owner' is indented too far: it belongs to the entry, not under 'answer' — "
                                    "write it with 4 spaces before 'owner:', in line with 'answer:'", "language"),
    (_owner_under_the_answer, "sv", "'owner' är för långt indraget: det hör till frågan, inte under 'answer' — "
                                    "skriv det med 4 mellanslag före 'owner:', rakt under 'answer:'", "okänt språk"),
    (_owner_too_far_after_a_list, "en", "'owner' is indented 6 spaces, but the fields of an entry are indented 4 — "
                                        "write it with 4 spaces before 'owner:', in line with 'id:' of its entry",
     "quotes"),
    (_owner_too_far_after_a_list, "sv", "'owner' är indraget 6 mellanslag, men frågans fält är indragna 4 — skriv det "
                                        "med 4 mellanslag före 'owner:', rakt under 'id:' i samma fråga", "citattecken"),
    (_pasted_entry, "en", "the entry '- id:' is indented 6 spaces, but entries start 2 spaces in — move the pasted "
                          "entry so that '- id:' starts 2 spaces in like the other entries, and its fields 4 spaces in",
     "quotes"),
    (_pasted_entry, "sv", "frågan '- id:' är indragen 6 mellanslag, men frågor börjar 2 mellanslag in — flytta den "
                          "inklistrade frågan så att '- id:' börjar 2 mellanslag in som de andra frågorna, och dess "
                          "fält 4 mellanslag in", "citattecken"),
]


@pytest.mark.parametrize("breaking, lang, expected, never", BROKEN)
def test_one_mistake_gives_one_message_that_says_what_to_do(kdir, breaking, lang, expected, never):
    path = kdir / "faq" / "contact.yaml"
    line = breaking(path)
    # The test cases and buttons that name 'contact-phone' say nothing more: one root problem, one message.
    out = _only_error(kdir, lang, f"knowledge/faq/contact.yaml:{line}", expected)
    assert never not in out


@pytest.mark.parametrize("lang, expected", [
    ("en", "knowledge/faq/contact.yaml:{line}: the phrasing 'har ni öppet i jul' counts as the same as 'har ni "
           "öppet i påsk' in the entry 'absence-wrong' at knowledge/faq/absence.yaml:7: the assistant reads 'jul' = "
           "'påsk' as the same word"),
    ("sv", "knowledge/faq/contact.yaml:{line}: formuleringen 'har ni öppet i jul' räknas som samma som 'har ni "
           "öppet i påsk' i frågan 'absence-wrong' på knowledge/faq/absence.yaml:7: assistenten läser 'jul' = "
           "'påsk' som samma ord"),
])
def test_a_duplicate_read_alike_names_the_words(kdir, lang, expected):
    first = _entry_line(kdir / "faq" / "contact.yaml", "hours-overview", '- "har ni öppet i jul"')
    replace_once(kdir / "faq" / "absence.yaml", "      sv:\n", '      sv:\n        - "har ni öppet i påsk"\n')
    run, errors = _check(kdir, lang)
    assert run.returncode == 1
    assert any(l.startswith(expected.format(line=first) + " — ") for l in errors), run.stdout


def test_reload_errors_in_healthz_and_the_log_are_swedish_and_english_utf8(tmp_path, kdir):
    import json
    import signal
    import time
    import urllib.request

    from tests.serving import Server

    server = Server(tmp_path / "data", "--knowledge-dir", str(kdir), "--now", "2026-12-01T10:00").start()
    try:
        path = kdir / "faq" / "contact.yaml"
        line = _entry_line(path, "contact-phone", "review_by:")
        _set_line(path, line, "    review_by: 2027-02-30\n")
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(server.base + "/healthz", timeout=20) as resp:
                status, raw = resp.status, resp.read()
            if b"last_reload_error\": \"" in raw or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        server.kill(signal.SIGTERM)
    assert status == 200 and b"\\u2014" not in raw and "—".encode() in raw, raw
    body = json.loads(raw.decode("utf-8"))
    assert body["last_reload_error"] == (f"knowledge/faq/contact.yaml:{line}: review_by '2027-02-30' is not a real "
                                         "date — write a date that exists as YYYY-MM-DD, e.g. 2027-06-30")
    assert body["last_reload_error_sv"] == (f"knowledge/faq/contact.yaml:{line}: review_by '2027-02-30' är inget "
                                            "riktigt datum — skriv ett datum som finns, som ÅÅÅÅ-MM-DD, t.ex. 2027-06-30")
    log = server.log.read_text(encoding="utf-8")
    assert f"kunskapsfel: knowledge/faq/contact.yaml:{line}: review_by '2027-02-30' är inget riktigt datum — " in log
    assert "\\u2014" not in log
