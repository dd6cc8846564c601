"""Load and validate the knowledge files that staff edit.

Every problem is collected (not just the first) and reported as `path:line: what is wrong — how to
fix it`, so that a staff member can fix a whole edit in one go. `load_knowledge` returns the
knowledge only when there are no errors; warnings (a passed review date) never block.

What a valid file looks like is declared once, as pydantic models in `bot.knowledge_schema`; each
field there names its problem, worded here in `PROBLEMS`. The YAML is read with the line of every
key and item, so a pydantic error's location becomes the line staff must fix. What a schema cannot
see is checked here: names used twice across files, buttons and test cases that name unknown
entries, and review dates that have passed.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from bot.knowledge_schema import (FLOW_NAMES, LANGS, Case, CaseFile, Contact, FaqEntry, FaqFile, Settings,
                                  Synonyms, TextsFile, Thresholds, explain)
from common.privacy import public_retention_decision
from common.calendar import ContactCalendar, parse_date

__all__ = ["LANGS", "Problem", "KnowledgeError", "Entry", "Knowledge", "EvalSets", "EVAL_THRESHOLDS",
           "PROBLEMS", "check_knowledge", "load_knowledge", "default_knowledge_dir", "read_yaml"]

# The names a problem's wording may use: {value} as written in the file, the {key} it stands under,
# {what} the field is, the {fields} (sorted) or {names} (in order) that are allowed there.
_FILLED = re.compile(r"\{(value|key|what|fields|names)\}")


# Problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a knowledge file, with where it is and how to fix it."""

    path: str
    line: int
    message: str
    fix: str
    severity: str = "error"  # "error" blocks loading; "warning" does not

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {prefix}{self.message} — {self.fix}"

    def at(self, path: str, line: int, **values: Any) -> "Problem":
        """This problem (a wording from PROBLEMS) at a place, with {value}, {key}, ... filled in."""
        def fill(text: str) -> str:
            return _FILLED.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)
        return replace(self, path=path, line=line, message=fill(self.message), fix=fill(self.fix))


class KnowledgeError(Exception):
    """Raised when knowledge files have errors; `problems` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# YAML with line numbers ----------------------------------------------------------------------


class LMap(dict):
    """A YAML mapping that remembers the line (and column) of itself and the line of each key."""

    line: int = 0
    column: int = 0

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LList(list):
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 0

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    duplicate_keys: list[tuple[Any, int]]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LMap:
    loader.flatten_mapping(node)
    mapping = LMap()
    mapping.line, mapping.column = node.start_mark.line + 1, node.start_mark.column
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool, date)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain word", key_node.start_mark
            )
        if key in mapping:
            loader.duplicate_keys.append((key, key_node.start_mark.line + 1))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    seq = LList(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """Keep a date-shaped value that is no real date ("2027-13-01") as text, so the checks report
    it as "not a date" instead of the YAML reader crashing."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: Path, rel: str, problems: list[Problem]) -> Any:
    """Parse one YAML file with line numbers; syntax errors become problems, not exceptions."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, 1, f"the file is not UTF-8 (byte {exc.start})",
                                "save the file as UTF-8 in your editor"))
        return None
    except OSError as exc:
        problems.append(Problem(rel, 1, f"the file cannot be read ({exc.strerror})",
                                "check that the file exists and is readable"))
        return None
    loader = _Loader(text)
    loader.duplicate_keys = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = (exc.problem or "invalid YAML").strip()
        misplaced = _misplaced_entry_key(rel, text, line) if "faq" in Path(rel).parts else None
        if misplaced is not None:
            problems.append(misplaced)
            return None
        problems.append(Problem(rel, line, f"YAML syntax error: {what}",
                                "check indentation, colons and quotes on this line and the one before"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(rel, 1, f"YAML error: {exc}", "check the file's syntax"))
        return None
    finally:
        loader.dispose()
    for key, line in loader.duplicate_keys:
        problems.append(Problem(rel, line, f"the key '{key}' appears twice in one place",
                                "remove or rename one of them"))
    return data


_ENTRY_ID = re.compile(r"^ *- +id: *[\"']?([a-z0-9-]+)", re.MULTILINE)
_KEY_LINE = re.compile(r"^( *)(- +)?([a-z_]+):")
_ENTRY_START = re.compile(r"^( *)- +id:")


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _misplaced_entry_key(rel: str, text: str, line: int) -> Problem | None:
    """Explain a YAML error in an FAQ file caused by an entry's field (or a pasted entry) written
    at the wrong level: which key, how far it is indented and how far it must be."""
    lines = text.splitlines()
    for number in (line - 1, line, line - 2):  # the reader often notices on the line after
        if not 0 <= number < len(lines) or not (m := _KEY_LINE.match(lines[number])):
            continue
        written, dash, key = len(m[1]), m[2], m[3]
        entry = next((e for e in (_ENTRY_START.match(lines[i]) for i in range(number - 1, -1, -1)) if e), None)
        if entry is None or key not in FaqEntry.model_fields:
            continue
        expected = len(entry[1]) + (0 if dash else 2)
        if bool(dash) != (key == "id") or written == expected:
            continue
        if dash:
            return Problem(rel, number + 1, f"the entry '- id:' is indented {written} spaces, but entries start "
                           f"{expected} spaces in", f"move the pasted entry so that '- id:' starts {expected} "
                           f"spaces in like the other entries, and its fields {expected + 2} spaces in")
        return Problem(rel, number + 1, f"'{key}' is indented {written} spaces, but the fields of an entry are "
                       f"indented {expected}", f"write it with {expected} spaces before '{key}:', in line with "
                       "'id:' of its entry")
    return None


# The knowledge model -------------------------------------------------------------------------


@dataclass
class Entry:
    """One FAQ entry or flow starter: the phrasings that lead to it and what the bot does."""

    id: str
    phrasings: dict[str, list[str]]
    answer: dict[str, str] | None
    flow: str | None
    flow_args: dict
    links: list[dict]
    buttons: list[dict]
    owner: str
    review_by: date | None
    topic: str | None
    path: str
    line: int
    phrasing_lines: dict[str, list[int]] = field(default_factory=dict)
    out_of_scope: bool = False  # questions like these get the fallback reply (knowledge/faq/out_of_scope.yaml)


@dataclass
class Knowledge:
    """Everything loaded from the knowledge directory, validated."""

    root: Path
    texts: dict[str, dict[str, str]]
    entries: dict[str, Entry]
    contact: dict
    facts: dict[str, dict[str, str]]
    settings: dict
    eval_sets: "EvalSets"
    version: str
    warnings: list[Problem] = field(default_factory=list)
    synonyms: dict = field(default_factory=dict)  # knowledge/synonyms.yaml: groups, domain_words
    text_sources: dict[str, tuple[str, int]] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # things derived from this version (calendar, ...)

    def text(self, key: str, lang: str, **fmt: Any) -> str:
        """Return the text for `key` in `lang`, with contact facts and `fmt` filled in."""
        try:
            template = self.texts[key][lang]
        except KeyError:
            raise KeyError(f"no text {key!r} in {lang!r} in the knowledge files") from None
        return template.format_map(_Placeholders(self._values(template, lang, fmt)))

    @property
    def calendar(self) -> ContactCalendar:
        """The opening-hours calendar of this version (built once per version; the hours and handoff flows use it)."""
        calendar = self.cache.get("calendar")
        if calendar is None:
            calendar = self.cache["calendar"] = ContactCalendar.from_config(self.contact)
        return calendar

    def _values(self, template: str, lang: str, fmt: dict) -> dict[str, Any]:
        """The placeholders a template may use: the facts, the weekly hours it names, then `fmt`."""
        values: dict[str, Any] = {name: by_lang.get(lang, "") for name, by_lang in self.facts.items()}
        for name, kind in HOURS_PLACEHOLDERS.items():
            if "{" + name + "}" in template:
                try:
                    values[name] = self.calendar.weekly_text(kind, lang, lambda key, **f: self.text(key, lang, **f))
                except (ValueError, KeyError):
                    pass  # no usable hours (a test's bare knowledge): the placeholder stays as written
        values.update(fmt)
        return values

    @property
    def labelled(self) -> list[dict]:
        """The tuning set's cases (knowledge/tests/ without the held-out files)."""
        return self.eval_sets.tuning

    @property
    def eval_threshold(self) -> float:
        return self.eval_sets.thresholds["tuning"]

    def fact(self, name: str, lang: str) -> str:
        return self.facts.get(name, {}).get(lang, "")

    def render(self, template: str, lang: str, **fmt: Any) -> str:
        """Format an answer written by staff with the contact facts (and {retention_days})."""
        values = self._values(template, lang, {})
        privacy = self.settings.get("privacy") or {}
        values["retention_days"] = privacy.get("retention_days", 90)
        values["retention_decision"] = public_retention_decision(self.settings, lang)
        values.update(fmt)
        return template.format_map(_Placeholders(values))

    @property
    def answer_threshold(self) -> float:
        return float(self.settings.get("understanding", {}).get("answer_threshold", 82))

    @property
    def clarify_threshold(self) -> float:
        return float(self.settings.get("understanding", {}).get("clarify_threshold", 62))


class VersionCache:
    """What one user (the engine, the answering) made from the knowledge version in force,
    forgotten as soon as another version is. Keyed by the Knowledge object itself, not its `cache`:
    a copy of a version with other texts never shares what was made from the first."""

    def __init__(self) -> None:
        self._version: Knowledge | None = None
        self._made: dict = {}

    def made(self, knowledge: Knowledge) -> dict:
        """The things made from `knowledge` so far (a new, empty dict for a new version)."""
        if self._version is not knowledge:
            self._version, self._made = knowledge, {}
        return self._made


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass
class EvalSets:
    """The labelled questions in knowledge/tests/ and the thresholds `knowledge eval` holds them to.

    `tuning`: phrasings staff may tune the FAQ against (labelled.yaml and any other file);
    `holdout`: the held-out set (files named holdout*.yaml), never copied into FAQ phrasings.
    A case's `expect` is a tuple of acceptable entry ids, or ("fallback",).
    """

    tuning: list[dict] = field(default_factory=list)
    holdout: list[dict] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(EVAL_THRESHOLDS))


# Placeholders an answer may use for the weekly hours, written out from contact.yaml in its language.
HOURS_PLACEHOLDERS = {"phone_hours": "phone", "visiting_hours": "visiting"}
# Hours typed into an answer ("fredag till 16.00", "07.00–17.00"): they would not follow contact.yaml.
_TYPED_HOURS = re.compile(r"(?:[^\W\d]+\s+)?(?<![\d{])(?:[01]?\d|2[0-3])[.:][0-5]\d(?:\s*[–-]\s*\d{1,2}[.:]\d{2})?")


def typed_hours(entry: Entry, line: int) -> list[Problem]:
    """Warn about clock times typed into an entry's answer, naming the entry and the text."""
    found = []
    for lang, text in (entry.answer or {}).items():
        match = _TYPED_HOURS.search(text)
        if match:
            found.append(Problem(entry.path, line, f"the answer of '{entry.id}' ({lang}) has hours typed in: "
                                 f"'{match[0]}'", "write {phone_hours} or {visiting_hours} instead, so the "
                                 "answer follows the hours in contact.yaml", "warning"))
    return found


# What `knowledge eval` requires unless a file in knowledge/tests/ says otherwise.
EVAL_THRESHOLDS: dict[str, float] = Thresholds().model_dump()
# A file of test cases may set the threshold of its own set (tuning or held-out) and of two others.
_CASE_THRESHOLDS = {"threshold": None, "out_of_scope_threshold": "out_of_scope",
                    "cross_validation_threshold": "cross_validation"}


# What each problem the schema names says ---------------------------------------------------
# The wording of every problem a `Says(...)` in bot/knowledge_schema.py names; each has its
# Swedish version in knowledge/texts/staff.yaml. `Problem.at` fills in the path (`_` until then),
# the line and the names in braces.

_ = ""
PROBLEMS: dict[str, Problem] = {
    # a text in both languages (texts, answers, facts, labels, notes)
    "needs_both_languages": Problem(_, 0, "{what} must have a Swedish and an English text",
                                    "write it as two lines indented below: 'sv: ...' and 'en: ...'"),
    "no_swedish_text": Problem(_, 0, "{what} has no Swedish text ('sv')", "add a line 'sv: ...' with the text"),
    "no_english_text": Problem(_, 0, "{what} has no English text ('en')", "add a line 'en: ...' with the text"),
    "unknown_language_in": Problem(_, 0, "unknown language '{key}' in {what}",
                                   "use only 'sv' (Swedish) and 'en' (English)"),
    "unclosed_brace": Problem(_, 0, "a '{' or '}' is not closed in the text",
                              "write placeholders as {phone}; write a literal brace as {{ or }}"),
    # texts/*.yaml
    "text_file_shape": Problem(_, 0, "a text file must be a list of 'key:' lines",
                               "write each text as 'area.name:' with 'sv:' and 'en:' below it"),
    "bad_text_key": Problem(_, 0, "'{key}' is not a valid text key",
                            "use lower-case words joined by dots, e.g. core.greeting"),
    # contact.yaml
    "contact_not_mapping": Problem(_, 0, "contact.yaml must be a mapping", "see docs/KNOWLEDGE-FORMAT.md"),
    "unknown_field_contact": Problem(_, 0, "unknown field '{key}'",
                                     "use timezone, facts, hours, staffed and exceptions"),
    "unknown_timezone": Problem(_, 0, "unknown time zone '{value}'", "write Europe/Stockholm"),
    "facts_missing": Problem(_, 0, "'facts' is missing or not a list of names",
                             "add 'facts:' with phone, email and the addresses"),
    "hours_missing": Problem(_, 0, "'hours' is missing", "add 'hours:' with 'phone:' and 'visiting:' per weekday"),
    "unknown_hours_kind": Problem(_, 0, "unknown kind of hours '{key}'", "use 'phone' or 'visiting'"),
    "hours_need_weekdays": Problem(_, 0, "the {key} hours must list weekdays",
                                   "write e.g. 'mon: \"07:00-17:00\"' per day"),
    "not_weekday": Problem(_, 0, "'{key}' is not a weekday", "use mon, tue, wed, thu, fri, sat, sun"),
    "not_hours": Problem(_, 0, "'{value}' is not opening hours", "write hours as \"07:00-17:00\" or \"closed\""),
    "hours_reversed": Problem(_, 0, "the hours '{value}' close before they open",
                              "write the opening time first, e.g. 08:00-17:00"),
    "staffed_unknown": Problem(_, 0, "'staffed: {value}' is unknown", "write 'staffed: phone' or 'staffed: visiting'"),
    "exceptions_not_list": Problem(_, 0, "'exceptions' must be a list",
                                   "start each exception with '- date: YYYY-MM-DD'"),
    "exception_shape": Problem(_, 0, "an exception must have a date or a rule, and hours",
                               "write '- date: 2026-12-23' (or '- rule: {weekday: fredag, from: 2026-12-01, "
                               "to: 2026-12-31}') and 'phone: \"07:00-15:00\"' below"),
    "rule_shape": Problem(_, 0, "a rule needs a weekday, a first day (from) and a last day (to)",
                          "write 'rule: {weekday: fredag, from: 2026-12-01, to: 2026-12-31}'"),
    "rule_unknown_field": Problem(_, 0, "unknown field '{key}' in a rule", "use only weekday, from and to"),
    "rule_backwards": Problem(_, 0, "the rule ends ('to') before it starts ('from')",
                              "write the first day in 'from' and the last day in 'to'"),
    "not_weekday_name": Problem(_, 0, "'{value}' is not a weekday", "write e.g. fredag (or fri)"),
    "open_on_holiday_bool": Problem(_, 0, "'open_on_holiday' must be true or false",
                                    "write 'open_on_holiday: true' to open a public holiday"),
    "not_a_date": Problem(_, 0, "'{value}' is not a date", "write the date as YYYY-MM-DD, e.g. 2026-12-23"),
    "closed_bool": Problem(_, 0, "'closed' must be true or false", "write 'closed: true'"),
    "exception_unknown_field": Problem(_, 0, "unknown field '{key}' in an exception",
                                       "use date or rule, phone, visiting, closed, open_on_holiday and note"),
    "exception_empty": Problem(_, 0, "the exception says nothing about the hours",
                               "add 'closed: true' or 'phone: \"07:00-15:00\"'"),
    # settings.yaml
    "settings_not_mapping": Problem(_, 0, "settings.yaml must be a mapping", "see docs/KNOWLEDGE-FORMAT.md"),
    "threshold_range": Problem(_, 0, "'{key}' must be a number from 1 to 100", "write e.g. 82"),
    "thresholds_order": Problem(_, 0, "clarify_threshold must be lower than answer_threshold",
                                "e.g. answer_threshold 82 and clarify_threshold 62"),
    "retention_days": Problem(_, 0, "retention_days must be a whole number of days", "write e.g. 90"),
    # faq/*.yaml
    "faq_file_shape": Problem(_, 0, "an FAQ file must start with 'entries:' and a list",
                              "write 'entries:' on the first line and each entry as '- id: ...'"),
    "entry_not_group": Problem(_, 0, "an entry must be a group of fields",
                               "start the entry with '- id: ...' and indent its fields"),
    "bad_id": Problem(_, 0, "the entry's id '{value}' is missing or invalid",
                      "write 'id:' with lower-case letters, digits and '-', e.g. app-forgot-password"),
    "unknown_field_entry": Problem(_, 0, "unknown field '{key}'", "use only: {fields}"),
    "no_phrasings": Problem(_, 0, "the entry has no phrasings",
                            "add 'phrasings:' with 'sv:' and 'en:' lists of questions"),
    "no_swedish_phrasings": Problem(_, 0, "the entry has no Swedish phrasings",
                                    "add 'sv:' with a list of ways to ask, one per line starting with '- '"),
    "no_english_phrasings": Problem(_, 0, "the entry has no English phrasings",
                                    "add 'en:' with a list of ways to ask, one per line starting with '- '"),
    "empty_phrasing": Problem(_, 0, "a phrasing is empty or not text",
                              "write the question as text, or delete the line"),
    "unknown_language": Problem(_, 0, "unknown language '{key}'", "use only 'sv' and 'en'"),
    "unknown_flow": Problem(_, 0, "unknown flow '{value}'", "use one of: " + ", ".join(FLOW_NAMES)),
    "out_of_scope_bool": Problem(_, 0, "out_of_scope must be true or false",
                                 "write 'out_of_scope: true' for questions the assistant does not handle"),
    "out_of_scope_answer": Problem(_, 0, "an out-of-scope entry gets the fallback reply and has no answer or flow",
                                   "remove 'answer:' and 'flow:' from it, or remove 'out_of_scope: true'"),
    "no_answer": Problem(_, 0, "the entry has neither an answer nor a flow",
                         "add 'answer:' with 'sv:' and 'en:' texts"),
    "flow_args": Problem(_, 0, "flow_args must be a group of names and values",
                         "write e.g. 'flow_args: {topic: open_now}'"),
    "link_shape": Problem(_, 0, "a link needs a label and a url",
                          "write '- label: {sv: ..., en: ...}' and 'url: https://...'"),
    "bad_link": Problem(_, 0, "the link '{value}' is not a web address", "write a full address starting with https://"),
    "button_shape": Problem(_, 0, "a button needs a label and a payload",
                            "write '- label: {sv: ..., en: ...}' and 'payload: flow:activation'"),
    "bad_payload": Problem(_, 0, "the button payload '{value}' is unknown",
                           "use flow:<flow>, faq:<entry id> or cmd:menu/help/human/cancel/privacy"),
    "no_owner": Problem(_, 0, "the entry has no owner", "add 'owner:' with the team that keeps it right"),
    "bad_review_by": Problem(_, 0, "review_by '{value}' is not a real date",
                             "write a date that exists as YYYY-MM-DD, e.g. 2027-06-30"),
    "no_review_by": Problem(_, 0, "the entry has no valid review_by date",
                            "add 'review_by: YYYY-MM-DD', the day it must be checked again"),
    # tests/*.yaml
    "eval_threshold": Problem(_, 0, "{key} must be between 0 and 1", "write e.g. 0.95"),
    "unknown_threshold": Problem(_, 0, "unknown field '{key}'", "use only {names}"),
    "case_shape": Problem(_, 0, "a test case needs text, lang (sv/en) and expect",
                          "write '- {text: \"...\", lang: sv, expect: entry-id}'"),
    # synonyms.yaml
    "synonyms_shape": Problem(_, 0, "synonyms.yaml must be a mapping with 'groups' and 'domain_words'",
                              "see docs/KNOWLEDGE-FORMAT.md"),
    "unknown_field_synonyms": Problem(_, 0, "unknown field '{key}'", "use only 'groups' and 'domain_words'"),
    "synonym_groups": Problem(_, 0, "'groups' must be a list of word lists", "write e.g. '  - [mejl, e-post, mail]'"),
    "synonym_group_size": Problem(_, 0, "a synonym group needs at least two words",
                                  "write e.g. '  - [mejl, e-post, mail]'"),
    "domain_words": Problem(_, 0, "'domain_words' must be a list of words",
                            "write e.g. 'domain_words: [konto, app, frånvaro]'"),
}


# Checking against the schema ---------------------------------------------------------------


def _locate(raw: Any, loc: tuple, line: int) -> tuple[int, Any]:
    """Find the YAML line of an error's location and the value written there (None: not written)."""
    value = raw
    for part in loc:
        if part == "[key]" or not isinstance(value, (LMap, LList)):
            break
        line = value.line
        try:
            value, line = value[part], value.line_of(part)
        except (KeyError, IndexError, TypeError):
            return line, None
    return line, value


def _check(model: type[BaseModel], raw: Any, where: tuple[str, int], problems: list[Problem],
           within: Any = None) -> Any:
    """Validate `raw` against `model`; every error becomes a problem at its line, in line order.

    `where` is the file and the line of `raw` itself; the error locations are looked up in
    `within` when `raw` is a piece cut out of it.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        found = []
        errors = exc.errors()
        too_far = {e["loc"][-1] for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) > 1}
        for error in errors:
            if error["type"] == "missing" and len(error["loc"]) == 1 and error["loc"][0] in too_far:
                continue  # written, only at the wrong level: that is the one problem
            reason = explain(model, error, PROBLEMS)
            line, value = _locate(raw if within is None else within, error["loc"], where[1])
            if misplaced := _too_far_in(model, error["loc"], raw if within is None else within, where, line):
                found.append(misplaced)
                continue
            found.append(PROBLEMS[reason.problem].at(
                where[0], line, value=value, key=reason.key, what=reason.what,
                fields=", ".join(sorted(reason.fields)), names=", ".join(reason.fields)))
        problems.extend(sorted(dict.fromkeys(found), key=lambda p: p.line))
        return None


def _too_far_in(model: type[BaseModel], loc: tuple, raw: Any, where: tuple[str, int], line: int) -> Problem | None:
    """A field of `model` written inside one of its parts ("owner" under "answer"): say so, with the
    indentation it needs, instead of calling it an unknown language or field."""
    parents = [part for part in loc[:-1] if isinstance(part, str)]
    if len(loc) < 2 or loc[-1] not in model.model_fields or not parents or not isinstance(raw, LMap):
        return None
    return Problem(where[0], line, f"'{loc[-1]}' is indented too far: it belongs to the entry, not under "
                   f"'{parents[-1]}'", f"write it with {raw.column} spaces before '{loc[-1]}:', in line with "
                   f"'{parents[0]}:'")


def _seen_before(seen: dict, key: Any, place: Any) -> Any:
    """Return where `key` was first seen, or remember `place` for it and return None."""
    if key in seen:
        return seen[key]
    seen[key] = place
    return None


# Loading -------------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _read_folder(root: Path, name: str, problems: list[Problem],
                 missing: tuple[str, str] | None = None) -> list[tuple[str, Any]]:
    """Parse every YAML file of one knowledge folder, in name order; return (path, data) pairs.

    `missing` is the (problem, fix) reported when the folder holds no file; None: none needed.
    """
    folder = root / name
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files and missing:
        problems.append(Problem(_rel(folder, root), 1, *missing))
    out = []
    for path in files:
        rel = _rel(path, root)
        out.append((rel, read_yaml(path, rel, problems)))
    return out


def _read_optional_file(root: Path, name: str, problems: list[Problem]) -> tuple[str, Any]:
    """Read an optional top-level YAML file; (its path, None) when it is absent or unreadable."""
    path = root / name
    rel = _rel(path, root)
    return rel, (read_yaml(path, rel, problems) if path.exists() else None)


def _load_texts(root: Path, problems: list[Problem]) -> tuple[dict, dict]:
    texts: dict[str, dict[str, str]] = {}
    sources: dict[str, tuple[str, int]] = {}
    for rel, data in _read_folder(root, "texts", problems, (
            "there are no text files", "restore knowledge/texts/ from the project (git checkout knowledge/texts)")):
        if data is None:
            continue
        if not isinstance(data, LMap):
            _check(TextsFile, data, (rel, 1), problems)  # reports the file's shape
            continue
        for key, value in data.items():  # one text at a time: a broken text hides no other
            line = data.line_of(key)
            if (first := _seen_before(sources, key, (rel, line))) is not None:
                problems.append(Problem(rel, line, f"the text '{key}' is also defined at {first[0]}:{first[1]}",
                                        "keep one of them and delete the other"))
            elif (checked := _check(TextsFile, {key: value}, (rel, line), problems, within=data)) is not None:
                texts[key] = checked.root[key].model_dump()
    return texts, sources


def _load_contact(root: Path, problems: list[Problem]) -> tuple[dict, dict]:
    rel, data = _read_optional_file(root, "contact.yaml", problems)
    if data is None:
        if not (root / "contact.yaml").exists():
            problems.append(Problem(rel, 1, "contact.yaml is missing",
                                    "restore it from the project (git checkout knowledge/contact.yaml)"))
        return {}, {}
    contact = _check(Contact, data, (rel, 1), problems)
    if not isinstance(data, LMap):
        return {}, {}
    if not _check_exception_dates(rel, data.get("exceptions"), problems) and contact is not None:
        _check_calendar(rel, data, problems)
    facts = {str(name): fact.model_dump() for name, fact in contact.facts.items()} if contact else {}
    return _plain(data), facts


def _check_exception_dates(rel: str, exceptions: Any, problems: list[Problem]) -> bool:
    """Each day may have one exception (dates the schema refuses are its problems); True: a day twice."""
    seen: dict[date, int] = {}
    before = len(problems)
    for item in exceptions if isinstance(exceptions, LList) else ():
        try:
            day = parse_date(item.get("date") if isinstance(item, LMap) else None)
        except ValueError:
            continue
        if (first := _seen_before(seen, day, item.line_of("date"))) is not None:
            problems.append(Problem(rel, item.line_of("date"), f"{day} has two exceptions (also line {first})",
                                    "merge them into one"))
    return len(problems) > before


def _check_calendar(rel: str, data: LMap, problems: list[Problem]) -> None:
    """Build the calendar as the bot will: rules given twice are errors, opened holidays warnings."""
    exceptions = data.get("exceptions")
    line = data.line_of("exceptions") if "exceptions" in data else 1
    try:
        calendar = ContactCalendar.from_config(_plain(data))
    except ValueError as exc:
        problems.append(Problem(rel, line, f"the hours cannot be read: {exc}",
                                "merge the entries that give the same day"))
        return
    for found in calendar.holiday_conflicts():
        where = exceptions.line_of(found.entry) if isinstance(exceptions, LList) else line
        what = "the rule" if found.rule else "the exception"
        if found.opens:
            problems.append(Problem(rel, where, f"{what} opens {found.day} ({found.holiday}), a holiday",
                                    "check that this is meant; remove 'open_on_holiday: true' to keep the day closed",
                                    "warning"))
        else:
            problems.append(Problem(rel, where, f"{what} gives hours on {found.day} ({found.holiday}), a holiday: "
                                    "the holiday wins and the day stays closed",
                                    "nothing to do if it should stay closed; to open it, add 'open_on_holiday: true'",
                                    "warning"))


def _load_settings(root: Path, problems: list[Problem]) -> dict:
    rel, data = _read_optional_file(root, "settings.yaml", problems)
    if data is None or _check(Settings, data, (rel, 1), problems) is None:
        return {}
    return _plain(data)


def _load_entries(root: Path, problems: list[Problem], today: date,
                  broken: set[str]) -> tuple[dict[str, Entry], list[Problem]]:
    """Read every FAQ entry; the ids of entries with errors go to `broken` (their problem is the
    one message: test cases and buttons that name them say nothing more)."""
    warnings: list[Problem] = []
    entries: dict[str, Entry] = {}
    for rel, data in _read_folder(root, "faq", problems, (
            "there are no FAQ files", "restore knowledge/faq/ from the project")):
        if data is None:  # unreadable: what names its entries is no problem of its own
            broken.update(_ENTRY_ID.findall(_text_of(Path(root.parent, rel))))
            continue
        if _check(FaqFile, data, (rel, 1), problems) is None:
            continue
        items = data["entries"]
        for i, item in enumerate(items):  # one entry at a time: a broken entry hides no other
            checked = _check(FaqEntry, item, (rel, items.line_of(i)), problems)
            if checked is None:
                if isinstance(item, LMap) and isinstance(item.get("id"), str):
                    broken.add(item["id"])
                continue
            entry = _entry(checked, item, rel)
            if (other := _seen_before(entries, entry.id, entry)) is not None:
                problems.append(Problem(rel, entry.line,
                                        f"the id '{entry.id}' is also used at {other.path}:{other.line}",
                                        "give this entry another id"))
                continue
            warnings.extend(typed_hours(entry, item.line_of("answer") if "answer" in item else entry.line))
            if entry.review_by < today:
                warnings.append(Problem(rel, item.line_of("review_by"),
                                        f"the entry '{entry.id}' was due for review on {entry.review_by}",
                                        "check the answer and set a new review_by date", "warning"))
    for entry in entries.values():
        for button in entry.buttons:
            payload = button["payload"]
            if payload.startswith("faq:") and payload[4:] not in entries and payload[4:] not in broken:
                problems.append(Problem(entry.path, button["line"], f"the button goes to unknown entry '{payload[4:]}'",
                                        "write the id of an existing entry after 'faq:'"))
    return entries, warnings


def _entry(checked: FaqEntry, item: LMap, rel: str) -> Entry:
    """The bot's entry from a checked one, with the lines that later checks point at."""
    phrasings, buttons = item["phrasings"], item.get("buttons") or []
    return Entry(
        id=checked.id, topic=item.get("topic"), path=rel, line=item.line,
        phrasings={lang: getattr(checked.phrasings, lang) for lang in LANGS},
        phrasing_lines={lang: list(phrasings[lang].item_lines) for lang in LANGS},
        answer=checked.answer.model_dump() if checked.answer else None,
        flow=checked.flow, flow_args=_plain(checked.flow_args or {}),
        links=[{"label": link.label.model_dump(), "url": link.url} for link in checked.links or []],
        buttons=[{"label": button.label.model_dump(), "payload": button.payload, "line": raw.line_of("payload")}
                 for button, raw in zip(checked.buttons or [], buttons)],
        owner=checked.owner, review_by=checked.review_by, out_of_scope=checked.out_of_scope,
    )


def _load_labelled(root: Path, problems: list[Problem], entries: dict[str, Entry],
                   broken: Iterable[str] = ()) -> EvalSets:
    sets = EvalSets()
    thresholds_file = None
    for rel, data in _read_folder(root, "tests", problems):
        if not isinstance(data, LMap):
            continue
        if Path(rel).name == "thresholds.yaml":
            thresholds_file = (rel, data)  # applied last: it has the final word
            continue
        held_out = Path(rel).name.startswith("holdout")
        checked = _check(CaseFile, data, (rel, 1), problems)
        for key, name in _CASE_THRESHOLDS.items():
            if checked is not None and getattr(checked, key) is not None:
                sets.thresholds[name or ("holdout" if held_out else "tuning")] = getattr(checked, key)
        cases = data.get("cases")
        for i, case in enumerate(cases if isinstance(cases, LList) else ()):
            found = _case(case, (rel, cases.line_of(i)), problems, entries, frozenset(broken))
            if found:
                (sets.holdout if held_out else sets.tuning).append(found)
    if thresholds_file:
        checked = _check(Thresholds, thresholds_file[1], (thresholds_file[0], 1), problems)
        sets.thresholds.update(checked.model_dump(exclude_unset=True) if checked else {})
    return sets


def _case(raw: Any, where: tuple[str, int], problems: list[Problem], entries: dict[str, Entry],
          broken: frozenset[str] = frozenset()) -> dict | None:
    """One labelled question: {text, lang, expect} with expect a tuple of entry ids or ("fallback",).

    A case naming an entry that has errors is left out without a problem of its own.
    """
    case = _check(Case, raw, where, problems)
    if case is None:
        return None
    expects = tuple(case.expect) if isinstance(case.expect, list) else (case.expect,)
    unknown = [e for e in expects if e != "fallback" and e not in entries]
    if unknown and set(unknown) <= broken:
        return None
    if not expects or unknown or ("fallback" in expects and len(expects) > 1):
        problems.append(Problem(where[0], where[1],
                                f"the test case expects unknown entry '{(unknown or [case.expect])[0]}'",
                                "write an existing entry id, a list of them, or 'fallback'"))
        return None
    return {"text": case.text, "lang": case.lang, "expect": expects, "path": where[0], "line": where[1]}


def _load_synonyms(root: Path, problems: list[Problem]) -> dict:
    """knowledge/synonyms.yaml: groups of words the matcher treats as one, and the domain words
    that never get the generic fallback."""
    rel, data = _read_optional_file(root, "synonyms.yaml", problems)
    checked = _check(Synonyms, data, (rel, 1), problems) if data is not None else None
    groups = data.get("groups") if isinstance(data, LMap) else None
    seen: dict[str, int] = {}
    for i, group in enumerate(groups if isinstance(groups, LList) else ()):
        for word in group if isinstance(group, list) else ():
            if not isinstance(word, str):
                continue  # the schema reports it
            if (first := _seen_before(seen, word.strip().lower(), groups.line_of(i))) is not None:
                problems.append(Problem(rel, groups.line_of(i),
                                        f"the word '{word}' is already in the group on line {first}",
                                        "keep each word in one group only"))
    return {"groups": checked.groups or [], "domain_words": checked.domain_words or []} if checked else {}


def _plain(value: Any) -> Any:
    """Return `value` with the line-aware containers turned into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.yaml") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            pass
    return digest.hexdigest()[:12]


def check_knowledge(root: Path, *, today: date | None = None,
                    extra_checks: Iterable = ()) -> tuple[Knowledge | None, list[Problem]]:
    """Load `root` and return (knowledge or None, every problem incl. warnings).

    `extra_checks` are callables `(knowledge) -> list[Problem]` run on a loaded knowledge (e.g. the
    text keys the flows need and phrasing collisions found by the matcher).
    """
    root = Path(root)
    today = today or date.today()
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(str(root), 1, "the knowledge directory does not exist",
                              "pass --dir with the folder that holds contact.yaml, texts/ and faq/")]
    texts, sources = _load_texts(root, problems)
    contact, facts = _load_contact(root, problems)
    settings = _load_settings(root, problems)
    broken: set[str] = set()
    entries, warnings = _load_entries(root, problems, today, broken)
    eval_sets = _load_labelled(root, problems, entries, broken)
    synonyms = _load_synonyms(root, problems)
    knowledge = Knowledge(
        root=root, texts=texts, entries=entries, contact=contact, facts=facts, settings=settings,
        eval_sets=eval_sets, version=_fingerprint(root), warnings=warnings, synonyms=synonyms,
        text_sources=sources,
    )
    for check in extra_checks:  # a follow-on of an entry with errors ("faq:<its id>") is left out
        problems.extend(p for p in check(knowledge) if not any(f"faq:{b}'" in p.message for b in broken))
    errors = [p for p in problems if p.severity == "error"]
    warnings += [p for p in problems if p.severity == "warning"]
    everything = errors + warnings
    return (None if errors else knowledge), everything


def load_knowledge(root: Path, *, today: date | None = None, extra_checks: Iterable = ()) -> Knowledge:
    """Load `root`, raising KnowledgeError with every error when anything is wrong."""
    knowledge, problems = check_knowledge(root, today=today, extra_checks=extra_checks)
    if knowledge is None:
        raise KnowledgeError([p for p in problems if p.severity == "error"])
    return knowledge


def default_knowledge_dir() -> Path:
    """Return the project's own knowledge/ folder (next to the packages)."""
    return Path(__file__).resolve().parent.parent / "knowledge"
