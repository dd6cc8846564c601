"""An append-only journal with group commit: one write and one fsync for many records.

Durable stores here used to create, fsync and rename a file for every change; the kernel work of
that (not the disk flush alone) capped a turn at about 0.5 ms of a core. A journal makes a change
durable with an append instead, and a writer thread batches the appends that arrive together:
each batch is one `write` and one `fdatasync`, after which every record in it is acknowledged.
The owner keeps the changed objects in memory and writes them to their real files later
(compaction), then drops the journal segments they came from; at open it replays what is left.

Layout: `directory/<number>.log` segments, each a sequence of frames

    4 bytes payload length (big-endian) | 4 bytes CRC-32 of the payload | payload

A crash can leave only the last batch of the newest segment half written; `read_segment` stops at
the first frame that is short or fails its checksum, so a torn record is never replayed, and a
record is only acknowledged after the fsync that covers it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

FRAME = struct.Struct(">II")
MAX_RECORD = 64 * 1024 * 1024
_SEGMENT = re.compile(r"(\d{8})\.log")


def frame(payload: bytes) -> bytes:
    """Return `payload` framed with its length and checksum, ready to append."""
    if len(payload) > MAX_RECORD:
        raise ValueError("journal record too large")
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> tuple[list[bytes], bool]:
    """Return the whole records of one segment, and whether it ended cleanly (no torn tail)."""
    data = path.read_bytes()
    records: list[bytes] = []
    offset = 0
    while offset + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, offset)
        start, end = offset + FRAME.size, offset + FRAME.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            return records, False
        records.append(data[start:end])
        offset = end
    return records, offset == len(data)


def segments(directory: Path) -> list[tuple[int, Path]]:
    """Return the segment files of a journal directory, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _SEGMENT.fullmatch(p.name))]
    return sorted(found)


def replay(directory: Path) -> Iterator[bytes]:
    """Yield every whole record of every segment in order (a torn tail is skipped and logged)."""
    for number, path in segments(directory):
        records, clean = read_segment(path)
        if not clean:
            log.warning("journal: segment %08d ends in a torn or damaged record (not replayed)", number)
        yield from records


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (a new, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Appends records to `directory` from any thread or event loop; a writer thread commits them.

    Open it only after replaying and compacting what the directory held: it starts a new segment
    numbered after the existing ones and never reads them.
    """

    def __init__(self, directory: Path | str, *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        existing = segments(self.directory)
        self._number = existing[-1][0] if existing else 0
        self._fd = -1
        self._size = 0
        self._broken: OSError | None = None
        self._io = threading.Lock()  # a batch write and a rotation never interleave
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, Any, Any, Callable[[], None] | None]] = []
        self._stopping = False
        self._open_next()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    @property
    def size(self) -> int:
        """Bytes in the current segment."""
        return self._size

    def append(self, payload: bytes, on_durable: Callable[[], None] | None = None) -> asyncio.Future:
        """Queue a record; the returned future (of the running loop) resolves once it is durable.

        `on_durable` runs in the writer thread right after the fsync that covers the record and
        before any later `rotate` returns, so an owner can publish the change in memory at the
        moment it became durable (and a compaction that rotates afterwards sees it).
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue(frame(payload), loop, future, on_durable)
        return future

    def append_sync(self, payload: bytes, on_durable: Callable[[], None] | None = None) -> None:
        """Queue a record and block until it is durable (for callers outside an event loop)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue(frame(payload), None, future, on_durable)
        future.result()

    def rotate(self) -> int:
        """Start a new segment; return the number of the last closed one.

        Every record acknowledged before this call is in a segment numbered at most that.
        """
        with self._io:
            closed = self._number
            self._open_next()
            return closed

    def drop(self, upto: int | None = None) -> None:
        """Remove the segments numbered at most `upto` (their records are in the real files).

        Without `upto`, after `close`, remove every segment.
        """
        if upto is None and self._fd >= 0:
            raise RuntimeError("close the journal before dropping every segment")
        for number, path in segments(self.directory):
            if upto is None or (number <= upto and number != self._number):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the segment."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        with self._io:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    # -- the writer thread ----------------------------------------------------------------------

    def _queue(self, framed: bytes, loop: Any, future: Any, on_durable: Callable[[], None] | None) -> None:
        with self._cond:
            if self._stopping:
                raise RuntimeError("journal is closed")
            self._pending.append((framed, loop, future, on_durable))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            with self._io:
                error = self._write(b"".join(item[0] for item in batch))
                if error is None:
                    _published(batch)
            _settle(batch, error)

    def _write(self, data: bytes) -> BaseException | None:
        """Append one batch and fsync it (the caller holds `_io`); return the refusing error."""
        if self._broken is not None:
            return self._broken
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if self._fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            self._undo(exc)
            return exc
        self._size += len(data)
        return None

    def _undo(self, exc: OSError) -> None:
        """Cut a failed batch off the segment so later records never follow a torn one."""
        log.error("journal: a write failed (%s); the batch is refused", type(exc).__name__)
        try:
            os.ftruncate(self._fd, self._size)
            os.lseek(self._fd, self._size, os.SEEK_SET)
        except OSError as again:
            self._broken = again  # nothing more can be appended safely

    def _open_next(self) -> None:
        number = self._number + 1
        fd = os.open(self.directory / f"{number:08d}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if self._fsync:
            fsync_directory(self.directory)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._number, self._size = fd, number, 0


def _published(batch: list) -> None:
    """Run the batch's `on_durable` callbacks (a failing one is logged, never stops the rest)."""
    for *_, on_durable in batch:
        if on_durable is not None:
            try:
                on_durable()
            except Exception:  # noqa: BLE001 - the record is durable whatever the owner does
                log.exception("journal: an on_durable callback failed")


def _settle(batch: list, error: BaseException | None) -> None:
    """Resolve a batch's waiters: one wake-up per event loop, not one per record."""
    by_loop: dict[Any, list[asyncio.Future]] = {}
    for _, loop, future, _ in batch:
        if loop is None:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        else:
            by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, futures, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _resolve(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
