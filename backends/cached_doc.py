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

A change may name the tables it changed; the others are written from their JSON text of the last
write, so a new activation code no longer re-encodes every registered address (the file's bytes
are the same as encoding the whole document).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Callable, TypeVar

from backends.docfile import open_file, read_tables
from common.atomic import write_atomic

T = TypeVar("T")


class CachedDocument:
    """The document at `path` with `tables`, read once and re-read only when the file changed."""

    def __init__(self, path: Path, tables: tuple[str, ...]) -> None:
        self.path = Path(path)
        self._tables = tables
        self._db = open_file(self.path)
        self._data: dict | None = None
        self._identity: tuple[int, int, int] | None = None
        self._encoded: dict[str, str] = {}  # a table's JSON text as last written, while unchanged
        self._lock = threading.Lock()

    def look(self, read: Callable[[dict], T]) -> T:
        """Return `read(document)`; `read` must not change the document."""
        with self._lock:
            return read(self._current())

    def transact(self, change: Callable[[dict], tuple[T, bool | Collection[str]]]) -> T:
        """Run `change(document)` -> (result, changed) and write the file when it changed.

        `changed` is False, True (any table may have changed) or the names of the changed tables.
        """
        with self._lock:
            data = self._current()
            try:
                result, changed = change(data)
                if changed:
                    self._write(data, None if changed is True else set(changed))
            except BaseException:
                self._data = None  # the change may have been half applied in memory
                self._encoded = {}
                raise
            return result

    def _write(self, data: dict, changed: set[str] | None) -> None:
        """Write the whole document, encoding again only the tables that changed."""
        if changed is None:
            self._encoded = {}
        for name in changed or ():
            self._encoded.pop(name, None)
        parts = []
        for name, table in data.items():
            if name not in self._encoded:
                self._encoded[name] = json.dumps(table, ensure_ascii=False, separators=(",", ":"))
            parts.append(json.dumps(name, ensure_ascii=False) + ":" + self._encoded[name])
        write_atomic(self.path, ("{" + ",".join(parts) + "}").encode("utf-8"))
        self._identity = self._file_identity()

    def close(self) -> None:
        """Release the TinyDB handle (the storage holds no open file)."""
        self._db.close()

    def _current(self) -> dict:
        identity = self._file_identity()
        if self._data is None or identity != self._identity:
            self._data = read_tables(self._db, self._tables)
            self._identity = identity
            self._encoded = {}
        return self._data

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)
