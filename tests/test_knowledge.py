"""The knowledge loader reports every problem as path:line: what — how to fix."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge import KnowledgeError, check_knowledge, default_knowledge_dir, load_knowledge


@pytest.fixture
def kdir(tmp_path) -> Path:
    """A copy of the shipped knowledge to break."""
    target = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), target)
    return target


def errors(root: Path) -> list[str]:
    _, problems = check_knowledge(root)
    return [str(p) for p in problems if p.severity == "error"]


def test_shipped_knowledge_is_valid():
    knowledge = load_knowledge(default_knowledge_dir())
    assert len(knowledge.entries) >= 30
    assert knowledge.text("core.menu", "sv") and knowledge.text("core.menu", "en")


def test_yaml_syntax_error_names_file_and_line(kdir):
    (kdir / "faq" / "broken.yaml").write_text("entries:\n  - id: x\n    phrasings: [unclosed\n", encoding="utf-8")
    found = errors(kdir)
    assert any(e.startswith("knowledge/faq/broken.yaml:") and "YAML syntax error" in e and " — " in e for e in found), found


def test_several_problems_are_reported_at_once(kdir):
    (kdir / "faq" / "bad.yaml").write_text(
        "entries:\n"
        "  - id: Bad Id\n"
        "    phrasings: {sv: [a]}\n"
        "    answer: {sv: hej}\n"
        "    owner: x\n"
        "    review_by: 2030-01-01\n"
        "  - id: app-activate\n"
        "    phrasings: {sv: [x], en: [y]}\n"
        "    answer: {sv: a, en: b}\n"
        "    colour: red\n"
        "    owner: x\n"
        "    review_by: not-a-date\n", encoding="utf-8")
    found = errors(kdir)
    text = "\n".join(found)
    assert "knowledge/faq/bad.yaml:2: the entry's id 'Bad Id' is missing or invalid" in text
    assert "knowledge/faq/bad.yaml:3: the entry has no English phrasings" in text
    assert "knowledge/faq/bad.yaml:4: the answer has no English text ('en')" in text
    assert "knowledge/faq/bad.yaml:10: unknown field 'colour'" in text
    assert "knowledge/faq/bad.yaml:12: review_by 'not-a-date' is not a real date" in text


def test_duplicate_id_names_both_places(kdir):
    (kdir / "faq" / "dup.yaml").write_text(
        "entries:\n  - id: app-activate\n    phrasings: {sv: [x], en: [y]}\n    answer: {sv: a, en: b}\n"
        "    owner: x\n    review_by: 2030-01-01\n", encoding="utf-8")
    found = errors(kdir)
    assert any("dup.yaml:2: the id 'app-activate' is also used at knowledge/faq/" in e
               or "the id 'app-activate' is also used at knowledge/faq/dup.yaml:2" in e for e in found), found


def test_hours_that_close_before_they_open(kdir):
    path = kdir / "contact.yaml"
    text = path.read_text(encoding="utf-8").replace('fri: "07:00-16:00"', 'fri: "16:00-07:00"', 1)
    path.write_text(text, encoding="utf-8")
    found = errors(kdir)
    assert any("contact.yaml:" in e and "close before they open" in e for e in found), found


def test_missing_text_language(kdir):
    path = kdir / "texts" / "core.yaml"
    text = path.read_text(encoding="utf-8").replace(
        '  en: "What can I help you with? Choose below or type your question in your own words."\n', "", 1)
    path.write_text(text, encoding="utf-8")
    found = errors(kdir)
    assert any(e.startswith("knowledge/texts/core.yaml:") and "core.menu" in e and "English" in e for e in found), found


def test_load_refuses_invalid_knowledge(kdir):
    (kdir / "settings.yaml").write_text("understanding:\n  answer_threshold: 50\n  clarify_threshold: 70\n")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(kdir)
    assert "settings.yaml:3: clarify_threshold must be lower" in str(exc.value)


def test_cli_check_exit_codes(kdir):
    ok = subprocess.run([sys.executable, "-m", "bot.cli", "knowledge", "check", "--dir", str(kdir)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (kdir / "faq" / "x.yaml").write_text("entries: [1]\n")
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "knowledge", "check", "--dir", str(kdir)],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "x.yaml:1:" in bad.stdout and " — " in bad.stdout


def test_serve_refuses_invalid_knowledge(kdir, tmp_path):
    (kdir / "contact.yaml").write_text("timezone: Mars/Olympus\n")
    run = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--knowledge-dir", str(kdir),
                          "--data-dir", str(tmp_path / "d"), "--port", "1"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    assert "not valid" in run.stderr and "contact.yaml:1: unknown time zone" in run.stderr


# The declarative schema (bot/knowledge_schema.py) ------------------------------------------

import ast  # noqa: E402
import typing  # noqa: E402
from datetime import date  # noqa: E402

from pydantic import BaseModel, RootModel, ValidationError  # noqa: E402

from bot import knowledge_schema as schema  # noqa: E402
from bot.knowledge import PROBLEMS  # noqa: E402
from common.calendar import ContactCalendar  # noqa: E402

SCHEMA_SOURCE = Path(schema.__file__).read_text(encoding="utf-8")
ROOTS = [schema.TextsFile, schema.Contact, schema.Settings, schema.FaqFile, schema.FaqEntry, schema.Synonyms,
         schema.Thresholds, schema.CaseFile, schema.Case]


def test_every_problem_the_schema_names_is_worded_and_every_wording_is_named():
    tree = ast.parse(SCHEMA_SOURCE)
    named = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Says", "_fail")
             and isinstance(node.args[0], ast.Constant)}
    named |= {node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
              and any(getattr(t, "id", None) in ("unknown", "shape") for t in node.targets)
              and isinstance(node.value, ast.Constant)}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert named - set(PROBLEMS) == set(), "name these problems in bot/knowledge.py PROBLEMS"
    assert set(PROBLEMS) - strings == set(), "these wordings are named nowhere in the schema"


def _junk(tp, stop, depth=0):
    """A value of `tp`'s shape that is wrong from depth `stop` on (every mapping has an unknown key)."""
    while typing.get_origin(tp) is typing.Annotated or typing.get_origin(tp) in (typing.Union, type(int | None)):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if isinstance(tp, type) and issubclass(tp, RootModel):
        return _junk(tp.model_fields["root"].annotation, stop, depth)
    if depth >= stop:
        return object()
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {**{name: _junk(f.annotation, stop, depth + 1) for name, f in tp.model_fields.items()}, "zz": 1}
    if typing.get_origin(tp) is list and typing.get_args(tp):
        return [_junk(typing.get_args(tp)[0], stop, depth + 1)]
    if typing.get_origin(tp) is dict:
        return {"Bad Key!": _junk(typing.get_args(tp)[1], stop, depth + 1)}
    return object()


@pytest.mark.parametrize("model", ROOTS, ids=lambda m: m.__name__)
def test_every_error_anywhere_in_a_file_is_a_worded_problem(model):
    # The loader hands a file that is no mapping only to a model that has a `shape` problem.
    for stop in range(0 if model.shape else 1, 7):
        with pytest.raises(ValidationError) as exc:
            model.model_validate(_junk(model, stop))
        for error in exc.value.errors():
            reason = schema.explain(model, error, PROBLEMS)  # raises LookupError for an unnamed one
            assert reason.problem in PROBLEMS, (error["loc"], reason)


BLOCK_ENTRY = """\
entries:
  - id: block-style
    phrasings:
      sv:
        - "när är det lov"
        - ""
      fr: ["quand"]
    answer:
      sv: |
        Loven {står
        i kalendern.
    links:
      - label:
          sv: "Läsårstider"
        url: "https://www.halmstad.se"
    owner: "Utbildningsförvaltningen"
    review_by: 2027-06-30T10:00:00
"""


def test_problems_in_block_style_yaml_point_at_their_own_line(kdir):
    (kdir / "faq" / "block.yaml").write_text(BLOCK_ENTRY, encoding="utf-8")
    found = [e for e in errors(kdir) if "block.yaml" in e]
    assert [e.split(" — ")[0] for e in found] == [
        "knowledge/faq/block.yaml:4: the entry has no English phrasings",
        "knowledge/faq/block.yaml:6: a phrasing is empty or not text",
        "knowledge/faq/block.yaml:7: unknown language 'fr'",
        "knowledge/faq/block.yaml:9: a '{' or '}' is not closed in the text",
        "knowledge/faq/block.yaml:9: the answer has no English text ('en')",
        "knowledge/faq/block.yaml:14: the link's label has no English text ('en')",
        "knowledge/faq/block.yaml:17: review_by '2027-06-30 10:00:00' is not a real date",
    ], found


def test_a_broken_text_hides_no_other_text(kdir):
    path = kdir / "texts" / "core.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        '  sv: "Vad vill du ha hjälp med?', '  sv: 5\n  xx: "Vad vill du ha hjälp med?', 1), encoding="utf-8")
    seen = {}
    _, problems = check_knowledge(kdir, extra_checks=[lambda k: seen.update(texts=k.texts) or []])
    assert [str(p).split(" — ")[0] for p in problems if p.severity == "error"] == [
        "knowledge/texts/core.yaml:6: the text 'core.menu' has no Swedish text ('sv')",
        "knowledge/texts/core.yaml:7: unknown language 'xx' in the text 'core.menu'",
    ]
    assert "core.menu" not in seen["texts"] and "core.help" in seen["texts"]


def test_opening_hours_are_checked_as_the_calendar_reads_them(kdir):
    path = kdir / "contact.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('mon: "07:00-17:00", tue', 'mon: "7:00-17:00", sat: "stängt", tue', 1),
                    encoding="utf-8")
    knowledge, problems = check_knowledge(kdir)
    assert knowledge is not None, [str(p) for p in problems]
    assert ContactCalendar.from_config(knowledge.contact).day_hours("phone", date(2026, 12, 7)).opens.hour == 7
    path.write_text(text.replace('mon: "07:00-17:00", tue', 'mon: "08:00-24:00", tue', 1), encoding="utf-8")
    assert any("'08:00-24:00' is not opening hours" in e for e in errors(kdir))


def test_an_exception_that_is_not_closed_and_has_no_hours_says_nothing(kdir):
    path = kdir / "contact.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "exceptions:\n", "exceptions:\n  - date: 2027-02-01\n    closed: false\n", 1), encoding="utf-8")
    assert any("the exception says nothing about the hours" in e for e in errors(kdir))


def test_eval_thresholds_default_to_the_schema_and_a_file_overrides_them(kdir):
    (kdir / "tests" / "thresholds.yaml").write_text("tuning: 0.5\n", encoding="utf-8")
    knowledge = load_knowledge(kdir)
    assert knowledge.eval_sets.thresholds["tuning"] == 0.5
    assert knowledge.eval_sets.thresholds["cross_validation"] == schema.Thresholds().cross_validation
