"""Load and validate the knowledge files that staff edit.

Every problem is collected (not just the first) and reported as `path:line: what is wrong — how to
fix it`, so that a staff member can fix a whole edit in one go. `load_knowledge` returns the
knowledge only when there are no errors; warnings (a passed review date) never block.
"""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

LANGS = ("sv", "en")
FLOW_NAMES = ("account", "activation", "contact_hours", "data_rights", "handoff")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TEXT_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_HOURS = re.compile(r"^([01]\d|2[0-3])[:.]([0-5]\d)\s*-\s*([01]\d|2[0-4])[:.]([0-5]\d)$")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PAYLOAD_CMDS = ("menu", "help", "cancel", "human", "privacy", "lang:sv", "lang:en")
_ENTRY_FIELDS = {
    "id", "topic", "phrasings", "answer", "flow", "flow_args", "links", "buttons", "owner",
    "review_by", "out_of_scope",
}


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


class KnowledgeError(Exception):
    """Raised when knowledge files have errors; `problems` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# YAML with line numbers ----------------------------------------------------------------------


class LMap(dict):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0

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
    mapping.line = node.start_mark.line + 1
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
        values = {name: by_lang.get(lang, "") for name, by_lang in self.facts.items()}
        values.update(fmt)
        return template.format_map(_Placeholders(values))

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
        values = {name: by_lang.get(lang, "") for name, by_lang in self.facts.items()}
        privacy = self.settings.get("privacy") or {}
        values["retention_days"] = privacy.get("retention_days", 90)
        values["retention_decision"] = (privacy.get("retention_decision") or {}).get(lang, "")
        values.update(fmt)
        return template.format_map(_Placeholders(values))

    @property
    def answer_threshold(self) -> float:
        return float(self.settings.get("understanding", {}).get("answer_threshold", 82))

    @property
    def clarify_threshold(self) -> float:
        return float(self.settings.get("understanding", {}).get("clarify_threshold", 62))


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# Loading -------------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _lang_map(value: Any, where: tuple[str, int], what: str, problems: list[Problem],
              *, allow_plain: bool = False) -> dict[str, str] | None:
    """Check a {sv: ..., en: ...} mapping of non-empty strings."""
    rel, line = where
    if allow_plain and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {lang: str(value) for lang in LANGS}
    if not isinstance(value, dict):
        problems.append(Problem(rel, line, f"{what} must have a Swedish and an English text",
                                "write it as two lines indented below: 'sv: ...' and 'en: ...'"))
        return None
    out = {}
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem(rel, value.line_of(lang) if isinstance(value, LMap) else line,
                                    f"{what} has no {'Swedish' if lang == 'sv' else 'English'} text ('{lang}')",
                                    f"add a line '{lang}: ...' with the text"))
        else:
            out[lang] = text.strip() if not text.endswith("\n") else text.rstrip("\n")
    for key in value:
        if key not in LANGS:
            problems.append(Problem(rel, value.line_of(key) if isinstance(value, LMap) else line,
                                    f"unknown language '{key}' in {what}",
                                    "use only 'sv' (Swedish) and 'en' (English)"))
    return out if len(out) == len(LANGS) else None


def _check_placeholders(template: str, where: tuple[str, int], problems: list[Problem]) -> None:
    try:
        list(string.Formatter().parse(template))
    except ValueError:
        problems.append(Problem(where[0], where[1], "a '{' or '}' is not closed in the text",
                                "write placeholders as {phone}; write a literal brace as {{ or }}"))


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


def _load_texts(root: Path, problems: list[Problem]) -> tuple[dict, dict]:
    texts: dict[str, dict[str, str]] = {}
    sources: dict[str, tuple[str, int]] = {}
    for rel, data in _read_folder(root, "texts", problems, (
            "there are no text files", "restore knowledge/texts/ from the project (git checkout knowledge/texts)")):
        if data is None:
            continue
        if not isinstance(data, LMap):
            problems.append(Problem(rel, 1, "a text file must be a list of 'key:' lines",
                                    "write each text as 'area.name:' with 'sv:' and 'en:' below it"))
            continue
        for key, value in data.items():
            line = data.line_of(key)
            if not isinstance(key, str) or not _TEXT_KEY.match(key):
                problems.append(Problem(rel, line, f"'{key}' is not a valid text key",
                                        "use lower-case words joined by dots, e.g. core.greeting"))
                continue
            if key in sources:
                other = sources[key]
                problems.append(Problem(rel, line, f"the text '{key}' is also defined at {other[0]}:{other[1]}",
                                        "keep one of them and delete the other"))
                continue
            by_lang = _lang_map(value, (rel, line), f"the text '{key}'", problems)
            if by_lang:
                for lang, template in by_lang.items():
                    _check_placeholders(template, (rel, value.line_of(lang) if isinstance(value, LMap) else line), problems)
                texts[key] = by_lang
                sources[key] = (rel, line)
    return texts, sources


def _parse_hours(value: Any, where: tuple[str, int], problems: list[Problem], *, allow_closed: bool) -> bool:
    rel, line = where
    if allow_closed and value == "closed":
        return True
    if not isinstance(value, str) or not _HOURS.match(value.strip()):
        problems.append(Problem(rel, line, f"'{value}' is not opening hours",
                                "write hours as \"07:00-17:00\"" + (" or \"closed\"" if allow_closed else "")))
        return False
    m = _HOURS.match(value.strip())
    opens = int(m.group(1)) * 60 + int(m.group(2))
    closes = int(m.group(3)) * 60 + int(m.group(4))
    if closes <= opens:
        problems.append(Problem(rel, line, f"the hours '{value}' close before they open",
                                "write the opening time first, e.g. 08:00-17:00"))
        return False
    return True


def _load_contact(root: Path, problems: list[Problem]) -> tuple[dict, dict]:
    path = root / "contact.yaml"
    rel = _rel(path, root)
    if not path.exists():
        problems.append(Problem(rel, 1, "contact.yaml is missing",
                                "restore it from the project (git checkout knowledge/contact.yaml)"))
        return {}, {}
    data = read_yaml(path, rel, problems)
    if not isinstance(data, LMap):
        if data is not None:
            problems.append(Problem(rel, 1, "contact.yaml must be a mapping", "see docs/KNOWLEDGE-FORMAT.md"))
        return {}, {}
    for key in data:
        if key not in ("timezone", "facts", "hours", "staffed", "exceptions"):
            problems.append(Problem(rel, data.line_of(key), f"unknown field '{key}'",
                                    "use timezone, facts, hours, staffed and exceptions"))
    tz = data.get("timezone", "Europe/Stockholm")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(rel, data.line_of("timezone"), f"unknown time zone '{tz}'",
                                "write Europe/Stockholm"))
    facts: dict[str, dict[str, str]] = {}
    raw_facts = data.get("facts")
    if not isinstance(raw_facts, LMap):
        problems.append(Problem(rel, data.line_of("facts"), "'facts' is missing or not a list of names",
                                "add 'facts:' with phone, email and the addresses"))
    else:
        for name, value in raw_facts.items():
            by_lang = _lang_map(value, (rel, raw_facts.line_of(name)), f"the fact '{name}'",
                                problems, allow_plain=True)
            if by_lang:
                facts[str(name)] = by_lang
    hours = data.get("hours")
    if not isinstance(hours, LMap):
        problems.append(Problem(rel, data.line_of("hours"), "'hours' is missing",
                                "add 'hours:' with 'phone:' and 'visiting:' per weekday"))
    else:
        for kind, days in hours.items():
            if kind not in ("phone", "visiting"):
                problems.append(Problem(rel, hours.line_of(kind), f"unknown kind of hours '{kind}'",
                                        "use 'phone' or 'visiting'"))
                continue
            if not isinstance(days, LMap):
                problems.append(Problem(rel, hours.line_of(kind), f"the {kind} hours must list weekdays",
                                        "write e.g. 'mon: \"07:00-17:00\"' per day"))
                continue
            for day, value in days.items():
                if day not in _WEEKDAYS:
                    problems.append(Problem(rel, days.line_of(day), f"'{day}' is not a weekday",
                                            "use mon, tue, wed, thu, fri, sat, sun"))
                    continue
                _parse_hours(value, (rel, days.line_of(day)), problems, allow_closed=True)
    staffed = data.get("staffed", "phone")
    if staffed not in ("phone", "visiting"):
        problems.append(Problem(rel, data.line_of("staffed"), f"'staffed: {staffed}' is unknown",
                                "write 'staffed: phone' or 'staffed: visiting'"))
    exceptions = data.get("exceptions") or LList()
    if not isinstance(exceptions, list):
        problems.append(Problem(rel, data.line_of("exceptions"), "'exceptions' must be a list",
                                "start each exception with '- date: YYYY-MM-DD'"))
    else:
        seen: dict[date, int] = {}
        for i, item in enumerate(exceptions):
            line = exceptions.line_of(i) if isinstance(exceptions, LList) else 1
            if not isinstance(item, LMap):
                problems.append(Problem(rel, line, "an exception must have a date and hours",
                                        "write '- date: 2026-12-23' and 'phone: \"07:00-15:00\"' below"))
                continue
            day = item.get("date")
            if isinstance(day, str):
                try:
                    day = date.fromisoformat(day)
                except ValueError:
                    pass
            if not isinstance(day, date) or isinstance(day, datetime):
                problems.append(Problem(rel, item.line_of("date"), f"'{item.get('date')}' is not a date",
                                        "write the date as YYYY-MM-DD, e.g. 2026-12-23"))
            elif day in seen:
                problems.append(Problem(rel, item.line_of("date"), f"{day} has two exceptions (also line {seen[day]})",
                                        "merge them into one"))
            else:
                seen[day] = item.line_of("date")
            for key, value in item.items():
                if key in ("phone", "visiting"):
                    _parse_hours(value, (rel, item.line_of(key)), problems, allow_closed=True)
                elif key == "closed":
                    if not isinstance(value, bool):
                        problems.append(Problem(rel, item.line_of(key), "'closed' must be true or false",
                                                "write 'closed: true'"))
                elif key == "note":
                    _lang_map(value, (rel, item.line_of(key)), "the exception's note", problems)
                elif key != "date":
                    problems.append(Problem(rel, item.line_of(key), f"unknown field '{key}' in an exception",
                                            "use date, phone, visiting, closed and note"))
            if not any(k in item for k in ("phone", "visiting", "closed")):
                problems.append(Problem(rel, line, "the exception says nothing about the hours",
                                        "add 'closed: true' or 'phone: \"07:00-15:00\"'"))
    return _plain(data), facts


def _read_optional_file(root: Path, name: str, problems: list[Problem]) -> tuple[str, Any]:
    """Read an optional top-level YAML file; (its path, None) when it is absent or unreadable."""
    path = root / name
    rel = _rel(path, root)
    return rel, (read_yaml(path, rel, problems) if path.exists() else None)


def _load_settings(root: Path, problems: list[Problem]) -> dict:
    rel, data = _read_optional_file(root, "settings.yaml", problems)
    if data is None:
        return {}
    if not isinstance(data, LMap):
        problems.append(Problem(rel, 1, "settings.yaml must be a mapping", "see docs/KNOWLEDGE-FORMAT.md"))
        return {}
    und = data.get("understanding") or {}
    if isinstance(und, LMap):
        for key in ("answer_threshold", "clarify_threshold"):
            value = und.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                      or not 0 < value <= 100):
                problems.append(Problem(rel, und.line_of(key), f"'{key}' must be a number from 1 to 100",
                                        "write e.g. 82"))
        a, c = und.get("answer_threshold", 82), und.get("clarify_threshold", 62)
        if isinstance(a, (int, float)) and isinstance(c, (int, float)) and c >= a:
            problems.append(Problem(rel, und.line_of("clarify_threshold"),
                                    "clarify_threshold must be lower than answer_threshold",
                                    "e.g. answer_threshold 82 and clarify_threshold 62"))
    privacy = data.get("privacy") or {}
    if isinstance(privacy, LMap):
        days = privacy.get("retention_days", 90)
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            problems.append(Problem(rel, privacy.line_of("retention_days"),
                                    "retention_days must be a whole number of days", "write e.g. 90"))
        if "retention_decision" in privacy:
            _lang_map(privacy["retention_decision"], (rel, privacy.line_of("retention_decision")),
                      "the retention decision", problems)
    return _plain(data)


def _load_entries(root: Path, problems: list[Problem], today: date) -> tuple[dict[str, Entry], list[Problem]]:
    warnings: list[Problem] = []
    entries: dict[str, Entry] = {}
    for rel, data in _read_folder(root, "faq", problems, (
            "there are no FAQ files", "restore knowledge/faq/ from the project")):
        if data is None:
            continue
        items = data.get("entries") if isinstance(data, LMap) else None
        if not isinstance(items, LList):
            problems.append(Problem(rel, 1, "an FAQ file must start with 'entries:' and a list",
                                    "write 'entries:' on the first line and each entry as '- id: ...'"))
            continue
        for i, item in enumerate(items):
            entry = _load_entry(item, rel, items.line_of(i), problems, warnings, today)
            if entry is None:
                continue
            if entry.id in entries:
                other = entries[entry.id]
                problems.append(Problem(rel, entry.line, f"the id '{entry.id}' is also used at {other.path}:{other.line}",
                                        "give this entry another id"))
                continue
            entries[entry.id] = entry
    for entry in entries.values():
        for button in entry.buttons:
            payload = button["payload"]
            if payload.startswith("faq:") and payload[4:] not in entries:
                problems.append(Problem(entry.path, button["line"], f"the button goes to unknown entry '{payload[4:]}'",
                                        "write the id of an existing entry after 'faq:'"))
    return entries, warnings


def _load_entry(item: Any, rel: str, line: int, problems: list[Problem], warnings: list[Problem],
                today: date) -> Entry | None:
    if not isinstance(item, LMap):
        problems.append(Problem(rel, line, "an entry must be a group of fields",
                                "start the entry with '- id: ...' and indent its fields"))
        return None
    before = len(problems)
    entry_id = item.get("id")
    if not isinstance(entry_id, str) or not _ID.match(entry_id):
        problems.append(Problem(rel, item.line_of("id"), f"the entry's id '{entry_id}' is missing or invalid",
                                "write 'id:' with lower-case letters, digits and '-', e.g. app-forgot-password"))
        entry_id = None
    for key in item:
        if key not in _ENTRY_FIELDS:
            problems.append(Problem(rel, item.line_of(key), f"unknown field '{key}'",
                                    "use only: " + ", ".join(sorted(_ENTRY_FIELDS))))
    phrasings: dict[str, list[str]] = {}
    phrasing_lines: dict[str, list[int]] = {}
    raw = item.get("phrasings")
    if not isinstance(raw, LMap):
        problems.append(Problem(rel, item.line_of("phrasings"), "the entry has no phrasings",
                                "add 'phrasings:' with 'sv:' and 'en:' lists of questions"))
    else:
        for lang in LANGS:
            values = raw.get(lang)
            if not isinstance(values, LList) or not values:
                problems.append(Problem(rel, raw.line_of(lang), f"the entry has no {'Swedish' if lang == 'sv' else 'English'} phrasings",
                                        f"add '{lang}:' with a list of ways to ask, one per line starting with '- '"))
                continue
            good, lines = [], []
            for j, text in enumerate(values):
                if not isinstance(text, str) or not text.strip():
                    problems.append(Problem(rel, values.line_of(j), "a phrasing is empty or not text",
                                            "write the question as text, or delete the line"))
                    continue
                good.append(text.strip())
                lines.append(values.line_of(j))
            phrasings[lang] = good
            phrasing_lines[lang] = lines
        for lang in raw:
            if lang not in LANGS:
                problems.append(Problem(rel, raw.line_of(lang), f"unknown language '{lang}'",
                                        "use only 'sv' and 'en'"))
    answer = None
    if "answer" in item:
        answer = _lang_map(item["answer"], (rel, item.line_of("answer")), "the answer", problems)
        if answer:
            for lang, text in answer.items():
                _check_placeholders(text, (rel, item.line_of("answer")), problems)
    flow = item.get("flow")
    if flow is not None and flow not in FLOW_NAMES:
        problems.append(Problem(rel, item.line_of("flow"), f"unknown flow '{flow}'",
                                "use one of: " + ", ".join(FLOW_NAMES)))
    out_of_scope = item.get("out_of_scope", False)
    if not isinstance(out_of_scope, bool):
        problems.append(Problem(rel, item.line_of("out_of_scope"), "out_of_scope must be true or false",
                                "write 'out_of_scope: true' for questions the assistant does not handle"))
        out_of_scope = False
    if out_of_scope and (answer is not None or flow is not None):
        problems.append(Problem(rel, item.line_of("out_of_scope"),
                                "an out-of-scope entry gets the fallback reply and has no answer or flow",
                                "remove 'answer:' and 'flow:' from it, or remove 'out_of_scope: true'"))
    if answer is None and flow is None and "answer" not in item and not out_of_scope:
        problems.append(Problem(rel, item.line, "the entry has neither an answer nor a flow",
                                "add 'answer:' with 'sv:' and 'en:' texts"))
    flow_args = item.get("flow_args") or {}
    if not isinstance(flow_args, dict):
        problems.append(Problem(rel, item.line_of("flow_args"), "flow_args must be a group of names and values",
                                "write e.g. 'flow_args: {topic: open_now}'"))
        flow_args = {}
    links = []
    for j, link in enumerate(item.get("links") or []):
        lline = item["links"].line_of(j) if isinstance(item.get("links"), LList) else item.line_of("links")
        if not isinstance(link, LMap):
            problems.append(Problem(rel, lline, "a link needs a label and a url",
                                    "write '- label: {sv: ..., en: ...}' and 'url: https://...'"))
            continue
        label = _lang_map(link.get("label"), (rel, link.line_of("label")), "the link's label", problems)
        url = link.get("url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc or " " in url:
            problems.append(Problem(rel, link.line_of("url"), f"the link '{url}' is not a web address",
                                    "write a full address starting with https://"))
            continue
        if label:
            links.append({"label": label, "url": url})
    buttons = []
    for j, button in enumerate(item.get("buttons") or []):
        bline = item["buttons"].line_of(j) if isinstance(item.get("buttons"), LList) else item.line_of("buttons")
        if not isinstance(button, LMap):
            problems.append(Problem(rel, bline, "a button needs a label and a payload",
                                    "write '- label: {sv: ..., en: ...}' and 'payload: flow:activation'"))
            continue
        label = _lang_map(button.get("label"), (rel, button.line_of("label")), "the button's label", problems)
        payload = button.get("payload")
        if not _valid_payload(payload):
            problems.append(Problem(rel, button.line_of("payload"), f"the button payload '{payload}' is unknown",
                                    "use flow:<flow>, faq:<entry id> or cmd:menu/help/human/cancel/privacy"))
            continue
        if label:
            buttons.append({"label": label, "payload": payload, "line": button.line_of("payload")})
    owner = item.get("owner")
    if not isinstance(owner, str) or not owner.strip():
        problems.append(Problem(rel, item.line_of("owner") if "owner" in item else item.line,
                                "the entry has no owner", "add 'owner:' with the team that keeps it right"))
    review_by = item.get("review_by")
    if isinstance(review_by, str):
        try:
            review_by = date.fromisoformat(review_by)
        except ValueError:
            pass
    if not isinstance(review_by, date):
        problems.append(Problem(rel, item.line_of("review_by") if "review_by" in item else item.line,
                                "the entry has no valid review_by date",
                                "add 'review_by: YYYY-MM-DD', the day it must be checked again"))
        review_by = None
    elif review_by < today:
        warnings.append(Problem(rel, item.line_of("review_by"), f"the entry '{entry_id}' was due for review on {review_by}",
                                "check the answer and set a new review_by date", "warning"))
    if len(problems) > before or entry_id is None:
        return None
    return Entry(
        id=entry_id, phrasings=phrasings, answer=answer, flow=flow, flow_args=_plain(flow_args),
        links=links, buttons=buttons, owner=owner.strip(), review_by=review_by,
        topic=item.get("topic"), path=rel, line=item.line, phrasing_lines=phrasing_lines,
        out_of_scope=out_of_scope,
    )


def _valid_payload(payload: Any) -> bool:
    if not isinstance(payload, str):
        return False
    kind, _, value = payload.partition(":")
    if kind == "flow":
        return value in FLOW_NAMES
    if kind == "faq":
        return bool(_ID.match(value))
    if kind == "cmd":
        return value in _PAYLOAD_CMDS
    return False


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


# What `knowledge eval` requires unless a file in knowledge/tests/ says otherwise.
EVAL_THRESHOLDS = {"tuning": 0.95, "holdout": 0.95, "out_of_scope": 0.95, "cross_validation": 0.90}
_THRESHOLD_KEYS = {"threshold": None, "out_of_scope_threshold": "out_of_scope",
                   "cross_validation_threshold": "cross_validation"}


def _load_thresholds(rel: str, data: LMap, sets: EvalSets, problems: list[Problem]) -> None:
    """knowledge/tests/thresholds.yaml: what `knowledge eval` requires of each set."""
    for key, value in data.items():
        if key not in EVAL_THRESHOLDS:
            problems.append(Problem(rel, data.line_of(key), f"unknown field '{key}'",
                                    f"use only {', '.join(EVAL_THRESHOLDS)}"))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            problems.append(Problem(rel, data.line_of(key), f"{key} must be between 0 and 1", "write e.g. 0.95"))
        else:
            sets.thresholds[key] = float(value)


def _load_labelled(root: Path, problems: list[Problem], entries: dict[str, Entry]) -> EvalSets:
    sets = EvalSets()
    thresholds_file = None
    for rel, data in _read_folder(root, "tests", problems):
        if not isinstance(data, LMap):
            continue
        if Path(rel).name == "thresholds.yaml":
            thresholds_file = (rel, data)  # applied last: it has the final word
            continue
        held_out = Path(rel).name.startswith("holdout")
        for key, name in _THRESHOLD_KEYS.items():
            if key not in data:
                continue
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                problems.append(Problem(rel, data.line_of(key), f"{key} must be between 0 and 1",
                                        "write e.g. 0.95"))
            else:
                sets.thresholds[name or ("holdout" if held_out else "tuning")] = float(value)
        items = data.get("cases") or LList()
        for i, case in enumerate(items):
            line = items.line_of(i) if isinstance(items, LList) else 1
            if not isinstance(case, dict) or not isinstance(case.get("text"), str) or case.get("lang") not in LANGS:
                problems.append(Problem(rel, line, "a test case needs text, lang (sv/en) and expect",
                                        "write '- {text: \"...\", lang: sv, expect: entry-id}'"))
                continue
            expect = case.get("expect")
            expects = tuple(expect) if isinstance(expect, list) else (expect,)
            unknown = [e for e in expects if e != "fallback" and e not in entries]
            if not expects or unknown or ("fallback" in expects and len(expects) > 1):
                problems.append(Problem(rel, line, f"the test case expects unknown entry '{(unknown or [expect])[0]}'",
                                        "write an existing entry id, a list of them, or 'fallback'"))
                continue
            (sets.holdout if held_out else sets.tuning).append(
                {"text": case["text"], "lang": case["lang"], "expect": expects, "path": rel, "line": line})
    if thresholds_file:
        _load_thresholds(*thresholds_file, sets, problems)
    return sets


def _load_synonyms(root: Path, problems: list[Problem]) -> dict:
    """knowledge/synonyms.yaml: groups of words the matcher treats as one, and the domain words
    that never get the generic fallback."""
    rel, data = _read_optional_file(root, "synonyms.yaml", problems)
    if data is None:
        return {}
    if not isinstance(data, LMap):
        problems.append(Problem(rel, 1, "synonyms.yaml must be a mapping with 'groups' and 'domain_words'",
                                "see docs/KNOWLEDGE-FORMAT.md"))
        return {}
    for key in data:
        if key not in ("groups", "domain_words"):
            problems.append(Problem(rel, data.line_of(key), f"unknown field '{key}'",
                                    "use only 'groups' and 'domain_words'"))
    groups = data.get("groups") or LList()
    seen: dict[str, int] = {}
    out_groups: list[list[str]] = []
    if not isinstance(groups, list):
        problems.append(Problem(rel, data.line_of("groups"), "'groups' must be a list of word lists",
                                "write e.g. '  - [mejl, e-post, mail]'"))
        groups = LList()
    for i, group in enumerate(groups):
        line = groups.line_of(i) if isinstance(groups, LList) else 1
        if (not isinstance(group, list) or len(group) < 2
                or not all(isinstance(w, str) and w.strip() for w in group)):
            problems.append(Problem(rel, line, "a synonym group needs at least two words",
                                    "write e.g. '  - [mejl, e-post, mail]'"))
            continue
        for word in group:
            key = word.strip().lower()
            if key in seen:
                problems.append(Problem(rel, line, f"the word '{word}' is already in the group on line {seen[key]}",
                                        "keep each word in one group only"))
            seen[key] = line
        out_groups.append([w.strip() for w in group])
    domain = data.get("domain_words") or []
    if not isinstance(domain, list) or not all(isinstance(w, str) and w.strip() for w in domain):
        problems.append(Problem(rel, data.line_of("domain_words"), "'domain_words' must be a list of words",
                                "write e.g. 'domain_words: [konto, app, frånvaro]'"))
        domain = []
    return {"groups": out_groups, "domain_words": [w.strip() for w in domain]}


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
    entries, warnings = _load_entries(root, problems, today)
    eval_sets = _load_labelled(root, problems, entries)
    synonyms = _load_synonyms(root, problems)
    knowledge = Knowledge(
        root=root, texts=texts, entries=entries, contact=contact, facts=facts, settings=settings,
        eval_sets=eval_sets, version=_fingerprint(root), warnings=warnings, synonyms=synonyms,
        text_sources=sources,
    )
    for check in extra_checks:
        problems.extend(check(knowledge))
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
