"""Both backends read their page texts from knowledge/ and refuse a broken file at start, with
one line per problem that names the file and the key (backends/texts.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from backends.activation.app import load_texts as activation_texts
from backends.dsr.app import load_texts as dsr_texts

ROOT = Path(__file__).resolve().parents[2]
FILES = {"activation": ("activation_pages.yaml", activation_texts, "activation_page.done_title"),
         "dsr": ("dsr_pages.yaml", dsr_texts, "dsr_pages.case_title")}


def knowledge_copy(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Return a knowledge dir holding a copy of the real texts file `name`, and that file."""
    (tmp_path / "texts").mkdir()
    target = tmp_path / "texts" / name
    shutil.copy(ROOT / "knowledge" / "texts" / name, target)
    return tmp_path, target


@pytest.mark.parametrize("backend", FILES)
def test_the_real_texts_load(backend):
    name, load, key = FILES[backend]
    texts = load(ROOT / "knowledge")
    assert texts[key]["sv"] and texts[key]["en"]


@pytest.mark.parametrize("backend", FILES)
def test_every_problem_is_one_line_naming_file_and_key(tmp_path, backend):
    name, load, key = FILES[backend]
    folder, path = knowledge_copy(tmp_path, name)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    first, second = [k for k in raw if k != key][:2]
    del raw[first]
    raw[second] = {"sv": raw[second]["sv"]}
    raw[key] = {"sv": raw[key]["sv"], "en": "{nonsense} here"}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load(folder)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any(f"{first}: missing" in line for line in lines)
    assert any(f"{second}: no 'en' text" in line for line in lines)
    assert any(f"{key}.en: bad placeholder" in line for line in lines)


@pytest.mark.parametrize("backend", FILES)
@pytest.mark.parametrize("content, problem", [(None, "missing"), ("a: [b", "not valid YAML"),
                                              ("- a list", "must be a mapping")])
def test_a_missing_or_unreadable_file_says_so(tmp_path, backend, content, problem):
    name, load, _ = FILES[backend]
    (tmp_path / "texts").mkdir()
    if content is not None:
        (tmp_path / "texts" / name).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load(tmp_path)
