"""The draft: a copy of the knowledge folder under DATA_DIR/staff_draft/ that the page edits.

The first save copies the live folder; every save is tried on a fresh copy of the draft (the
candidate), checked as `knowledge check` does, and only a candidate without errors replaces the
draft, so a refused save changes nothing on disk. `draft.json` beside the copy remembers which
entries (and whether the hours) were touched and by whom: publishing applies exactly those to
the live files, so an edit made in the live files meanwhile is never undone.
"""
from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from typing import Callable

from bot.staff_page import yamlfiles
from bot.staff_page.checking import Focus, Result, check_folder
from bot.staff_page.store import read_dict, write_dict

DRAFT_DIR = "staff_draft"
META = "draft.json"
HOURS = "contact.yaml"


@dataclass
class Touched:
    """What the draft changed: entry ids (new, changed, removed, renamed) and the hours."""

    entries: list[str] = field(default_factory=list)
    hours: bool = False
    by: list[str] = field(default_factory=list)

    def add(self, user: str, *ids: str, hours: bool = False) -> None:
        for entry_id in ids:
            if entry_id and entry_id not in self.entries:
                self.entries.append(entry_id)
        self.hours = self.hours or hours
        if user not in self.by:
            self.by.append(user)


class Draft:
    """The draft folder of one live knowledge folder."""

    def __init__(self, live: Path, data_dir: Path) -> None:
        self.live = Path(live)
        self.base = Path(data_dir) / DRAFT_DIR
        self.root = self.base / self.live.name  # named like the live folder: messages read alike

    def exists(self) -> bool:
        return (self.base / META).is_file() and self.root.is_dir()

    def folder(self) -> Path:
        """The folder the page reads: the draft when there is one, else the live folder."""
        return self.root if self.exists() else self.live

    def touched(self) -> Touched:
        data = read_dict(self.base / META)
        return Touched(list(data.get("entries", [])), bool(data.get("hours")), list(data.get("by", [])))

    def candidate(self) -> Path:
        """A fresh copy of the draft (or the live folder) to try a change on."""
        holder = self.base / f".candidate-{secrets.token_hex(6)}"
        target = holder / self.live.name
        shutil.copytree(self.folder(), target, ignore=shutil.ignore_patterns(".git"))
        return target

    def drop(self, candidate: Path) -> None:
        shutil.rmtree(candidate.parent, ignore_errors=True)

    def commit(self, candidate: Path, touched: Touched) -> None:
        """Make a checked candidate the draft, with what it touched."""
        old = self.base / f".old-{secrets.token_hex(6)}"
        if self.root.exists():
            self.root.rename(old)
        candidate.rename(self.root)
        write_dict(self.base / META, {"entries": touched.entries, "hours": touched.hours, "by": touched.by})
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(candidate.parent, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def changes(self) -> list[dict]:
        """What publishing would change: [{"id", "what": new|changed|removed}] and the hours."""
        touched = self.touched()
        draft, live = yamlfiles.read_entries(self.folder()), yamlfiles.read_entries(self.live)
        out = []
        for entry_id in touched.entries:
            if entry_id in draft and entry_id not in live:
                out.append({"id": entry_id, "what": "new"})
            elif entry_id in live and entry_id not in draft:
                out.append({"id": entry_id, "what": "removed"})
            elif entry_id in live and draft[entry_id] != live[entry_id]:
                out.append({"id": entry_id, "what": "changed"})
        if touched.hours and _hours_of(self.folder()) != _hours_of(self.live):
            out.append({"file": HOURS, "what": "changed"})
        return out


def change_draft(draft: Draft, username: str, lang: str, change: Callable[[Path], Focus | None],
                 ids: tuple[str, ...] = (), hours: bool = False) -> Result:
    """Try `change(candidate folder)` on a copy of the draft; keep it as the draft only when it
    passes the check (blocking: run in a thread, one change at a time)."""
    candidate = draft.candidate()
    try:
        focus = change(candidate)
        result = check_folder(candidate, lang, focus)
        if result.ok:
            touched = draft.touched()
            touched.add(username, *ids, hours=hours)
            draft.commit(candidate, touched)
        return result
    finally:
        draft.drop(candidate)


def _hours_of(folder: Path) -> tuple:
    try:
        doc = yamlfiles.load(folder / HOURS)
    except Exception:  # noqa: BLE001 - unreadable: counts as different
        return (None, None)
    return yamlfiles.plain(doc.get("hours")), yamlfiles.plain(doc.get("exceptions"))


def apply_changes(source: Path, target: Path, touched: Touched) -> list[str]:
    """Write the touched entries (and hours) of folder `source` into folder `target`, file by
    file with ruamel.yaml; return the files changed (paths under the folder)."""
    wanted = yamlfiles.read_entries(source)
    changed: set[str] = set()
    for entry_id in touched.entries:
        changed |= move_entry(target, entry_id, wanted.get(entry_id))
    if touched.hours:
        doc, new = yamlfiles.load(target / HOURS), yamlfiles.load(source / HOURS)
        if yamlfiles.plain(doc.get("hours")) != yamlfiles.plain(new.get("hours")) or \
                yamlfiles.plain(doc.get("exceptions")) != yamlfiles.plain(new.get("exceptions")):
            set_hours(doc, yamlfiles.plain(new.get("hours")) or {}, yamlfiles.plain(new.get("exceptions")))
            yamlfiles.save(target / HOURS, doc)
            changed.add(HOURS)
    return sorted(changed)


def move_entry(target: Path, entry_id: str, wanted: tuple[str, dict] | None) -> set[str]:
    """Make `entry_id` in folder `target` what `wanted` says ((file, entry), None: removed)."""
    changed: set[str] = set()
    for path in sorted((target / "faq").glob("*.yaml")):
        doc = yamlfiles.load(path)
        if yamlfiles.find_entry(doc, entry_id) is None:
            continue
        if wanted is not None and wanted[0] == path.name:
            if yamlfiles.plain(yamlfiles.entries_of(doc)[yamlfiles.find_entry(doc, entry_id)]) == wanted[1]:
                return changed
            yamlfiles.put_entry(doc, wanted[1])
        else:
            yamlfiles.remove_entry(doc, entry_id)
        yamlfiles.save(path, doc)
        changed.add(f"faq/{path.name}")
        if wanted is not None and wanted[0] == path.name:
            return changed
    if wanted is not None:
        path = target / "faq" / wanted[0]
        doc = yamlfiles.load(path) if path.exists() else yamlfiles.new_faq_file()
        yamlfiles.put_entry(doc, wanted[1])
        yamlfiles.save(path, doc)
        changed.add(f"faq/{wanted[0]}")
    return changed


def set_hours(doc, hours: dict, exceptions: list | None) -> None:
    """Write weekly hours and exceptions into contact.yaml's document, in place where possible
    (the one-line `{mon: ..., fri: ...}` maps stay one line)."""
    current = doc.get("hours")
    if not isinstance(current, dict):
        doc["hours"] = yamlfiles.styled(hours)
    else:
        for kind in [k for k in current if k not in hours]:
            del current[kind]
        for kind, days in hours.items():
            week = current.get(kind)
            if isinstance(week, dict) and isinstance(days, dict):
                for day in [d for d in week if d not in days]:
                    del week[day]
                for day, value in days.items():
                    if yamlfiles.plain(week.get(day)) != value:
                        week[day] = yamlfiles.styled(value)
            else:
                current[kind] = yamlfiles.styled(days)
    yamlfiles.put_list(doc, "exceptions", exceptions or [])
