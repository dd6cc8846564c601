"""The backends' files: one JSON document in TinyDB's layout, `{table: {doc_id: doc}}`.

TinyDB has no transaction across tables, and both backends need one (a new case lands with its
idempotency record and audit entry; a spent code with the credentials it pays for). So each
change reads the whole document through the TinyDB storage, changes it and writes it back once
with `AtomicJSONStorage` (temp file, fsync, os.replace): all of a change, or none of it, and
`TinyDB(path)` still reads the file. The caller serialises read-modify-write with its own lock.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tinydb import TinyDB

from common.atomic import AtomicJSONStorage


def open_file(path: Path) -> TinyDB:
    """Open the document at `path` (made on first write; its folder now) with atomic writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return TinyDB(path, storage=AtomicJSONStorage)


def read_tables(db: TinyDB, tables: tuple[str, ...]) -> dict:
    """Return the whole document with every one of `tables` present."""
    data = db.storage.read() or {}
    for table in tables:
        data.setdefault(table, {})
    return data


def next_id(table: dict) -> str:
    """Return the next TinyDB document id of `table` (ids are decimal strings)."""
    return str(max((int(k) for k in table), default=0) + 1)


def insert(table: dict, doc: dict) -> None:
    """Add `doc` to `table` under the next id."""
    table[next_id(table)] = doc


def first(table: dict, **match: Any) -> dict | None:
    """Return the first document whose fields equal `match`, or None."""
    for doc in table.values():
        if all(doc.get(k) == v for k, v in match.items()):
            return doc
    return None
