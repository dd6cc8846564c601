"""Phrasings that would be answered with another entry: refused by `knowledge check` and by a
live reload, so a staff edit can never quietly steal a question."""
from __future__ import annotations

from bot.knowledge import LANGS, Entry, Knowledge, Problem
from bot.knowledge_messages import catalog
from bot.understanding import Understanding
from common.text import normalize


def collision_problems(knowledge: Knowledge, understanding: Understanding | None = None) -> list[Problem]:
    """Return an error for each phrasing in two entries, and for each phrasing the matcher would
    answer with another entry (both places named), so an edit cannot quietly steal a question.

    Pass the `understanding` built for `knowledge` when there is one (live reload serves it next).
    """
    cat = catalog(knowledge.root)
    problems: list[Problem] = []
    first_seen: dict[str, tuple[Entry, str, int]] = {}
    clashing: set[tuple[str, str]] = set()
    for entry in knowledge.entries.values():
        for lang in LANGS:
            for text, line in zip(entry.phrasings.get(lang, []), entry.phrasing_lines.get(lang, [])):
                norm = normalize(text)
                if not norm:
                    continue
                first = first_seen.get(norm)
                if first is None:
                    first_seen[norm] = (entry, text, line)
                    continue
                other, other_text, other_line = first
                if other.id == entry.id:
                    continue
                clashing.update({(entry.id, text), (other.id, other_text)})
                words = _same_words(text, other_text)
                if words:  # written differently, read the same ("påsk" and "jul" are both a holiday)
                    problems.append(cat.local_problem(
                        entry.path, line, "staff.problem.phrasing_same_words", "staff.fix.phrasing_same_words",
                        phrasing=text, other_phrasing=other_text, other=other.id,
                        place=f"{other.path}:{other_line}", words=words))
                    continue
                problems.append(cat.local_problem(
                    entry.path, line, "staff.problem.phrasing_twice", "staff.fix.phrasing_twice",
                    phrasing=text, other=other.id, place=f"{other.path}:{other_line}"))
    understanding = understanding or Understanding(knowledge)
    for entry in knowledge.entries.values():
        for lang in LANGS:
            for text, line in zip(entry.phrasings.get(lang, []), entry.phrasing_lines.get(lang, [])):
                if (entry.id, text) in clashing:
                    continue
                match = understanding.match(text)
                best = match.best if match.outcome == "answer" else None
                if not entry.out_of_scope:
                    top = understanding.score_all(text, limit=1)
                    if top and knowledge.entries[top[0].entry_id].out_of_scope:
                        best = top[0]  # taken by the questions that are not the assistant's
                if best is None or best.entry_id == entry.id:
                    continue
                other = knowledge.entries[best.entry_id]
                problems.append(cat.local_problem(
                    entry.path, line, "staff.problem.phrasing_collision", "staff.fix.phrasing_collision",
                    phrasing=text, other=other.id, score=f"{best.score:g}", other_phrasing=best.phrasing,
                    place=phrasing_place(other, best.lang, best.phrasing)))
    return problems


def _same_words(text: str, other: str) -> str:
    """Name the words two phrasings write differently but the matcher reads alike ("'påsk' = 'jul'");
    empty when they are written the same (up to case, accents and punctuation)."""
    mine, theirs = normalize_words(text), normalize_words(other)
    if mine == theirs:
        return ""
    if len(mine) == len(theirs):
        pairs = [(a, b) for a, b in zip(mine, theirs) if a != b]
    else:
        pairs = [(" ".join(w for w in mine if w not in theirs), " ".join(w for w in theirs if w not in mine))]
    return ", ".join(f"'{a}' = '{b}'" for a, b in pairs)


def normalize_words(text: str) -> list[str]:
    """The words of a phrasing as written, lower-case, without punctuation."""
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def phrasing_place(entry: Entry, lang: str, text: str) -> str:
    """Return `path:line` of one of an entry's phrasings (the entry's line if not found)."""
    phrasings = entry.phrasings.get(lang, [])
    lines = entry.phrasing_lines.get(lang, [])
    if text in phrasings and phrasings.index(text) < len(lines):
        return f"{entry.path}:{lines[phrasings.index(text)]}"
    return f"{entry.path}:{entry.line}"
