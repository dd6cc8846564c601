"""Read a backend's page texts from knowledge/ and check them before the pages are served.

Each backend keeps its sentences in one YAML file, `key: {sv: ..., en: ...}`, and names every
key its pages use with the placeholders it fills in. A missing key, a missing language or a
placeholder the code does not fill stops start-up with one line per problem, so a broken edit
never turns into a page with a hole in it (or a 500 when the page is drawn).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from .httpkit import LANGS

Required = Mapping[str, tuple[str, ...]]  # text key -> the placeholder names the code passes


def text_problems(texts: Mapping, required: Required) -> list[str]:
    """Return one line per missing or unusable text (empty when every required text is fine)."""
    problems = []
    for key, names in required.items():
        entry = texts.get(key)
        if not isinstance(entry, dict):
            problems.append(f"{key}: missing — add it with sv and en")
            continue
        for lang in LANGS:
            value = entry.get(lang)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{key}: no '{lang}' text — add one")
                continue
            try:
                value.format(**{name: "x" for name in names})
            except (KeyError, IndexError, ValueError) as exc:
                problems.append(f"{key}.{lang}: bad placeholder ({exc}) — allowed: "
                                f"{', '.join(names) or 'none'}; write a literal brace as {{{{ }}}}")
    return problems


def load_texts(path: Path, required: Required) -> dict[str, dict[str, str]]:
    """Read the texts file at `path` (key -> {sv, en}) and return it.

    Raises ValueError naming the file and every problem, in a sentence staff can act on.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: missing — the pages need this file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: must be a mapping of key: {{sv: ..., en: ...}}")
    problems = [f"{path}: {line}" for line in text_problems(raw, required)]
    if problems:
        raise ValueError("\n".join(problems))
    return {key: {lang: value[lang] for lang in LANGS} for key, value in raw.items()
            if isinstance(value, dict) and all(isinstance(value.get(lang), str) for lang in LANGS)}
