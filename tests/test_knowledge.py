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
    assert "knowledge/faq/bad.yaml:12: the entry has no valid review_by date" in text


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
