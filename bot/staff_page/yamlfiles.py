"""Round-trip editing of the knowledge files with ruamel.yaml: what the page changes is written,
everything else (comments, order, quotes, the other entries) stays exactly as staff wrote it.

An entry travels as JSON (`entry_json`) and comes back as YAML (`put_entry`): a key whose value
did not change keeps its node as it was (and so its comments and quoting); a changed one is
written in the files' own style (double-quoted texts, a `|` block for texts of several lines,
inline `{sv, en}` labels).
"""
from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from common.atomic import write_atomic

# The order of an entry's keys in a new entry (knowledge/faq/*.yaml's own order).
ENTRY_KEYS = ("id", "topic", "phrasings", "answer", "flow", "flow_args", "links", "buttons", "owner",
              "review_by", "out_of_scope")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long phrasing onto two lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(path: Path) -> Any:
    """Read one YAML file for editing (None when empty)."""
    return loads(Path(path).read_text(encoding="utf-8"))


def loads(text: str) -> Any:
    return _yaml().load(text)


def dumps(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def save(path: Path, doc: Any) -> None:
    write_atomic(Path(path), dumps(doc).encode("utf-8"))


def plain(value: Any) -> Any:
    """A YAML value as JSON: plain dicts, lists and strings (dates as YYYY-MM-DD)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value


# Entries ---------------------------------------------------------------------------------------


def entries_of(doc: Any) -> CommentedSeq | None:
    entries = doc.get("entries") if isinstance(doc, dict) else None
    return entries if isinstance(entries, list) else None


def find_entry(doc: Any, entry_id: str) -> int | None:
    """The index of the entry `entry_id` in an FAQ file's `entries`, or None."""
    for i, item in enumerate(entries_of(doc) or ()):
        if isinstance(item, dict) and item.get("id") == entry_id:
            return i
    return None


def read_entries(folder: Path) -> dict[str, tuple[str, dict]]:
    """Every entry of `folder/faq/*.yaml` as JSON: id -> (file name, entry)."""
    found: dict[str, tuple[str, dict]] = {}
    for path in sorted((Path(folder) / "faq").glob("*.yaml")):
        try:
            doc = load(path)
        except Exception:  # noqa: BLE001 - a broken file has no entries to show; check says why
            continue
        for item in entries_of(doc) or ():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found.setdefault(str(item["id"]), (path.name, plain(item)))
    return found


def styled(value: Any, inline: bool = False) -> Any:
    """A JSON value in the files' style (`inline`: a label, written {sv: "...", en: "..."})."""
    if isinstance(value, str):
        if "\n" in value:
            return LiteralScalarString(value if value.endswith("\n") else value + "\n")
        if _ISO_DAY.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return DoubleQuotedScalarString(value)
        return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return CommentedSeq(styled(v) for v in value)
    if isinstance(value, dict):
        mapping = CommentedMap((k, styled(v, inline=k == "label")) for k, v in value.items())
        if inline:
            mapping.fa.set_flow_style()
        return mapping
    return value


def _merged(old: CommentedMap | None, new: dict) -> CommentedMap:
    """`new` as YAML, keeping the nodes of `old` whose value is unchanged (and the key order)."""
    if old is None:
        order = [k for k in ENTRY_KEYS if k in new] + [k for k in new if k not in ENTRY_KEYS]
        return CommentedMap((k, new[k] if k == "id" else styled(new[k])) for k in order)
    for key in [k for k in old if k not in new]:
        del old[key]
    for key, value in new.items():
        if key in old and plain(old[key]) == value:
            continue
        if key in old and isinstance(old[key], CommentedMap) and isinstance(value, dict):
            _merged(old[key], value)
        else:
            old[key] = styled(value)
    return old


def put_list(doc: Any, key: str, items: list) -> None:
    """Set the list `doc[key]` to `items`, keeping the nodes of unchanged items (and their comments)."""
    old = doc.get(key)
    if not isinstance(old, CommentedSeq):
        doc[key] = styled(items)
        return
    for i, item in enumerate(items):
        if i < len(old) and isinstance(old[i], CommentedMap) and isinstance(item, dict):
            old[i] = _merged(old[i], item)
        elif i < len(old):
            old[i] = styled(item)
        else:
            old.append(styled(item))
    del old[len(items):]


def put_entry(doc: Any, entry: dict, old_id: str | None = None) -> None:
    """Replace the entry `old_id` (or `entry["id"]`) in an FAQ file, or append it."""
    entries = entries_of(doc)
    if entries is None:
        raise ValueError("the file has no 'entries:' list")
    index = find_entry(doc, old_id or entry["id"])
    if index is None:
        entries.append(_merged(None, entry))
        if len(entries) > 1:  # a blank line between entries, as in the files
            entries.yaml_set_comment_before_after_key(len(entries) - 1, before="\n", indent=2)
    else:
        entries[index] = _merged(entries[index], entry)


def remove_entry(doc: Any, entry_id: str) -> bool:
    index = find_entry(doc, entry_id)
    if index is None:
        return False
    del entries_of(doc)[index]
    return True


def new_faq_file() -> CommentedMap:
    return CommentedMap(entries=CommentedSeq())


# Lines ----------------------------------------------------------------------------------------


def field_lines(node: Any, prefix: str = "") -> list[tuple[int, str]]:
    """(1-based line, field path) of every key and item under `node`, e.g. (12, "phrasings.sv.2")."""
    found: list[tuple[int, str]] = []
    if isinstance(node, CommentedMap):
        for key in node:
            path = f"{prefix}{key}"
            try:
                found.append((node.lc.key(key)[0] + 1, path))
            except (KeyError, TypeError, AttributeError):
                pass
            found.extend(field_lines(node[key], path + "."))
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            path = f"{prefix}{i}"
            try:
                found.append((node.lc.item(i)[0] + 1, path))
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            found.extend(field_lines(item, path + "."))
    return found


def line_of(node: Any) -> int:
    try:
        return node.lc.line + 1
    except AttributeError:
        return 0
