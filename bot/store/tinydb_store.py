"""The file-backed `SessionStore`: one small TinyDB file per conversation, and a journal.

One TinyDB file holding every conversation costs a full rewrite per message, growing with the
number of conversations (25 ms at 1k, 1.6 s at 50k on the target machine). Here each conversation
has its own file, `root/<2 hex chars of sha256(session)>/<session>.json`, in TinyDB's layout:

    {"state": {"1": {...state...}},
     "transcript": {"1": {"seq": 1, ...}, "2": {"seq": 2, ...}}}

so `TinyDB(path, storage=AtomicJSONStorage)` opens it. The 256 shard directories keep directory
sizes small (about 400 files each at 100k conversations).

A turn is durable before its reply, but it no longer creates, fsyncs and renames that file: a
commit appends the conversation's new document to the journal (`root/journal/`, see
`common/journal.py`), whose writer thread commits the appends that arrive together with one write
and one fsync (group commit). Every 5 s a compaction thread writes each conversation changed since
(temp file, fsync, rename: once for all its turns in that time), fsyncs the shard directories and
drops the journal segments it covered. Opening a store replays what the journal still holds into
the files, so a SIGKILL at any moment leaves every acknowledged turn; a torn record at the
journal's end was never acknowledged and is skipped. A clean `close` compacts everything, so a
stopped store's folder is plain files again (and an old folder without a journal opens as
before). Readers of the files while a store runs (`knowledge gaps`) see each conversation as of
its last compaction, at most a few seconds old.

Conversations changed since the last compaction are held in memory (`_dirty`) and answer reads;
a bounded LRU cache of other recently used conversations (or of their absence) saves re-reading
files. Both are filled only with what is durable, so a SIGKILL can never leave memory ahead of
the disk. Operations on one conversation are serialised with an asyncio lock per session id
(dropped when idle); file reads run in the store's own worker threads.

One process owns a root: the locks are in-process, so two servers must not share a directory.
Session ids are used as file names; on a case-insensitive file system (macOS default) ids that
differ only in case would share a file, which random ids never do in practice.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Callable, NamedTuple, TypeVar

from common.locks import KeyedLocks
from common.atomic import TMP_PREFIX, clean_stale_temp_files, write_atomic
from common.journal import Journal, fsync_directory, replay, segments
from common.session_ids import SESSION_ID, validate_session  # noqa: F401 (re-exported)
from bot.store.base import Conversation

log = logging.getLogger(__name__)

T = TypeVar("T")

CORRUPT_DIR = "corrupt"
_SHARD = re.compile(r"[0-9a-f]{2}")



class _Parsed(NamedTuple):
    """A conversation as held in memory. Never mutated once built. Held as JSON text and the
    last seq only: a caller's copy is decoded from the text (cheaper than `copy.deepcopy`), a
    commit encodes only its own new entries and the file is put together from text. Text and
    numbers are not tracked by the cyclic garbage collector, so each of the thousands of
    conversations held between compactions is one object to a full collection, not ~20 (as
    dicts and lists they made each collection walk ~100,000 objects: 85-95 ms while every
    request waited; docs/BENCHMARKS.md)."""

    last_seq: int
    state_json: str
    entries_json: str  # the inside of the file's transcript table: '"1":{...},"2":{...}'


def session_tag(session: str) -> str:
    """Return a short hash of a session id, to correlate log lines without logging the id."""
    return hashlib.sha256(session.encode("ascii")).hexdigest()[:12]


def shard_path(root: Path, session: str) -> Path:
    """Return where a conversation's file lives, so tools (and the benchmark) agree on layout."""
    return Path(root) / _shard_name(session)


def _shard_name(session: str) -> str:
    """Return a conversation's file under the root, `<2 hex chars>/<session>.json` (as text: a
    `Path` costs more than the `stat` that asks whether a new conversation has a file)."""
    validate_session(session)
    return f"{hashlib.sha256(session.encode('ascii')).hexdigest()[:2]}/{session}.json"


def build_document(state: dict, transcript: list[dict] | tuple[dict, ...]) -> dict:
    """Lay out a conversation as a TinyDB database so TinyDB itself can open the file."""
    return {
        "state": {"1": state},
        "transcript": {str(entry["seq"]): entry for entry in transcript},
    }


def _parse_document(doc: Any) -> _Parsed:
    """Check a decoded file has the layout `build_document` writes; raise ValueError if not.
    (In a worker thread: the JSON texts kept with it are encoded here, off the event loop.)"""
    if not isinstance(doc, dict):
        raise ValueError("document is not an object")
    state_table = doc.get("state")
    transcript_table = doc.get("transcript", {})
    if not isinstance(state_table, dict) or not isinstance(state_table.get("1"), dict):
        raise ValueError("state table missing")
    if not isinstance(transcript_table, dict):
        raise ValueError("transcript table is not an object")
    entries = []
    for expected, (key, entry) in enumerate(transcript_table.items(), start=1):
        if not isinstance(entry, dict) or entry.get("seq") != expected or key != str(expected):
            raise ValueError("transcript seqs are not 1, 2, 3, ...")
        entries.append(entry)
    return _Parsed(len(entries), _dumps(state_table["1"]), _table_json(entries, map(_dumps, entries)))


# One encoder for every document (json.dumps with options builds a new one per call).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _table_json(entries: list[dict], texts: Any) -> str:
    """Return the inside of a transcript table from its entries and their encoded `texts`."""
    return ",".join(f'"{entry["seq"]}":{text}' for entry, text in zip(entries, texts))


JOURNAL_DIR = "journal"
_COMMIT, _DELETE = b"C", b"D"
_MISS = object()  # not in memory: the file must be read


def _commit_record(session: str, doc: bytes) -> bytes:
    return _COMMIT + session.encode("ascii") + b"\n" + doc


def _delete_record(session: str) -> bytes:
    return _DELETE + session.encode("ascii") + b"\n"


def _parse_record(payload: bytes) -> tuple[str, bytes | None]:
    """Return (session, the conversation's document, or None for a deletion) of a journal record."""
    head, _, doc = payload.partition(b"\n")
    kind, session = head[:1], head[1:].decode("ascii")
    validate_session(session)
    if kind == _COMMIT:
        return session, doc
    if kind == _DELETE:
        return session, None
    raise ValueError("unknown journal record")


class TinyDBStore:
    """Keeps each conversation in its own TinyDB file under `root`, made durable by a journal."""

    def __init__(self, root: Path | str, *, cache_size: int = 256, fsync_dir: bool = False,
                 workers: int = 4, compact_interval: float = 5.0, compact_bytes: int = 4 << 20) -> None:
        """Prepare `root`: remove temp files a crash left, replay the journal, start its writer.

        Directory entries are always made durable (the journal's segments when made, the shard
        directories once per compaction), so a power cut, not just a killed process, keeps every
        acknowledged turn; `fsync_dir` is accepted for older callers and changes nothing.
        `compact_interval` (seconds) and `compact_bytes` (of journal) bound how long a change
        waits for its file and how much the next open may have to replay.
        """
        del fsync_dir
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_text = str(self.root)
        removed = clean_stale_temp_files(self.root)
        if removed:
            log.info("session store: removed %d stale temp files", removed)
        self._cache_size = max(0, cache_size)
        self._cache: OrderedDict[str, _Parsed | None] = OrderedDict()
        self._dirty: dict[str, tuple[_Parsed, bytes]] = {}  # durable in the journal, not yet in its file
        self._deleted: set[str] = set()  # deleted in the journal, file maybe not yet removed
        self._cache_lock = threading.Lock()
        self._file_lock = threading.Lock()  # a compaction's file write vs a deletion's unlink
        self._compact_lock = threading.Lock()
        self._locks = KeyedLocks()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="session-store")
        self._recover()
        self._journal = Journal(self.root / JOURNAL_DIR)
        self._compact_interval, self._compact_bytes = compact_interval, compact_bytes
        self._wake = threading.Event()
        self._stopping = False
        self._compactor = threading.Thread(target=self._compact_loop, name="session-compactor", daemon=True)
        self._compactor.start()

    # -- the port -------------------------------------------------------------------------------

    async def load(self, session: str) -> Conversation | None:
        """Return the stored conversation (a copy), or None if there is none or it was corrupt."""
        validate_session(session)
        parsed = await self._current(session)
        if parsed is None:
            return None
        return Conversation(session=session, state=json.loads(parsed.state_json),
                            transcript=list(json.loads("{" + parsed.entries_json + "}").values()))

    async def load_state(self, session: str) -> dict | None:
        """Return a copy of the conversation's state only (what a turn needs), or None.

        A conversation in memory is answered on the event loop without a thread hop: memory
        holds only what is durable, so it is as good as the disk.
        """
        validate_session(session)
        parsed = await self._current(session)
        return None if parsed is None else json.loads(parsed.state_json)

    async def commit(self, session: str, state: dict, new_entries: list[dict]) -> list[dict]:
        """Store `state`, append `new_entries` with the next seqs; durable (journal) on return."""
        validate_session(session)
        if not isinstance(state, dict):
            raise TypeError("state must be a dict")
        entries = list(new_entries)
        if not all(isinstance(e, dict) for e in entries):
            raise TypeError("every transcript entry must be a dict")
        # Once asked, a commit runs to its end even if the caller is cancelled: a cancelled turn
        # must land before the conversation's next one, never vanish half way.
        self._begin()  # counted at once, so a `close` right after this call still waits for it
        work = asyncio.ensure_future(self._commit(session, state, entries))
        return await _await_even_if_cancelled(work)

    async def _commit(self, session: str, state: dict, entries: list[dict]) -> list[dict]:
        try:
            async with self._locks.lock(session):
                current = await self._current(session, locked=True)
                parsed, doc, stored = _next_version(current, state, entries)
                durable = self._journal.append(_commit_record(session, doc),
                                               functools.partial(self._remember, session, (parsed, doc)))
                await durable
        finally:
            self._end()
        if self._journal.size > self._compact_bytes:
            self._wake.set()
        return stored

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        """Return copies of the entries with seq > after (empty for an unknown session)."""
        validate_session(session)
        parsed = await self._current(session)
        if parsed is None:
            return []
        if parsed.last_seq <= after:
            return []
        return [e for e in json.loads("{" + parsed.entries_json + "}").values() if e["seq"] > after]

    async def delete(self, session: str) -> None:
        """Remove a conversation; deleting an unknown conversation is not an error."""
        validate_session(session)
        async with self._operation(session):
            durable = self._journal.append(_delete_record(session), functools.partial(self._forget, session))
            await _await_even_if_cancelled(durable)
            await self._in_thread(self._unlink, session)

    async def sessions(self) -> list[str]:
        """Return every stored session id by walking the shard directories (slow; for sweeps)."""
        on_disk = await asyncio.to_thread(self._sessions_sync)
        with self._cache_lock:
            dirty, deleted = list(self._dirty), set(self._deleted)
        found = set(on_disk)
        return [s for s in on_disk if s not in deleted] + [s for s in dirty if s not in found]

    async def close(self) -> None:
        """Refuse new operations, wait for the ones started, and write every file (no journal left)."""
        if self._closed:
            return
        self._closed = True
        if self._inflight:
            await self._idle.wait()
        await asyncio.to_thread(self._shut_down)
        self._executor.shutdown(wait=False)
        with self._cache_lock:
            self._cache.clear()

    # -- scheduling (event loop) ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _operation(self, session: str) -> AsyncIterator[None]:
        """Hold this conversation's lock, counted as in flight so `close` waits for it."""
        self._begin()
        try:
            async with self._locks.lock(session):
                yield
        finally:
            self._end()

    def _begin(self) -> None:
        if self._closed:
            raise RuntimeError("session store is closed")
        self._inflight += 1
        self._idle.clear()

    def _end(self) -> None:
        self._inflight -= 1
        if self._inflight == 0:
            self._idle.set()

    async def _current(self, session: str, locked: bool = False) -> _Parsed | None:
        """Return the conversation from memory, or else from its file (under its lock)."""
        found = self._in_memory(session)
        if found is not _MISS:
            return found
        if locked:
            return None if self._no_file(session) else await self._in_thread(self._read_file, session)
        async with self._operation(session):
            found = self._in_memory(session)  # another operation may have read it meanwhile
            if found is not _MISS or self._no_file(session):
                return None if found is _MISS else found
            return await self._in_thread(self._read_file, session)

    def _no_file(self, session: str) -> bool:
        """Tell (and remember) that a conversation has no file: a new conversation is answered
        with one stat on the event loop, far cheaper than a hop to a worker thread."""
        try:
            os.stat(os.path.join(self._root_text, _shard_name(session)))
        except FileNotFoundError:
            self._cache_put(session, None)
            return True
        return False

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await _await_even_if_cancelled(loop.run_in_executor(self._executor, functools.partial(fn, *args)))

    def _in_memory(self, session: str) -> Any:
        with self._cache_lock:
            dirty = self._dirty.get(session)
            if dirty is not None:
                return dirty[0]
            if session in self._cache:
                self._cache.move_to_end(session)
                return self._cache[session]
        return _MISS

    # -- memory (any thread) --------------------------------------------------------------------

    def _remember(self, session: str, version: tuple[_Parsed, bytes]) -> None:
        """Publish a version the journal has made durable (runs in the journal's writer thread)."""
        with self._cache_lock:
            self._dirty[session] = version
            self._deleted.discard(session)
            self._cache.pop(session, None)

    def _forget(self, session: str) -> None:
        """Publish a durable deletion: the conversation is gone, its file goes next."""
        with self._cache_lock:
            self._dirty.pop(session, None)
            self._cache.pop(session, None)
            self._deleted.add(session)

    def _cache_put(self, session: str, parsed: _Parsed | None) -> None:
        with self._cache_lock:
            self._cache_put_locked(session, parsed)

    def _cache_put_locked(self, session: str, parsed: _Parsed | None) -> None:
        if not self._cache_size:
            return
        self._cache[session] = parsed
        self._cache.move_to_end(session)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # -- files (worker threads) -----------------------------------------------------------------

    def _read_file(self, session: str) -> _Parsed | None:
        """Return the conversation from its file (None if absent); move a corrupt file aside."""
        path = shard_path(self.root, session)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self._cache_put(session, None)
            return None
        try:
            parsed = _parse_document(json.loads(raw))
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            self._quarantine(session, path, exc)
            return None
        self._cache_put(session, parsed)
        return parsed

    def _unlink(self, session: str) -> None:
        """Remove a deleted conversation's file, durably, unless it was committed again since."""
        path = shard_path(self.root, session)
        with self._file_lock:
            with self._cache_lock:
                if session not in self._deleted:
                    return
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            else:
                fsync_directory(path.parent)
            with self._cache_lock:
                self._deleted.discard(session)

    def _sessions_sync(self) -> list[str]:
        found: list[str] = []
        with os.scandir(self.root) as shards:
            for shard in shards:
                if not (_SHARD.fullmatch(shard.name) and shard.is_dir()):
                    continue
                with os.scandir(shard.path) as files:
                    for entry in files:
                        name = entry.name
                        if name.startswith(TMP_PREFIX) or not name.endswith(".json"):
                            continue
                        session = name[: -len(".json")]
                        if SESSION_ID.fullmatch(session):
                            found.append(session)
        return found

    def _quarantine(self, session: str, path: Path, exc: Exception) -> None:
        """Move an unreadable file to `root/corrupt/` so the conversation starts over, not crashes.

        The file is kept, not deleted: transcripts are public records and staff may recover it.
        """
        target_dir = self.root / CORRUPT_DIR
        target_dir.mkdir(exist_ok=True)
        target = target_dir / f"{session}.{time.time_ns()}.json"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return
        log.warning(
            "session store: corrupt conversation file moved aside session_hash=%s error=%s",
            session_tag(session),
            type(exc).__name__,
        )

    # -- journal: recovery and compaction -------------------------------------------------------

    def _recover(self) -> None:
        """Write what the journal holds into the files, then drop it (at open, before any use)."""
        directory = self.root / JOURNAL_DIR
        latest: dict[str, bytes | None] = {}
        for payload in replay(directory):
            try:
                session, doc = _parse_record(payload)
            except (ValueError, UnicodeDecodeError):
                log.warning("session store: an unreadable journal record was skipped")
                continue
            latest[session] = doc
        dirs = set()
        for session, doc in latest.items():
            path = shard_path(self.root, session)
            if doc is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, doc)
            dirs.add(path.parent)
        for directory_path in dirs:
            if directory_path.is_dir():
                fsync_directory(directory_path)
        for _, path in segments(directory):
            path.unlink()
        if latest:
            log.info("session store: replayed %d conversations from the journal", len(latest))

    def _compact_loop(self) -> None:
        while True:
            self._wake.wait(self._compact_interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._compact()
            except Exception as exc:  # noqa: BLE001 - the journal keeps everything; try again later
                log.error("session store: compaction failed (%s); the journal keeps the turns", type(exc).__name__)

    def _compact(self, final: bool = False) -> None:
        """Write every conversation changed since the last compaction to its file, then drop the
        journal segments that held those changes. `final`: the journal is closed; drop it all."""
        with self._compact_lock:
            if not (final or self._journal.size or self._dirty or self._deleted):
                return
            upto = None if final else self._journal.rotate()
            with self._cache_lock:
                changed, deleted = list(self._dirty.items()), list(self._deleted)
            dirs = {self._write_back(session, version) for session, version in changed}
            for session in deleted:
                self._unlink(session)
            for directory in dirs - {None}:
                fsync_directory(directory)
            with self._cache_lock:
                for session, version in changed:
                    if self._dirty.get(session) is version:
                        del self._dirty[session]
                        self._cache_put_locked(session, version[0])
            self._journal.drop(upto)

    def _write_back(self, session: str, version: tuple[_Parsed, bytes]) -> Path | None:
        """Write a conversation's file if it still exists in memory; return its directory."""
        path = shard_path(self.root, session)
        with self._file_lock:
            with self._cache_lock:
                if session not in self._dirty:
                    return None  # deleted since: its file must not come back
            write_atomic(path, version[1], sole_writer=True)
        return path.parent

    def _shut_down(self) -> None:
        self._stopping = True
        self._wake.set()
        self._compactor.join()
        self._journal.close()
        self._compact(final=True)


def _next_version(current: _Parsed | None, state: dict, entries: list[dict]) -> tuple[_Parsed, bytes, list[dict]]:
    """Build a conversation's next version and its file's bytes (what `build_document` lays out);
    return it and a copy of the new entries for the caller."""
    # Encoding what the caller passed fails on values JSON cannot hold before anything is written,
    # and decoding it gives copies that later mutation cannot reach. Only the new entries are
    # encoded: the older ones' text is kept with the version before.
    state_json = _dumps(state)
    last = current.last_seq if current is not None else 0
    numbered = [{**entry, "seq": last + offset} for offset, entry in enumerate(entries, start=1)]
    texts = [_dumps(entry) for entry in numbered]
    new_json = _table_json(numbered, texts)
    entries_json = ",".join(part for part in (current.entries_json if current else "", new_json) if part)
    version = _Parsed(last + len(numbered), state_json, entries_json)
    doc = ('{"state":{"1":' + state_json + '},"transcript":{' + entries_json + "}}").encode("utf-8")
    return version, doc, json.loads("[" + ",".join(texts) + "]")


async def _await_even_if_cancelled(future: asyncio.Future[T]) -> T:
    """Wait for a worker thread's result; if cancelled, still wait before re-raising.

    A thread cannot be stopped mid-write. Releasing the conversation's lock early would let the
    next operation read the file before this write lands and then overwrite it, losing a turn.
    """
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wait({future})
            except asyncio.CancelledError:
                pass
        if not future.cancelled():
            future.exception()  # mark as retrieved; the cancellation is what we report
        raise
