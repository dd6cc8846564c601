"""`halmstad-bot knowledge check`: every problem at once, as path:line: what — how, in sv and en."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.knowledge import check_knowledge, default_knowledge_dir
from bot.knowledge_messages import catalog
from bot.staff_tools import check_lines, collision_problems
from tests.staff.staffkit import ROOT, cli, line_of, replace_once

# An FAQ file staff might write, with three mistakes: a link without https://, an answer without
# English, and a misspelt field.
BROKEN_FAQ = """\
entries:
  - id: skollov
    phrasings:
      sv: ["när är det lov", "lovdagar", "höstlov", "sportlov", "jullov"]
      en: ["school holidays", "autumn break", "winter break", "sports break", "christmas break"]
    answer:
      sv: "Loven står i skolans kalender."
    links:
      - label: {sv: "Läsårstider", en: "School year"}
        url: "www.halmstad.se/lasar"
    ownr: "Utbildningsförvaltningen"
    owner: "Utbildningsförvaltningen"
    review_by: 2027-06-30
"""

NEW_ENTRY = """\
entries:
  - id: {id}
    phrasings:
      sv: [{sv}]
      en: ["when is the staff day", "staff day", "teacher training day", "no school today", "inset day"]
    answer:
      sv: "Studiedagarna står i skolans kalender."
      en: "The staff days are in the school's calendar."
    owner: "Utbildningsförvaltningen"
    review_by: 2027-06-30
"""


def _break_contact(kdir: Path) -> dict[str, int]:
    contact = kdir / "contact.yaml"
    replace_once(contact, 'fri: "07:00-16:00"}', 'fri: "16:00-07:00"}')
    replace_once(contact, 'tue: "08:00-17:00"', 'tue: "8-17"')
    replace_once(contact, "exceptions:\n", "exceptions:\n"
                 "  - date: 2027-13-01\n    closed: true\n"
                 "  - date: den 5 maj\n    closed: true\n")
    return {
        "phone": line_of(contact, "phone:    {mon"),
        "visiting": line_of(contact, "visiting: {mon"),
        "month13": line_of(contact, "2027-13-01"),
        "words": line_of(contact, "den 5 maj"),
    }


EXPECTED = {
    "en": [
        "knowledge/contact.yaml:{phone}: the hours '16:00-07:00' close before they open — write the opening time first, e.g. 08:00-17:00",
        "knowledge/contact.yaml:{visiting}: '8-17' is not opening hours — write hours as \"07:00-17:00\" or \"closed\"",
        "knowledge/contact.yaml:{month13}: '2027-13-01' is not a date — write the date as YYYY-MM-DD, e.g. 2026-12-23",
        "knowledge/contact.yaml:{words}: 'den 5 maj' is not a date — write the date as YYYY-MM-DD, e.g. 2026-12-23",
        "knowledge/faq/skola.yaml:7: the answer has no English text ('en') — add a line 'en: ...' with the text",
        "knowledge/faq/skola.yaml:10: the link 'www.halmstad.se/lasar' is not a web address — write a full address starting with https://",
        "knowledge/faq/skola.yaml:11: unknown field 'ownr' — use only: answer, buttons, flow, flow_args, id, links, out_of_scope, owner, phrasings, review_by, topic",
    ],
    "sv": [
        "knowledge/contact.yaml:{phone}: tiderna '16:00-07:00' stänger innan de öppnar — skriv öppningstiden först, t.ex. 08:00-17:00",
        "knowledge/contact.yaml:{visiting}: '8-17' är inte öppettider — skriv tiderna som \"07:00-17:00\" eller \"closed\" (stängt)",
        "knowledge/contact.yaml:{month13}: '2027-13-01' är inte ett datum — skriv datumet som ÅÅÅÅ-MM-DD, t.ex. 2026-12-23",
        "knowledge/contact.yaml:{words}: 'den 5 maj' är inte ett datum — skriv datumet som ÅÅÅÅ-MM-DD, t.ex. 2026-12-23",
        "knowledge/faq/skola.yaml:7: svaret saknar engelsk text ('en') — lägg till en rad 'en: ...' med texten",
        "knowledge/faq/skola.yaml:10: länken 'www.halmstad.se/lasar' är inte en webbadress — skriv hela adressen, som börjar med https://",
        "knowledge/faq/skola.yaml:11: okänt fält 'ownr' — använd bara: answer, buttons, flow, flow_args, id, links, out_of_scope, owner, phrasings, review_by, topic",
    ],
}


def test_shipped_files_pass_check():
    run = cli("knowledge", "check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [l for l in run.stdout.splitlines() if "warning" not in l] == []
    assert run.stderr.startswith("ok: ")


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_broken_copy_gives_every_problem_with_path_and_line(kdir, lang):
    lines = _break_contact(kdir)
    (kdir / "faq" / "skola.yaml").write_text(BROKEN_FAQ, encoding="utf-8")
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 1
    printed = run.stdout.splitlines()
    for expected in EXPECTED[lang]:
        assert expected.format(**lines) in printed, (expected, run.stdout)
    assert run.stderr.strip() == {"en": "7 error(s)", "sv": "7 fel"}[lang], run.stdout


@pytest.mark.parametrize("lang, expected", [
    ("en", "knowledge/faq/broken.yaml:2: YAML syntax error: found character '\\t' that cannot start any token"
           " — check indentation, colons and quotes on this line and the one before"),
    ("sv", "knowledge/faq/broken.yaml:2: fel i YAML-syntaxen: tecknet '\\t' får inte stå här (tabbar är inte"
           " tillåtna; använd mellanslag) — kontrollera indrag, kolon och citattecken på den här raden och raden före"),
])
def test_yaml_syntax_error(kdir, lang, expected):
    (kdir / "faq" / "broken.yaml").write_text("entries:\n\t- id: x\n", encoding="utf-8")
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 1
    assert expected in run.stdout.splitlines(), run.stdout


@pytest.mark.parametrize("lang, template", [
    ("en", "knowledge/faq/skola.yaml:4: the phrasing 'Öppettider!' is also in the entry 'hours-overview' at "
           "knowledge/faq/contact.yaml:{line} — keep it in one of the two entries and delete or reword the other"),
    ("sv", "knowledge/faq/skola.yaml:4: formuleringen 'Öppettider!' finns också i frågan 'hours-overview' på "
           "knowledge/faq/contact.yaml:{line} — behåll den i en av de två frågorna och ta bort eller formulera om den andra"),
])
def test_a_phrasing_in_two_entries_names_both_places(kdir, lang, template):
    (kdir / "faq" / "skola.yaml").write_text(
        NEW_ENTRY.format(id="studiedag", sv='"Öppettider!", "studiedag", "när är det studiedag", '
                                            '"studiedagar", "ledig från skolan"'), encoding="utf-8")
    contact = kdir / "faq" / "contact.yaml"
    original = line_of(contact, '- "öppettider"', line_of(contact, "id: hours-overview"))
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 1
    assert template.format(line=original) in run.stdout.splitlines(), run.stdout


@pytest.mark.parametrize("lang, template", [
    ("en", "knowledge/faq/skola.yaml:4: the phrasing 'öppettider era' is answered with the entry 'hours-overview' "
           "(score 100), which has 'era öppettider' at knowledge/faq/contact.yaml:{line} — reword one of them so that "
           "it names what is special about its own entry; check with 'halmstad-bot knowledge try'"),
    ("sv", "knowledge/faq/skola.yaml:4: formuleringen 'öppettider era' besvaras med frågan 'hours-overview' "
           "(poäng 100), som har 'era öppettider' på knowledge/faq/contact.yaml:{line} — formulera om en av dem så att "
           "den säger det som är speciellt för just dess fråga; pröva med 'halmstad-bot knowledge try'"),
])
def test_a_phrasing_the_matcher_gives_to_another_entry_names_both_places(kdir, lang, template):
    # The same words as "era öppettider" (hours-overview) in another order: the matcher scores both
    # entries 100 and answers with hours-overview, so this entry would never be the answer.
    (kdir / "faq" / "skola.yaml").write_text(
        NEW_ENTRY.format(id="zz-studiedag", sv='"öppettider era", "studiedag", "när är det studiedag", '
                                               '"studiedagar", "ledig från skolan"'), encoding="utf-8")
    contact = kdir / "faq" / "contact.yaml"
    original = line_of(contact, '- "era öppettider"', line_of(contact, "id: hours-overview"))
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 1
    assert template.format(line=original) in run.stdout.splitlines(), run.stdout
    # Only the phrasing that loses is reported, once.
    assert sum("öppettider era" in l for l in run.stdout.splitlines()) == 1


def test_collision_problems_is_empty_for_distinct_phrasings(kdir):
    (kdir / "faq" / "skola.yaml").write_text(
        NEW_ENTRY.format(id="studiedag", sv='"studiedag", "när är det studiedag", "studiedagar", '
                                            '"ledig från skolan", "har skolan studiedag"'), encoding="utf-8")
    knowledge, problems = check_knowledge(kdir)
    assert knowledge is not None, problems
    assert [str(p) for p in collision_problems(knowledge) if "skola.yaml" in p.path] == []


@pytest.mark.parametrize("lang, template", [
    ("en", "knowledge/faq/absence.yaml:{line}: warning: the entry 'absence-wrong' was due for review on 2020-01-31"
           " — check the answer and set a new review_by date"),
    ("sv", "knowledge/faq/absence.yaml:{line}: varning: frågan 'absence-wrong' skulle ha granskats senast 2020-01-31"
           " — kontrollera svaret och sätt ett nytt review_by-datum"),
])
def test_a_passed_review_date_warns_and_exits_0(kdir, lang, template):
    path = kdir / "faq" / "absence.yaml"
    line = line_of(path, "review_by:", line_of(path, "id: absence-wrong"))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line - 1] = "    review_by: 2020-01-31\n"
    path.write_text("".join(lines), encoding="utf-8")
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", lang)
    assert run.returncode == 0, run.stdout + run.stderr
    assert template.format(line=line) in run.stdout.splitlines(), run.stdout
    # The shipped knowledge has one standing warning (the example retention decision): one more.
    assert {"en": "2 warning(s)", "sv": "2 varning(ar)"}[lang] in run.stderr


def test_swedish_messages_survive_a_broken_staff_catalogue(kdir):
    (kdir / "texts" / "staff.yaml").write_text("staff.check.line: [unclosed\n", encoding="utf-8")
    run = cli("knowledge", "check", "--dir", str(kdir), "--lang", "sv")
    assert run.returncode == 1
    assert any(l.startswith("knowledge/texts/staff.yaml:") and "fel i YAML-syntaxen" in l
               for l in run.stdout.splitlines()), run.stdout


def test_english_is_byte_identical_to_the_loader(kdir):
    _break_contact(kdir)
    lines, problems, _ = check_lines(kdir, "en")
    assert lines == [str(p) for p in problems]


# Every sentence the loader can write has a Swedish version -----------------------------------


def _samples(node: ast.AST) -> list[str]:
    """Return example strings an expression can produce (each variable part becomes 'X1')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        out = [""]
        for part in node.values:
            options = (_samples(part.value) if isinstance(part, ast.FormattedValue)
                       and isinstance(part.value, ast.IfExp) else
                       ["X1"] if isinstance(part, ast.FormattedValue) else _samples(part))
            out = [a + b for a in out for b in options]
        return out
    if isinstance(node, ast.IfExp):
        return _samples(node.body) + _samples(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _samples(node.left) for b in _samples(node.right)]
    return ["X1"]


def _loader_sentences() -> list[tuple[str, str, str]]:
    found = []
    for name in ("bot/knowledge.py", "bot/holder.py", "bot/answering.py", "bot/placeholders.py"):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Problem" and len(node.args) >= 4:
                for message in _samples(node.args[2]):
                    for fix in _samples(node.args[3]):
                        found.append((f"{name}:{node.lineno}", message, fix))
    return found


def test_every_loader_sentence_has_a_swedish_version():
    cat = catalog(default_knowledge_dir())
    sentences = _loader_sentences()
    assert len(sentences) > 60
    missing = [(where, m) for where, m, _ in sentences if not cat.knows(m)]
    missing += [(where, f) for where, _, f in sentences if not cat.knows_fix(f)]
    assert missing == [], "add these to knowledge/texts/staff.yaml: " + repr(missing)
    for _, message, fix in sentences:
        assert cat.message(message, "sv") != message, message


def test_every_staff_text_has_both_languages_and_the_same_placeholders():
    import string

    cat = catalog(default_knowledge_dir())
    staff = {k: v for k, v in cat.texts.items() if k.startswith("staff.")}
    assert len(staff) > 100
    for key, by_lang in staff.items():
        assert set(by_lang) == {"sv", "en"}, key
        names = [{f for _, f, _, _ in string.Formatter().parse(by_lang[lang]) if f} for lang in ("sv", "en")]
        assert names[0] == names[1], key
