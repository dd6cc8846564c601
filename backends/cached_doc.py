"""A backend's JSON document (`backends/docfile.py`), kept in memory while its file is unchanged.

Both reference backends read their whole file for every operation: the activation backend's
`activation.json` holds every registered address, so each activation request parsed hundreds of
kilobytes several times (8 % of a loaded server's time in bench/bench_chat.py). Here the parsed
document is kept and reused as long as the file is the one it was read from: same inode, size and
modification time (every writer replaces the file with `os.replace`, so a change by another
process, such as `halmstad-bot backend add-staff` while `serve` runs, gives a new inode and is
read again). A change still writes the whole file atomically before it returns, so the file stays
the truth and readers of the file see every change at once.

A transaction changes the cached document in place; if it raises, or its write fails, the cache
is dropped and the next operation reads the file again, so a refused change leaves no trace.
Every operation holds one lock: what `look` returns must be copied by the caller if it is kept.
Lookups by one field (`find`) go through an index built once and dropped when its table changes.

A change names what it changed, so the write encodes only that: `{table: ids}` (the documents
it changed in place; documents it added are found, removed ones dropped) or `{table: None}` (the
whole table), or True (everything). The rest is written from its JSON text of the last write, so
a new activation code no longer re-encodes every registered address and a new data-rights case
not every case before it. The file's bytes are the same as encoding the whole document. A change
that alters a document in place without naming it would leave the file behind memory, so the
stores name every one (`backends/dsr/store.py`, `backends/activation/store.py`).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Callable, TypeVar

from backends.docfile import open_file, read_tables
from common.atomic import write_atomic

T = TypeVar("T")
Changed = bool | Mapping[str, Collection[str] | None]


class CachedDocument:
    """The document at `path` with `tables`, read once and re-read only when the file changed."""

    def __init__(self, path: Path, tables: tuple[str, ...]) -> None:
        self.path = Path(path)
        self._tables = tables
        self._db = open_file(self.path)
        self._data: dict | None = None
        self._identity: tuple[int, int, int] | None = None
        self._tables_text: dict[str, str] = {}  # a table's JSON text as last written, while unchanged
        self._docs_text: dict[str, dict[str, str]] = {}  # each document's JSON text, by table and id
        self._indexes: dict[tuple[str, str], dict] = {}  # (table, field) -> value -> first document
        self._lock = threading.Lock()

    def look(self, read: Callable[[dict], T]) -> T:
        """Return `read(document)`; `read` must not change the document."""
        with self._lock:
            return read(self._current())

    def find(self, table: str, field: str, value: Any, read: Callable[[dict], T]) -> T | None:
        """Return `read(doc)` for the first document of `table` whose `field` equals `value`, or
        None; like `docfile.first`, but through an index kept while the table is unchanged."""
        with self._lock:
            data = self._current()
            index = self._indexes.get((table, field))
            if index is None:
                index = self._indexes[(table, field)] = {}
                for doc in data[table].values():
                    try:
                        index.setdefault(doc.get(field), doc)
                    except TypeError:  # an unhashable value is never looked up by these stores
                        continue
            try:
                doc = index.get(value)
            except TypeError:
                return None
            return None if doc is None else read(doc)

    def transact(self, change: Callable[[dict], tuple[T, Changed]]) -> T:
        """Run `change(document)` -> (result, changed) and write the file when it changed.

        `changed`: False, True, or `{table: ids changed in place, or None for all of them}`.
        """
        with self._lock:
            data = self._current()
            try:
                result, changed = change(data)
                if changed:
                    self._write(data, {name: None for name in data} if changed is True else changed)
            except BaseException:
                self._forget()  # the change may have been half applied in memory
                raise
            return result

    def _write(self, data: dict, changed: Mapping[str, Collection[str] | None]) -> None:
        """Write the whole document, encoding again only what changed."""
        self._indexes = {key: index for key, index in self._indexes.items() if key[0] not in changed}
        parts = []
        for name, table in data.items():
            if name in changed or name not in self._tables_text:
                self._tables_text[name] = self._table_text(name, table, changed.get(name))
            parts.append(json.dumps(name, ensure_ascii=False) + ":" + self._tables_text[name])
        write_atomic(self.path, ("{" + ",".join(parts) + "}").encode("utf-8"))
        self._identity = self._file_identity()

    def _table_text(self, name: str, table: dict, modified: Collection[str] | None) -> str:
        """Encode a table, reusing each unmodified document's text (all again if `modified` is None)."""
        known = self._docs_text.get(name, {}) if modified is not None else {}
        stale = set(modified or ())
        texts: dict[str, str] = {}
        items = []
        for doc_id, doc in table.items():
            text = None if doc_id in stale else known.get(doc_id)
            if text is None:
                text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            texts[doc_id] = text
            key = f'"{doc_id}"' if doc_id.isdigit() else json.dumps(doc_id, ensure_ascii=False)
            items.append(key + ":" + text)
        self._docs_text[name] = texts
        return "{" + ",".join(items) + "}"

    def _forget(self) -> None:
        self._data = None
        self._tables_text, self._docs_text, self._indexes = {}, {}, {}

    def close(self) -> None:
        """Release the TinyDB handle (the storage holds no open file)."""
        self._db.close()

    def _current(self) -> dict:
        identity = self._file_identity()
        if self._data is None or identity != self._identity:
            self._forget()
            self._data = read_tables(self._db, self._tables)
            self._identity = identity
        return self._data

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)
