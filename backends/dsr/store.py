"""The DSR backend's durable state: `DATA_DIR/dsr.json` and its journal `DATA_DIR/dsr.journal`.

Tables: `cases`, `idempotency`, `staff`, `audit`, and `jobs` (when the background jobs last ran,
so a restart never sends the day's reminder twice). A new case, its idempotency record and its audit
entry must land together (a crash between them would let a retry file the request twice), and
TinyDB has no multi-table transaction, so every change is one line appended to the journal with
every document it changes, fdatasync'd before it returns (`backends/docfile.py`,
`backends/cached_doc.py`): its cost does not grow with the number of cases. The document is kept in
memory; a change made by another process (`backend add-staff` while serving) is still seen.
Changes run one after another in the store's own thread, so read-modify-write never interleaves
and the event loop keeps serving. What a read returns is a copy. `dsr.json` keeps TinyDB's
layout, so a data directory of an older version is read as it is; `read_tables` reads the whole
document as a restart does.
"""
from __future__ import annotations

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from backends.cached_doc import CachedDocument, Change
from backends.docfile import read_document

FILE_NAME = "dsr.json"
TABLES = ("cases", "idempotency", "staff", "audit", "jobs")


class IdempotencyConflict(Exception):
    """Signal that an Idempotency-Key was already used with another body."""


class CaseNotFound(LookupError):
    """Signal that no case has the reference asked for."""


def _open(data_dir: Path) -> CachedDocument:
    return CachedDocument(Path(data_dir) / FILE_NAME, TABLES)


def read_tables(data_dir: Path) -> dict:
    """Return the whole stored document `{table: {id: doc}}`, as a restart reads it."""
    return read_document(Path(data_dir) / FILE_NAME, TABLES)


def _change_once(data_dir: Path, change: Callable[[Change], None]) -> None:
    """Apply one change from outside the server (a command), leaving the journal to the server."""
    doc = _open(data_dir)
    try:
        doc.transact(change)
    finally:
        doc.close(compact=False)


def upsert_staff_sync(data_dir: Path, record: dict) -> None:
    """Store a staff account (replacing one with the same username) in one durable change."""

    _change_once(data_dir, lambda txn: txn.upsert("staff", "username", record))


def change_staff_sync(data_dir: Path, username: str, changes: dict | None) -> None:
    """Update a staff account's fields (`changes`) or delete it (None), in one durable change.

    Raises LookupError when there is no such account.
    """

    def change(txn: Change) -> None:
        found = txn.ids("staff", "username", username)
        if not found:
            raise LookupError(f"there is no staff login {username!r}")
        for doc_id in found:
            if changes is None:
                txn.delete("staff", doc_id)
            else:
                txn.data["staff"][doc_id].update(changes)
                txn.changed("staff", doc_id)

    _change_once(data_dir, change)


class DsrStore:
    """Keep cases, idempotency records, staff accounts and the audit log durable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._doc = _open(self.data_dir)
        # Changes run one after another in the store's own thread, so read-modify-write never
        # interleaves. (Before, an asyncio lock was held across the thread hop: each change then
        # also held it while its continuation waited its turn in a busy event loop, and at 50
        # guardians filing requests the step that files one waited ~0.4 s at p95.)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-store")

    async def _locked(self, change: Callable[[Change], Any]) -> Any:
        """Run `change(Change)` in the store's writer thread; what it noted is appended to the
        journal before this returns (`CachedDocument.transact`)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._doc.transact, change)

    async def _look(self, read: Callable[[dict], Any]) -> Any:
        """Return a copy of `read(data)`."""
        return await asyncio.to_thread(self._doc.look, lambda data: copy.deepcopy(read(data)))

    async def create_case(
        self, key: str, body_hash: str, build: Callable[[dict], tuple[dict, dict, dict]]
    ) -> tuple[dict, bool]:
        """Create a case once per Idempotency-Key and return (answer, created).

        `build(data)` gets the current document (to number the case) and returns the case, the
        answer to store with the key, and the audit entry. The same key with the same body hash
        returns the stored answer; with another hash it raises IdempotencyConflict.
        """

        def work(txn: Change) -> tuple[dict, bool]:
            seen = txn.find("idempotency", "key", key)
            if seen is not None:
                if seen[1]["body_hash"] != body_hash:
                    raise IdempotencyConflict()
                return copy.deepcopy(seen[1]["response"]), False
            case, response, audit = build(txn.data)
            txn.insert("cases", case)
            txn.insert("idempotency", {
                "key": key, "body_hash": body_hash, "reference": case["reference"],
                "response": copy.deepcopy(response), "created_at": case["received_at"],
            })
            txn.insert("audit", audit)
            return response, True

        return await self._locked(work)

    async def update_case(self, reference: str, change: Callable[[dict], dict | None]) -> dict:
        """Apply `change` to a case and append the audit entry it returns, in one write.

        `change` mutates the case in place and may raise ValueError to refuse the change, in
        which case nothing is written; it may return None for a change not worth an audit
        entry (a retry count). Returns the updated case.
        """

        def work(txn: Change) -> dict:
            found = txn.find("cases", "reference", reference)
            if found is None:
                raise CaseNotFound(reference)
            doc_id, case = found
            audit = change(case)
            txn.changed("cases", doc_id)
            if audit is not None:
                txn.insert("audit", audit)
            return copy.deepcopy(case)

        return await self._locked(work)

    async def add_audit(self, entry: dict) -> None:
        """Append one audit entry that changes no case (a case or its letter was viewed)."""
        await self._locked(lambda txn: txn.insert("audit", copy.deepcopy(entry)))

    async def job_state(self, name: str) -> dict:
        """Return what the background job `name` last recorded ({} before its first run)."""
        found = await asyncio.to_thread(self._doc.find, "jobs", "name", name, copy.deepcopy)
        return found or {}

    async def set_job_state(self, name: str, state: dict) -> None:
        """Record the background job's state (replacing what it recorded before)."""

        record = {**copy.deepcopy(state), "name": name}
        await self._locked(lambda txn: txn.upsert("jobs", "name", record))

    async def staff_names(self) -> list[str]:
        """Return the usernames of the enabled staff logins, sorted."""
        return sorted(await self._look(lambda data: [doc["username"] for doc in data["staff"].values()
                                                     if doc.get("username") and not doc.get("disabled")]))

    async def get_case(self, reference: str) -> dict | None:
        """Return one case, or None."""
        return await asyncio.to_thread(self._doc.find, "cases", "reference", reference, copy.deepcopy)

    async def cases(self) -> list[dict]:
        """Return every case (unsorted)."""
        return await self._look(lambda data: list(data["cases"].values()))

    async def audit_for(self, reference: str) -> list[dict]:
        """Return the audit entries of one case, oldest first."""
        def read(entries: list[tuple[str, dict]]) -> list[dict]:
            return [copy.deepcopy(e) for _, e in sorted(entries, key=lambda pair: int(pair[0]))]

        return await asyncio.to_thread(self._doc.select, "audit", "reference", reference, read)

    async def staff(self, username: str) -> dict | None:
        """Return a staff account by username, or None."""
        return await asyncio.to_thread(self._doc.find, "staff", "username", username, copy.deepcopy)

    def close(self) -> None:
        """Let the changes under way finish, then fold the journal into `dsr.json` and close it."""
        self._writer.shutdown(wait=True)
        self._doc.close()
