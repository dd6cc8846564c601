"""Show the knowledge checker's problems, and the staff tools' sentences, in Swedish or English.

The loader (`bot.knowledge`) writes its problems in English. Rather than thread a message id
through every check, each English message and fix has a template in `knowledge/texts/staff.yaml`
(`staff.problem.*`, `staff.fix.*`, with the varying parts in braces); a problem is matched back to
its template, its parts are taken out, and the Swedish template is filled with them. A sentence
without a template is shown in English, so a new check in the loader is never hidden.

The catalogue is read with a plain YAML parser, not through the loader, so that `knowledge check
--lang sv` still speaks Swedish when the files it checks are broken.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import LANGS, Problem, default_knowledge_dir

CATALOG_FILE = Path("texts") / "staff.yaml"
# Parts of a message that are themselves sentences the loader fills in (and so are translated).
_NESTED = ("what", "detail")


@dataclass(frozen=True)
class LocalProblem(Problem):
    """A problem found by the staff tools, carrying its text key and values for any language."""

    key: str = ""
    fix_key: str = ""
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Template:
    key: str
    pattern: re.Pattern
    literal_length: int


def _compile(key: str, template: str) -> _Template:
    """Turn an English template ("unknown field '{key}'") into an anchored regex."""
    parts, seen, literal = ["^"], set(), 0
    for text, field, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(text))
        literal += len(text)
        if field is None:
            continue
        if field in seen:
            parts.append(f"(?P={field})")
        else:
            seen.add(field)
            parts.append(f"(?P<{field}>.*?)")
    parts.append("$")
    return _Template(key, re.compile("".join(parts), re.DOTALL), literal)


class Catalog:
    """The staff tools' sentences by key and language, and the problem translator."""

    def __init__(self, texts: dict[str, dict[str, str]]) -> None:
        self.texts = texts
        self._tables: dict[str, list[_Template]] = {}
        for prefix in ("staff.problem.", "staff.fix.", "staff.what."):
            table = [_compile(k, v["en"]) for k, v in texts.items()
                     if k.startswith(prefix) and isinstance(v.get("en"), str)]
            # The most specific template first: "unknown field '{key}' in an exception" before
            # "unknown field '{key}'".
            table.sort(key=lambda t: -t.literal_length)
            self._tables[prefix] = table

    def text(self, key: str, lang: str, /, **fmt: Any) -> str:
        """Return the sentence `key` in `lang` (English if that language is missing)."""
        by_lang = self.texts.get(key) or {}
        template = by_lang.get(lang) or by_lang.get("en")
        if template is None:
            raise KeyError(f"no staff text {key!r}")
        return template.format(**fmt)

    def _translate(self, prefix: str, english: str, lang: str) -> str:
        if lang == "en":
            return english
        for template in self._tables[prefix]:
            m = template.pattern.match(english)
            if m is None:
                continue
            params = {name: (self._translate("staff.what.", value, lang) if name in _NESTED else value)
                      for name, value in m.groupdict().items()}
            try:
                return self.text(template.key, lang, **params)
            except (KeyError, IndexError, ValueError):
                return english
        return english

    def message(self, english: str, lang: str) -> str:
        """Return a loader message in `lang`."""
        return self._translate("staff.problem.", english, lang)

    def fix(self, english: str, lang: str) -> str:
        """Return a loader fix in `lang`."""
        return self._translate("staff.fix.", english, lang)

    def knows(self, english_message: str) -> bool:
        """Say whether a loader message has a template (tests use it to find untranslated ones)."""
        return any(t.pattern.match(english_message) for t in self._tables["staff.problem."])

    def knows_fix(self, english_fix: str) -> bool:
        return any(t.pattern.match(english_fix) for t in self._tables["staff.fix."])

    def problem(self, problem: Problem, lang: str) -> str:
        """Return `path:line: what is wrong — how to fix it` in `lang`.

        English is exactly `str(problem)`, so scripts and tests that read the English output keep
        working.
        """
        if lang == "en":
            return str(problem)
        if isinstance(problem, LocalProblem) and problem.key:
            params = dict(problem.params)
            message = self.text(problem.key, lang, **params)
            fix = self.text(problem.fix_key, lang, **params)
        else:
            message, fix = self.message(problem.message, lang), self.fix(problem.fix, lang)
        key = "staff.check.warning_line" if problem.severity == "warning" else "staff.check.line"
        return self.text(key, lang, path=problem.path, line=problem.line, message=message, fix=fix)

    def local_problem(self, path: str, line: int, key: str, fix_key: str, severity: str = "error", /,
                      **params: Any) -> LocalProblem:
        """Build a problem whose English text comes from the catalogue (and Swedish on demand)."""
        values = {k: str(v) for k, v in params.items()}
        return LocalProblem(path, line, self.text(key, "en", **values), self.text(fix_key, "en", **values),
                            severity, key=key, fix_key=fix_key, params=tuple(sorted(values.items())))


# One line of a problem report as `str(Problem)` writes it (the live reload keeps its errors so).
_REPORT_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<warning>warning: )?(?P<message>.*?) — (?P<fix>.*)$")


def translate_report(report: str, lang: str, root: Path | None = None) -> str:
    """Write a report of problems (lines of `str(problem)`) in `lang`; other lines stay as they are."""
    cat = catalog(root)
    lines = []
    for line in report.splitlines():
        m = _REPORT_LINE.match(line)
        if m is None:
            lines.append(line)
            continue
        problem = Problem(m["path"], int(m["line"]), m["message"], m["fix"], "warning" if m["warning"] else "error")
        lines.append(cat.problem(problem, lang))
    return "\n".join(lines)


def _read_catalog(path: Path) -> dict[str, dict[str, str]] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): {lang: str(v[lang]).strip() for lang in LANGS if isinstance(v.get(lang), str)}
            for k, v in data.items() if isinstance(v, dict)}


@lru_cache(maxsize=8)
def _catalog_at(path: str, mtime_ns: int) -> Catalog | None:
    texts = _read_catalog(Path(path))
    return Catalog(texts) if texts else None


def catalog(root: Path | None = None) -> Catalog:
    """Return the catalogue from `root` (the knowledge being checked) or, when that one is missing
    or broken, from the project's own knowledge folder."""
    for folder in ([Path(root)] if root is not None else []) + [default_knowledge_dir()]:
        path = folder / CATALOG_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        found = _catalog_at(str(path), mtime)
        if found is not None and "staff.check.line" in found.texts:
            return found
    raise RuntimeError("knowledge/texts/staff.yaml is missing; restore it from the project")
