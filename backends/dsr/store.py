"""The DSR backend's durable state: one TinyDB file, `DATA_DIR/dsr.json`.

Tables: `cases`, `idempotency`, `staff`, `audit`, and `jobs` (when the background jobs last ran,
so a restart never sends the day's reminder twice). A new case, its idempotency record and its audit
entry must land together (a crash between them would let a retry file the request twice), and
TinyDB has no multi-table transaction, so every change here changes the whole document and writes
it back once, atomically (`backends/docfile.py`). The parsed document is kept in memory while the
file is unchanged (`backends/cached_doc.py`): reads no longer parse the file, and a change made
by another process (`backend add-staff` while serving) is still seen. An asyncio lock serialises
read-modify-write inside the process; the blocking file work runs in a thread so the event loop
keeps serving. What a read returns is a copy.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any, Callable

from backends.cached_doc import CachedDocument, Changed
from backends.docfile import first, insert, next_id

FILE_NAME = "dsr.json"
TABLES = ("cases", "idempotency", "staff", "audit", "jobs")


class IdempotencyConflict(Exception):
    """Signal that an Idempotency-Key was already used with another body."""


class CaseNotFound(LookupError):
    """Signal that no case has the reference asked for."""


def _open(data_dir: Path) -> CachedDocument:
    return CachedDocument(Path(data_dir) / FILE_NAME, TABLES)


def upsert_staff_sync(data_dir: Path, record: dict) -> None:
    """Store a staff account (replacing one with the same username) in one atomic write."""

    def change(data: dict) -> tuple[None, Changed]:
        existing = [k for k, doc in data["staff"].items() if doc.get("username") == record["username"]]
        data["staff"][existing[0] if existing else next_id(data["staff"])] = record
        return None, {"staff": None}

    _open(data_dir).transact(change)


def change_staff_sync(data_dir: Path, username: str, changes: dict | None) -> None:
    """Update a staff account's fields (`changes`) or delete it (None), in one atomic write.

    Raises LookupError when there is no such account.
    """

    def change(data: dict) -> tuple[None, Changed]:
        found = [k for k, doc in data["staff"].items() if doc.get("username") == username]
        if not found:
            raise LookupError(f"there is no staff login {username!r}")
        for doc_id in found:
            if changes is None:
                del data["staff"][doc_id]
            else:
                data["staff"][doc_id].update(changes)
        return None, {"staff": None}

    _open(data_dir).transact(change)


class DsrStore:
    """Keep cases, idempotency records, staff accounts and the audit log durable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._doc = _open(self.data_dir)
        self._lock = asyncio.Lock()

    async def _locked(self, change: Callable[[dict], tuple[Any, Any]]) -> Any:
        """Run `change(data)` -> (result, False or what it changed, see `CachedDocument.transact`)
        in a thread while holding the lock, so read-modify-write never interleaves; the file is
        written when it changed."""
        async with self._lock:
            return await asyncio.to_thread(self._doc.transact, change)

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

        def work(data: dict) -> tuple[tuple[dict, bool], Changed]:
            seen = first(data["idempotency"], key=key)
            if seen is not None:
                if seen["body_hash"] != body_hash:
                    raise IdempotencyConflict()
                return (copy.deepcopy(seen["response"]), False), False
            case, response, audit = build(data)
            insert(data["cases"], case)
            insert(data["idempotency"], {
                "key": key, "body_hash": body_hash, "reference": case["reference"],
                "response": copy.deepcopy(response), "created_at": case["received_at"],
            })
            insert(data["audit"], audit)
            return (response, True), {"cases": (), "idempotency": (), "audit": ()}

        return await self._locked(work)

    async def update_case(self, reference: str, change: Callable[[dict], dict | None]) -> dict:
        """Apply `change` to a case and append the audit entry it returns, in one write.

        `change` mutates the case in place and may raise ValueError to refuse the change, in
        which case nothing is written; it may return None for a change not worth an audit
        entry (a retry count). Returns the updated case.
        """

        def work(data: dict) -> tuple[dict, Changed]:
            case = first(data["cases"], reference=reference)
            if case is None:
                raise CaseNotFound(reference)
            audit = change(case)
            if audit is not None:
                insert(data["audit"], audit)
            changed = [doc_id for doc_id, doc in data["cases"].items() if doc is case]
            return copy.deepcopy(case), {"cases": changed, "audit": ()}

        return await self._locked(work)

    async def add_audit(self, entry: dict) -> None:
        """Append one audit entry that changes no case (a case or its letter was viewed)."""

        def work(data: dict) -> tuple[None, Changed]:
            insert(data["audit"], copy.deepcopy(entry))
            return None, {"audit": ()}

        await self._locked(work)

    async def job_state(self, name: str) -> dict:
        """Return what the background job `name` last recorded ({} before its first run)."""
        return dict(await self._look(lambda data: first(data["jobs"], name=name) or {}))

    async def set_job_state(self, name: str, state: dict) -> None:
        """Record the background job's state (replacing what it recorded before)."""

        def work(data: dict) -> tuple[None, Changed]:
            found = [k for k, doc in data["jobs"].items() if doc.get("name") == name]
            data["jobs"][found[0] if found else next_id(data["jobs"])] = {**copy.deepcopy(state), "name": name}
            return None, {"jobs": None}

        await self._locked(work)

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
        def read(data: dict) -> list[dict]:
            entries = [(int(k), e) for k, e in data["audit"].items() if e.get("reference") == reference]
            return [e for _, e in sorted(entries, key=lambda pair: pair[0])]

        return await self._look(read)

    async def staff(self, username: str) -> dict | None:
        """Return a staff account by username, or None."""
        return await asyncio.to_thread(self._doc.find, "staff", "username", username, copy.deepcopy)

    def close(self) -> None:
        """Release the TinyDB handle (the storage holds no open file)."""
        self._doc.close()
