"""The file-backed `SessionStore`: one small TinyDB file per conversation.

One TinyDB file holding every conversation costs a full rewrite per message, growing with the
number of conversations (25 ms at 1k, 1.6 s at 50k on the target machine). Here each conversation
has its own file, `root/<2 hex chars of sha256(session)>/<session>.json`, in TinyDB's layout:

    {"state": {"1": {...state...}},
     "transcript": {"1": {"seq": 1, ...}, "2": {"seq": 2, ...}}}

so `TinyDB(path, storage=AtomicJSONStorage)` opens it, and a commit rewrites only that
conversation, in one atomic replace (temp file, fsync, `os.replace`): a kill leaves the
conversation before or after the turn, never between. The 256 shard directories keep directory
sizes small (about 400 files each at 100k conversations).

The file is the truth. A bounded LRU cache of recently used conversations saves re-reading the
file on the next message, and is filled only after a successful read or write, so a SIGKILL can
never leave the cache ahead of the disk. Operations on one conversation are serialised with an
asyncio lock per session id (dropped when idle); file I/O runs in the store's own worker threads,
so a slow write elsewhere in the process (a backend rewriting its file) never queues a turn.

One process owns a root: the locks are in-process, so two servers must not share a directory.
Session ids are used as file names; on a case-insensitive file system (macOS default) ids that
differ only in case would share a file, which random ids never do in practice.
"""
from __future__ import annotations

import asyncio
import copy
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
from typing import Any, Callable, TypeVar

from common.locks import KeyedLocks
from common.atomic import TMP_PREFIX, AtomicJSONStorage, clean_stale_temp_files
from common.session_ids import SESSION_ID, validate_session  # noqa: F401 (re-exported)
from bot.store.base import Conversation

log = logging.getLogger(__name__)

T = TypeVar("T")

CORRUPT_DIR = "corrupt"
_SHARD = re.compile(r"[0-9a-f]{2}")

# A parsed conversation as held in the cache: (state, entries in seq order). Never mutated once
# built; every value handed to a caller is a copy.
_Parsed = tuple[dict, tuple[dict, ...]]


def session_tag(session: str) -> str:
    """Return a short hash of a session id, to correlate log lines without logging the id."""
    return hashlib.sha256(session.encode("ascii")).hexdigest()[:12]


def shard_path(root: Path, session: str) -> Path:
    """Return where a conversation's file lives, so tools (and the benchmark) agree on layout."""
    validate_session(session)
    shard = hashlib.sha256(session.encode("ascii")).hexdigest()[:2]
    return Path(root) / shard / f"{session}.json"


def build_document(state: dict, transcript: list[dict] | tuple[dict, ...]) -> dict:
    """Lay out a conversation as a TinyDB database so TinyDB itself can open the file."""
    return {
        "state": {"1": state},
        "transcript": {str(entry["seq"]): entry for entry in transcript},
    }


def _parse_document(doc: Any) -> _Parsed:
    """Check a decoded file has the layout `build_document` writes; raise ValueError if not."""
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
    return state_table["1"], tuple(entries)


class TinyDBStore:
    """Keeps each conversation in its own atomically replaced TinyDB file under `root`."""

    def __init__(self, root: Path | str, *, cache_size: int = 256, fsync_dir: bool = False,
                 workers: int = 8) -> None:
        """Prepare `root` and remove temp files a crash left behind mid-write.

        `fsync_dir=True` also fsyncs the directory after each replace, so even a power cut (not
        just a killed process) cannot lose a finished commit; it costs one more fsync per message.
        """
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        removed = clean_stale_temp_files(self.root)
        if removed:
            log.info("session store: removed %d stale temp files", removed)
        self._cache_size = max(0, cache_size)
        self._fsync_dir = fsync_dir
        self._cache: OrderedDict[str, _Parsed] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._locks = KeyedLocks()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        # Threads are started on demand; more than a few do not help (fsyncs queue in the disk).
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="session-store")

    # -- the port -------------------------------------------------------------------------------

    async def load(self, session: str) -> Conversation | None:
        """Return the stored conversation (a copy), or None if there is none or it was corrupt."""
        validate_session(session)
        parsed = await self._run(session, self._read, session)
        if parsed is None:
            return None
        state, entries = parsed
        return Conversation(session=session, state=copy.deepcopy(state), transcript=copy.deepcopy(list(entries)))

    async def load_state(self, session: str) -> dict | None:
        """Return a copy of the conversation's state only (what a turn needs), or None.

        A cached conversation is answered on the event loop without a thread hop: the cache
        holds only what was written successfully, so it is as good as the file.
        """
        validate_session(session)
        with self._cache_lock:
            parsed = self._cache.get(session)
            if parsed is not None:
                self._cache.move_to_end(session)
        if parsed is None:
            parsed = await self._run(session, self._read, session)
            if parsed is None:
                return None
        return copy.deepcopy(parsed[0])

    async def commit(self, session: str, state: dict, new_entries: list[dict]) -> list[dict]:
        """Store `state`, append `new_entries` with the next seqs, and write both in one replace."""
        validate_session(session)
        if not isinstance(state, dict):
            raise TypeError("state must be a dict")
        entries = list(new_entries)
        if not all(isinstance(e, dict) for e in entries):
            raise TypeError("every transcript entry must be a dict")
        stored = await self._run(session, self._commit_sync, session, state, entries)
        return copy.deepcopy(stored)

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        """Return copies of the entries with seq > after (empty for an unknown session)."""
        validate_session(session)
        parsed = await self._run(session, self._read, session)
        if parsed is None:
            return []
        return copy.deepcopy([e for e in parsed[1] if e["seq"] > after])

    async def delete(self, session: str) -> None:
        """Remove a conversation's file; deleting an unknown conversation is not an error."""
        validate_session(session)
        await self._run(session, self._delete_sync, session)

    async def sessions(self) -> list[str]:
        """Return every stored session id by walking the shard directories (slow; for sweeps)."""
        return await asyncio.to_thread(self._sessions_sync)

    async def close(self) -> None:
        """Refuse new operations and wait for the ones already started, so no turn is lost."""
        self._closed = True
        if self._inflight:
            await self._idle.wait()
        self._executor.shutdown(wait=False)
        with self._cache_lock:
            self._cache.clear()

    # -- scheduling -----------------------------------------------------------------------------

    async def _run(self, session: str, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking `fn` in a worker thread while holding this conversation's lock."""
        if self._closed:
            raise RuntimeError("session store is closed")
        self._inflight += 1
        self._idle.clear()
        try:
            async with self._locks.lock(session):
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
                return await _await_even_if_cancelled(future)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    # -- blocking work (worker threads) ---------------------------------------------------------

    def _read(self, session: str) -> _Parsed | None:
        """Return the conversation from the cache or its file; move a corrupt file aside."""
        with self._cache_lock:
            parsed = self._cache.get(session)
            if parsed is not None:
                self._cache.move_to_end(session)
                return parsed
        path = shard_path(self.root, session)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            parsed = _parse_document(json.loads(raw))
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            self._quarantine(session, path, exc)
            return None
        self._cache_put(session, parsed)
        return parsed

    def _commit_sync(self, session: str, state: dict, entries: list[dict]) -> list[dict]:
        """Build the next version of the conversation, write it atomically, then cache it."""
        # The JSON round trip copies what the caller passed (so later mutation cannot reach the
        # cache) and fails on values JSON cannot hold before anything is written.
        state = json.loads(json.dumps(state))
        entries = json.loads(json.dumps(entries))
        current = self._read(session)
        old_entries = current[1] if current is not None else ()
        last = old_entries[-1]["seq"] if old_entries else 0
        for offset, entry in enumerate(entries, start=1):
            entry["seq"] = last + offset
        all_entries = old_entries + tuple(entries)
        path = shard_path(self.root, session)
        AtomicJSONStorage(path, fsync_dir=self._fsync_dir).write(build_document(state, all_entries))
        self._cache_put(session, (state, all_entries))
        return entries

    def _delete_sync(self, session: str) -> None:
        with self._cache_lock:
            self._cache.pop(session, None)
        try:
            shard_path(self.root, session).unlink()
        except FileNotFoundError:
            pass

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

    def _cache_put(self, session: str, parsed: _Parsed) -> None:
        if not self._cache_size:
            return
        with self._cache_lock:
            self._cache[session] = parsed
            self._cache.move_to_end(session)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

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
