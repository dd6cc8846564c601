"""A backend's document (`backends/docfile.py`: snapshot + journal) kept in memory.

Both reference backends keep their state in one document of tables. The parsed document is kept
in memory; a change is applied to it and appended to the journal as one line holding the whole
documents it added or changed and the ids it removed, written and fdatasync'd before `transact`
returns. So a change costs what it changes, however many documents the file holds, and is
durable before the backend answers. Lookups by one field (`find`, `Change.find`) go through
indexes kept up to date change by change, so filing a case no longer scans every case either.

Other processes (`halmstad-bot backend add-staff`, the activation CLI, while the server runs)
write the same files. Every change holds an exclusive `flock` on the journal, reads the lines
appended since this process last looked, and only then changes and appends; a read first checks
(two `stat`s) whether the journal grew or the snapshot was replaced, and if so reads what is new
under a shared lock. So another process's change is seen, and two writers never lose each
other's change.

Compaction writes the whole document as the new snapshot (temp file, fsync, rename, directory
fsync) and then empties the journal: when the journal outgrows both `compact_at` and the
snapshot (so its cost, spread over the changes that grew the journal, stays per change) and at
`close`. A crash before the rename leaves the old snapshot and the whole journal; after it, the
new snapshot and a journal whose lines it already holds, which replay to the same document
(`backends/docfile.py`). A journal that ends in a torn line (a crash mid-append) is read up to it;
the next writer cuts the torn bytes off (keeping them in `<name>.journal.torn`) before appending.

A change that raises leaves nothing: memory is dropped and read again, nothing was appended.
Every operation holds one lock: what `look` returns must be copied by the caller if it is kept.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

from backends.docfile import (Identity, apply, encode_document, encode_record, file_identity, journal_path,
                              parse_journal, read_snapshot)
from common.atomic import write_atomic
from common.journal import fsync_directory

log = logging.getLogger(__name__)

T = TypeVar("T")
COMPACT_AT = 4 * 1024 * 1024  # journal bytes before a compaction (at least the snapshot's size)
_ABSENT = object()


class _Index:
    """The ids of a table's documents by one field's value, kept up to date change by change."""

    def __init__(self, docs: dict, field: str) -> None:
        self.field = field
        self._by_value: dict[Any, list[str]] = {}
        self._of_id: dict[str, Any] = {}
        for doc_id, doc in docs.items():
            self.note(doc_id, doc)

    def ids(self, value: Any) -> list[str]:
        """Return the ids of the documents whose field is `value`, first indexed first."""
        try:
            return list(self._by_value.get(value, ()))
        except TypeError:  # an unhashable value is never stored under one
            return []

    def note(self, doc_id: str, doc: dict | None) -> None:
        """Take in that the document `doc_id` is now `doc` (None: it was removed)."""
        value = _ABSENT if doc is None else doc.get(self.field)
        old = self._of_id.get(doc_id, _ABSENT)
        if old is not _ABSENT:
            if value is not _ABSENT and _same(old, value):
                return
            del self._of_id[doc_id]
            holders = self._by_value[old]
            holders.remove(doc_id)
            if not holders:
                del self._by_value[old]
        if value is _ABSENT:
            return
        try:
            self._by_value.setdefault(value, []).append(doc_id)
        except TypeError:
            return
        self._of_id[doc_id] = value


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class Change:
    """One transaction's view: the document, and the documents it adds, changes in place or
    removes, noted so that the journal line holds exactly those."""

    def __init__(self, doc: CachedDocument, data: dict) -> None:
        self.data = data
        self.touched: dict[str, dict[str, None]] = {}
        self._doc = doc

    def find(self, table: str, field: str, value: Any) -> tuple[str, dict] | None:
        """Return (id, document) of the first document of `table` whose `field` is `value`."""
        ids = self._doc._ids(table, field, value)
        return (ids[0], self.data[table][ids[0]]) if ids else None

    def ids(self, table: str, field: str, value: Any) -> list[str]:
        """Return the ids of every document of `table` whose `field` is `value`."""
        return self._doc._ids(table, field, value)

    def insert(self, table: str, doc: dict) -> str:
        """Add `doc` to `table` under a new id and return the id."""
        doc_id = self._doc._new_id(table)
        self.put(table, doc_id, doc)
        return doc_id

    def upsert(self, table: str, field: str, doc: dict) -> None:
        """Store `doc` in place of the first document of `table` with the same `field`, or add it."""
        found = self.find(table, field, doc[field])
        if found is None:
            self.insert(table, doc)
        else:
            self.put(table, found[0], doc)

    def put(self, table: str, doc_id: str, doc: dict) -> None:
        """Store `doc` as the document `doc_id` of `table` (replacing one there)."""
        self.data[table][doc_id] = doc
        self.changed(table, doc_id)

    def delete(self, table: str, doc_id: str) -> None:
        """Remove the document `doc_id` from `table`."""
        del self.data[table][doc_id]
        self.changed(table, doc_id)

    def changed(self, table: str, doc_id: str) -> None:
        """Note that the document `doc_id` was changed in place (call it after the change)."""
        self.touched.setdefault(table, {})[doc_id] = None
        self._doc._note(table, (doc_id,))


class CachedDocument:
    """The document at `path` (with `tables`) and its journal, kept in memory."""

    def __init__(self, path: Path, tables: tuple[str, ...], *, compact_at: int = COMPACT_AT) -> None:
        self.path = Path(path)
        self.journal = journal_path(self.path)
        self._tables = tables
        self._compact_at = compact_at
        self._lock = threading.Lock()
        self._fd = _open_journal(self.journal)
        self._closer = weakref.finalize(self, os.close, self._fd)
        self._forget()

    def _forget(self) -> None:
        self._data: dict | None = None
        self._snapshot: Identity | None = None
        self._offset = 0  # journal bytes applied to `_data`
        self._indexes: dict[tuple[str, str], _Index] = {}
        self._top: dict[str, int] = {}  # the highest id given out, by table

    # -- reading --------------------------------------------------------------------------------

    def look(self, read: Callable[[dict], T]) -> T:
        """Return `read(document)`; `read` must not change the document."""
        with self._lock:
            return read(self._current())

    def find(self, table: str, field: str, value: Any, read: Callable[[dict], T]) -> T | None:
        """Return `read(doc)` for the first document of `table` whose `field` equals `value`, or None."""
        with self._lock:
            docs = self._current()[table]
            ids = self._ids(table, field, value)
            return read(docs[ids[0]]) if ids else None

    def select(self, table: str, field: str, value: Any, read: Callable[[list[tuple[str, dict]]], T]) -> T:
        """Return `read([(id, doc), ...])` for every document of `table` whose `field` is `value`."""
        with self._lock:
            docs = self._current()[table]
            return read([(doc_id, docs[doc_id]) for doc_id in self._ids(table, field, value)])

    def _current(self) -> dict:
        if not self._fresh():
            with self._flock(fcntl.LOCK_SH):
                self._catch_up()
        assert self._data is not None
        return self._data

    def _fresh(self) -> bool:
        """Tell (without locking) whether memory holds every change: the journal first, so a
        compaction in between shows as a new snapshot."""
        if self._data is None:
            return False
        size = os.fstat(self._fd).st_size
        return size == self._offset and file_identity(self.path) == self._snapshot

    def _catch_up(self) -> None:
        """Apply what other writers added (the caller holds the journal's lock)."""
        size = os.fstat(self._fd).st_size
        if self._data is None or size < self._offset or file_identity(self.path) != self._snapshot:
            self._forget()
            self._data, self._snapshot = read_snapshot(self.path, self._tables)
        if size > self._offset:
            records, used = parse_journal(os.pread(self._fd, size - self._offset, self._offset))
            for record in records:
                for table, ids in apply(self._data, record).items():
                    self._note(table, ids)
            self._offset += used

    # -- indexes and ids (the caller holds the lock) ------------------------------------------

    def _ids(self, table: str, field: str, value: Any) -> list[str]:
        """Return the ids of the documents of `table` whose `field` is `value`."""
        index = self._indexes.get((table, field))
        if index is None:
            assert self._data is not None
            index = self._indexes[(table, field)] = _Index(self._data[table], field)
        return index.ids(value)

    def _note(self, table: str, ids: Iterable[str]) -> None:
        """Bring the indexes and the id counter up to date with the documents `ids` of `table`."""
        assert self._data is not None
        docs = self._data.get(table, {})
        ids = list(ids)
        for (name, _), index in self._indexes.items():
            if name == table:
                for doc_id in ids:
                    index.note(doc_id, docs.get(doc_id))
        if table in self._top:
            self._top[table] = max([self._top[table], *(int(i) for i in ids if i.isdigit())])

    def _new_id(self, table: str) -> str:
        """Return the next TinyDB document id of `table` (ids are decimal strings)."""
        if table not in self._top:
            assert self._data is not None
            self._top[table] = max((int(k) for k in self._data[table] if k.isdigit()), default=0)
        self._top[table] += 1
        return str(self._top[table])

    # -- changing -------------------------------------------------------------------------------

    def transact(self, change: Callable[[Change], T]) -> T:
        """Run `change(Change)` and append what it noted to the journal (durable on return)."""
        with self._lock, self._flock(fcntl.LOCK_EX):
            self._catch_up()
            self._cut_torn_tail()
            assert self._data is not None
            txn = Change(self, self._data)
            try:
                result = change(txn)
                if txn.touched:
                    self._append(encode_record(self._data, txn.touched))
            except BaseException:
                self._forget()  # the change may have been half applied in memory
                raise
            if self._offset > max(self._compact_at, self._snapshot[2] if self._snapshot else 0):
                self._compact()
            return result

    def _append(self, line: bytes) -> None:
        """Append one change in one write and make it durable; cut it off again if that fails."""
        try:
            if os.write(self._fd, line) != len(line):
                raise OSError(errno.EIO, "short write to the journal")
            os.fdatasync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._offset)
            raise
        self._offset += len(line)

    def _cut_torn_tail(self) -> None:
        """Cut off what follows the last whole line (the caller holds the exclusive lock)."""
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return
        log.warning("%s: %d bytes of a torn or damaged change cut off the journal (kept in %s.torn)",
                    self.journal.name, size - self._offset, self.journal.name)
        kept = os.open(self.journal.with_name(self.journal.name + ".torn"),
                       os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # personal data: the owner's alone
        try:
            torn = memoryview(os.pread(self._fd, size - self._offset, self._offset))
            while torn:
                torn = torn[os.write(kept, torn):]
            os.fsync(kept)
        finally:
            os.close(kept)
        os.ftruncate(self._fd, self._offset)
        os.fsync(self._fd)

    def _compact(self) -> None:
        """Write the document as the snapshot, then empty the journal (exclusive lock held)."""
        assert self._data is not None
        try:
            write_atomic(self.path, encode_document(self._data), fsync_dir=True)
            self._snapshot = file_identity(self.path)
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        except OSError as exc:  # the change is durable in the journal; compaction can wait
            log.error("%s: compaction failed (%s); the journal is kept", self.path.name, type(exc).__name__)
            self._forget()
            return
        self._offset = 0

    def close(self, *, compact: bool = True) -> None:
        """Fold the journal into the snapshot (unless `compact` is False) and close the journal."""
        with self._lock:
            if not self._closer.alive:
                return
            try:
                if compact:
                    with self._flock(fcntl.LOCK_EX):
                        self._catch_up()
                        if self._offset:
                            self._compact()
            finally:
                self._closer()

    @contextlib.contextmanager
    def _flock(self, mode: int) -> Iterator[None]:
        fcntl.flock(self._fd, mode)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def _open_journal(path: Path) -> int:
    """Open (or create, durably) the journal for appending and locking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return os.open(path, os.O_RDWR | os.O_APPEND)
    fsync_directory(path.parent)
    return fd
