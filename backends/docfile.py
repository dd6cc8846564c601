"""The backends' files: a snapshot in TinyDB's layout and an append-only journal beside it.

`<name>.json` is one JSON document `{table: {doc_id: doc}}` (TinyDB's layout, so the file an
older version wrote is read as it is and carried over); `<name>.journal` holds the changes made
since that snapshot was written, one line each:

    {"set": {table: {doc_id: doc}}, "del": {table: [doc_id, ...]}}

the whole new value of every document a change added or changed and the ids of those it removed.
A change is one appended line, so its cost follows the documents it changes, not how many the
file holds (a whole-file rewrite made a new data-rights case cost 68 ms at 10,000 cases).

The document is the snapshot with every whole line of the journal applied in order. A line is
whole when it ends in a newline and parses as such a record; reading stops at the first that is
not (a crash tore the last append), so a change is in the document entirely or not at all. A
line names whole documents, so applying lines again that a newer snapshot already holds changes
nothing once the later lines are applied too: a crash between writing a new snapshot and emptying
the journal (`backends/cached_doc.py`, compaction) neither loses nor doubles anything.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

JOURNAL_SUFFIX = ".journal"

Identity = tuple[int, int, int]


def identity(st: os.stat_result) -> Identity:
    """A file's identity as the backends compare it: inode, modification time, size (every writer
    replaces a snapshot with `os.replace`, so a new one has a new inode)."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def file_identity(path: Path) -> Identity | None:
    """The identity of the file at `path`, or None when there is none."""
    try:
        return identity(os.stat(path))
    except FileNotFoundError:
        return None


def journal_path(path: Path) -> Path:
    """Return the journal beside the snapshot `path` (`dsr.json` -> `dsr.journal`)."""
    return Path(path).with_suffix(JOURNAL_SUFFIX)


def read_snapshot(path: Path, tables: Iterable[str]) -> tuple[dict, Identity | None]:
    """Return the snapshot with every one of `tables` present, and its file's identity (inode,
    modification time, size; None when there is no file yet)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
    except FileNotFoundError:
        raw, st = b"", None
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise ValueError(f"{path} is not a document of tables")
    for table in tables:
        data.setdefault(table, {})
    return data, (None if st is None else identity(st))


def parse_journal(chunk: bytes) -> tuple[list[dict], int]:
    """Return the whole records at the start of `chunk` and how many bytes they take."""
    records: list[dict] = []
    used = 0
    while (end := chunk.find(b"\n", used)) >= 0:
        try:
            record = json.loads(chunk[used:end])
        except ValueError:
            break
        if not _is_record(record):
            break
        records.append(record)
        used = end + 1
    return records, used


def _is_record(record: object) -> bool:
    if not isinstance(record, dict) or not set(record) <= {"set", "del"}:
        return False
    sets, dels = record.get("set", {}), record.get("del", {})
    return (isinstance(sets, dict) and isinstance(dels, dict)
            and all(isinstance(t, dict) and all(isinstance(d, dict) for d in t.values()) for t in sets.values())
            and all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in dels.values()))


def apply(data: dict, record: dict) -> dict[str, list[str]]:
    """Apply one journal record to the document; return the ids it touched, by table."""
    touched: dict[str, list[str]] = {}
    for name, docs in record.get("set", {}).items():
        data.setdefault(name, {}).update(docs)
        touched.setdefault(name, []).extend(docs)
    for name, ids in record.get("del", {}).items():
        table = data.setdefault(name, {})
        for doc_id in ids:
            table.pop(doc_id, None)
        touched.setdefault(name, []).extend(ids)
    return touched


def encode_record(data: dict, touched: Mapping[str, Iterable[str]]) -> bytes:
    """Return the journal line that brings a document to `data` for the `touched` ids: the ones
    still there are set (their whole document), the others removed."""
    sets: dict[str, dict] = {}
    dels: dict[str, list[str]] = {}
    for name, ids in touched.items():
        table = data.get(name, {})
        for doc_id in ids:
            if doc_id in table:
                sets.setdefault(name, {})[doc_id] = table[doc_id]
            else:
                dels.setdefault(name, []).append(doc_id)
    record = {key: value for key, value in (("set", sets), ("del", dels)) if value}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def encode_document(data: dict) -> bytes:
    """Return a whole document as its snapshot's bytes."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_document(path: Path, tables: Iterable[str]) -> dict:
    """Return the document stored at `path` (its snapshot and journal), as a restart reads it.

    Reads under the journal's shared lock, so never between a writer's snapshot and journal.
    """
    journal = journal_path(path)
    try:
        fd = os.open(journal, os.O_RDONLY)
    except FileNotFoundError:
        return read_snapshot(path, tables)[0]
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        data = read_snapshot(path, tables)[0]
        records, _ = parse_journal(journal.read_bytes())
    finally:
        os.close(fd)
    for record in records:
        apply(data, record)
    return data
