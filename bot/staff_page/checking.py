"""Check a knowledge folder exactly as `halmstad-bot knowledge check` does, and point each
problem at the field of the page's form it is about (path:line -> "phrasings.sv.2").

Blocking (the check builds the matcher): call it in a thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.knowledge import Problem, check_knowledge
from bot.knowledge_messages import catalog
from bot.staff_tools import check_lines
from bot.staff_page import yamlfiles


@dataclass
class Focus:
    """The part of a file the page edited: problems on its lines get its fields."""

    file: str  # path under the knowledge folder, e.g. "faq/app.yaml" or "contact.yaml"
    node: Any  # the ruamel node (an entry or the whole contact document)


@dataclass
class Result:
    errors: list[dict]
    warnings: list[dict]

    @property
    def ok(self) -> bool:
        return not self.errors


def _lookup(node: Any, path: str) -> Any:
    for part in path.split("."):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


def field_for(node: Any, line: int, english: str) -> str | None:
    """The deepest field written on `line` of `node` (the one whose value the message quotes
    when several share the line, e.g. the days of `phone: {mon: ..., fri: ...}`)."""
    fields = [f for at, f in yamlfiles.field_lines(node) if at == line]
    if not fields:
        return None
    depth = max(f.count(".") for f in fields)
    deepest = [f for f in fields if f.count(".") == depth]
    chosen = next((f for f in deepest if isinstance(v := _lookup(node, f), str) and f"'{v}'" in english),
                  deepest[0])
    # A missing language is reported on the line of the other one ("answer" -> its first key).
    for have, missing, word in ((".sv", ".en", "English"), (".en", ".sv", "Swedish")):
        if chosen.endswith(have) and f"no {word}" in english:
            return chosen[: -len(have)] + missing
    return chosen


def _rel(root: Path, problem: Problem) -> str:
    prefix = Path(root).name + "/"
    return problem.path[len(prefix):] if problem.path.startswith(prefix) else problem.path


def _shown(root: Path, problem: Problem, line: str, focus: Focus | None) -> dict:
    field = None
    if focus is not None and _rel(root, problem) == focus.file:
        field = field_for(focus.node, problem.line, f"{problem.message} — {problem.fix}")
    return {"field": field, "line": problem.line, "file": _rel(root, problem), "message": line}


def check_folder(root: Path, lang: str, focus: Focus | None = None) -> Result:
    """Every problem `knowledge check --lang` reports for `root`, errors first, with fields."""
    lines, problems, _ = check_lines(root, lang)
    shown = [(p, _shown(root, p, line, focus)) for line, p in zip(lines, problems)]
    return Result([s for p, s in shown if p.severity == "error"], [s for p, s in shown if p.severity != "error"])


def contact_warnings(root: Path, lang: str) -> list[dict]:
    """The warnings about contact.yaml (an exception opening a holiday), without the slow
    matcher check."""
    _, problems = check_knowledge(root)
    cat = catalog(root)
    return [{"field": None, "line": p.line, "file": "contact.yaml", "message": cat.problem(p, lang)}
            for p in problems if p.severity == "warning" and _rel(root, p) == "contact.yaml"]
