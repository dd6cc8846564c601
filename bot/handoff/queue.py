"""The handoff queue: conversations waiting for or talking with an agent, and left messages.

Every item is written to its own small file, `DATA_DIR/handoff/items/<id>.json` (TinyDB layout,
atomic replace), before the change is confirmed to anyone, so a change costs the same however
many messages and conversations are stored (one file for all of them grew to 18 ms a change at
1,000 items in the benchmark); the in-memory copy changes only after the write succeeded, so a failed write
leaves nothing half done. Changes are serialised by the storage's lock, which makes "accept"
atomic: of two agents accepting at once, exactly one gets the conversation. That is `FileItems`
(the files above, one asyncio lock) in one process; with `serve --redis-url` it is
bot/shared_redis/handoff.py's `RedisItems` (a hash in Redis and a lock every process honours).

A left message is the exception: it is a new item with a fresh id, which no other change can
touch before it exists, so `add_message` writes it (`storage.insert`) without the queue-wide lock,
which would otherwise be held across the durable write and the wait for the loop after it (at
200 guardians that lock capped the queue at ~170 left messages a second). What the lock gave it
is kept by other means: the repeat check and the write of one conversation run one at a time
(a per-session lock here; across processes the conversation's own turn lock), ids are unique
(ids being written are reserved; Redis refuses an id it holds), and the item is in `items` only
once it is durable.

`items` is an `ItemsBySession`: a dict that also keeps which items each conversation has, so the
per-turn `open_for_session` and the repeat check look at that conversation's few items, not at
every item retention still keeps.

Item kinds and statuses:
  conversation: waiting -> assigned -> closed; waiting -> abandoned (the guardian left the queue);
                assigned -> waiting (the agent vanished: back to the queue); `guardian_left` marks
                an assigned conversation the guardian has left (the agent still closes it).
  message:      open -> done (a left message / callback request); `answered` says how
                ("callback" when an agent moved it to the list of calls to make).
  callback:     open -> done (a call an agent is to make: closing a chat with "Ringer upp
                senare" or answering a left message by phone); `result` is how the call went.

Conversations carry internal `notes` (agents' notes and transfer notes, never shown to the
guardian) and the data-rights `references` their transcript named; all of it is disposed of
with the item by `purge` after the retention period.

Every agent action is appended to `DATA_DIR/handoff_audit.jsonl` (who, what, which item, when;
never message text).
"""
from __future__ import annotations

import asyncio
import copy
import json
import os
import secrets
import statistics
import threading
from datetime import datetime, timedelta
from pathlib import Path
from contextlib import AbstractAsyncContextManager
from typing import Any, Callable, Protocol

import logging

from tinydb import TinyDB

from common.atomic import AtomicJSONStorage, clean_stale_temp_files, write_atomic
from common.locks import KeyedLocks

log = logging.getLogger("halmstad.handoff")
QUEUE_DIR = "handoff"
LEGACY_QUEUE_FILE = "handoff.json"  # one file for every item (before per-item files); migrated
AUDIT_FILE = "handoff_audit.jsonl"
OUTCOMES = ("resolved", "callback", "referred", "no_response", "other")
HANDED_BACK = "handed_back"  # the agent gave the guardian back to the assistant
CALLBACK_RESULTS = ("reached", "no_answer", "wrong_number", "other")
OPEN_CONVERSATION = ("waiting", "assigned")
FINISHED = ("closed", "abandoned", "done")
MAX_NOTE = 2000
# The same message again from the same conversation within this time is the same message: the turn
# that saved it was cut off (a crash before the answer) and the guardian sent it again.
REPEAT_WINDOW = timedelta(minutes=15)


class QueueError(Exception):
    """A refused queue operation; `status` is the HTTP status the agent API answers with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class ItemsBySession(dict):
    """The items by id, which also keep `session -> ids` (in the order they came) up to date on
    every change: set, delete, pop, popitem, clear, update, setdefault, |=. An item's session is
    never changed in place (a change replaces the item)."""

    def __init__(self, items: Any = (), /) -> None:
        super().__init__()
        self._by_session: dict[Any, dict[str, None]] = {}
        self.update(items)

    def of_session(self, session: str) -> list[dict]:
        """The items of one conversation, oldest first."""
        return [dict.__getitem__(self, item_id) for item_id in self._by_session.get(session, ())]

    def _link(self, item_id: str, item: Any) -> None:
        self._by_session.setdefault(_session_of(item), {})[item_id] = None

    def _unlink(self, item_id: str, item: Any) -> None:
        session = _session_of(item)
        ids = self._by_session.get(session)
        if ids is not None:
            ids.pop(item_id, None)
            if not ids:
                del self._by_session[session]

    def __setitem__(self, item_id: str, item: dict) -> None:
        if item_id in self:
            self._unlink(item_id, dict.__getitem__(self, item_id))
        super().__setitem__(item_id, item)
        self._link(item_id, item)

    def __delitem__(self, item_id: str) -> None:
        item = dict.__getitem__(self, item_id)
        super().__delitem__(item_id)
        self._unlink(item_id, item)

    def pop(self, item_id: str, *default: Any) -> Any:
        if item_id not in self:
            if default:
                return default[0]
            raise KeyError(item_id)
        item = super().pop(item_id)
        self._unlink(item_id, item)
        return item

    def popitem(self) -> tuple[str, dict]:
        item_id, item = super().popitem()
        self._unlink(item_id, item)
        return item_id, item

    def clear(self) -> None:
        super().clear()
        self._by_session.clear()

    def update(self, other: Any = (), /, **more: dict) -> None:
        for item_id, item in dict(other, **more).items():
            self[item_id] = item

    def setdefault(self, item_id: str, default: Any = None) -> Any:
        if item_id not in self:
            self[item_id] = default
        return dict.__getitem__(self, item_id)

    def __ior__(self, other: Any) -> "ItemsBySession":
        self.update(other)
        return self

    def copy(self) -> "ItemsBySession":
        return ItemsBySession(self)

    def __reduce__(self) -> tuple:
        return ItemsBySession, (dict(self),)


def _session_of(item: Any) -> Any:
    return item.get("session") if isinstance(item, dict) else None


class IndexedItemsField:
    """A storage's `items` attribute: whatever is assigned to it is kept as an `ItemsBySession`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else obj.__dict__[self.slot]

    def __set__(self, obj: Any, value: dict) -> None:
        obj.__dict__[self.slot] = value if isinstance(value, ItemsBySession) else ItemsBySession(value)


class ItemStorage(Protocol):
    """Where the queue keeps its items, counters and audit log, and what serialises its changes:
    files under the data dir in one process (`FileItems`), or Redis shared by every process
    (bot/shared_redis/handoff.py). `items` is the storage's current copy of every item."""

    items: ItemsBySession

    def lock(self) -> AbstractAsyncContextManager[Any]: ...
    async def save(self, item: dict) -> None: ...
    async def insert(self, item: dict) -> bool: ...
    async def catch_up(self) -> None: ...
    async def remove(self, ids: list[str]) -> None: ...
    async def audit(self, line: str) -> None: ...
    def audit_log(self) -> list[dict]: ...
    def counters(self) -> dict: ...
    async def add_conversations(self, count: int) -> dict: ...


class FileItems:
    """One small file per item under `DATA_DIR/handoff/items/`, the audit log beside them; one
    asyncio lock serialises the changes of this process (the only one using the files)."""

    items = IndexedItemsField()

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._dir = self.data_dir / QUEUE_DIR / "items"
        self._dir.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_files(self._dir)
        self._counters_path = self.data_dir / QUEUE_DIR / "counters.json"
        self._db_lock = threading.Lock()
        self._audit_path = self.data_dir / AUDIT_FILE
        self._lock = asyncio.Lock()
        self.items = self._read_items()
        self._counters: dict = self._read_counters()
        self._migrate_legacy()

    def lock(self) -> asyncio.Lock:
        return self._lock

    def _item_path(self, item_id: str) -> Path:
        return self._dir / f"{item_id}.json"

    def _read_items(self) -> dict[str, dict]:
        items = {}
        for path in sorted(self._dir.glob("*.json")):
            try:
                doc = json.loads(path.read_bytes())
                item = doc["item"]["1"]
                items[item["id"]] = item
            except (ValueError, KeyError, TypeError):
                corrupt = self.data_dir / QUEUE_DIR / "corrupt"
                corrupt.mkdir(exist_ok=True)
                os.replace(path, corrupt / path.name)
                log.error("handoff item unreadable, moved aside file=%s", path.name)
        return items

    def _read_counters(self) -> dict:
        try:
            stored = json.loads(self._counters_path.read_bytes())
            if isinstance(stored, dict):
                return stored
        except (FileNotFoundError, ValueError):
            pass
        return {"name": "totals", "conversations": 0}

    def _migrate_legacy(self) -> None:
        """Move the items of an older single-file queue into per-item files, once."""
        legacy = self.data_dir / LEGACY_QUEUE_FILE
        if not legacy.exists():
            return
        db = TinyDB(legacy, storage=AtomicJSONStorage)
        try:
            for doc in db.table("items").all():
                if doc["id"] not in self.items:
                    self._write_sync(dict(doc))
                    self.items[doc["id"]] = dict(doc)
            totals = db.table("counters").all()
            if totals and self._counters.get("conversations", 0) == 0:
                self._counters = dict(totals[0])
                write_atomic(self._counters_path, json.dumps(self._counters).encode())
        finally:
            db.close()
        os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
        log.info("handoff queue migrated to per-item files items=%d", len(self.items))

    def _write_sync(self, item: dict) -> None:
        doc = {"item": {"1": item}}
        write_atomic(self._item_path(item["id"]), json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    def _remove_sync(self, ids: list[str]) -> None:
        for item_id in ids:
            try:
                self._item_path(item_id).unlink()
            except FileNotFoundError:
                pass

    async def save(self, item: dict) -> None:
        """Write `item`, then make it the in-memory truth."""
        await asyncio.to_thread(self._write_sync, item)
        self.items[item["id"]] = item

    async def insert(self, item: dict) -> bool:
        """Write a new item without the queue's lock (nothing else can change an item that is not
        in `items` yet); False, writing nothing, when its id is taken."""
        if item["id"] in self.items:
            return False
        await self.save(item)
        return True

    async def catch_up(self) -> None:
        """Nothing to catch up with: this process is the only one changing the files."""

    async def remove(self, ids: list[str]) -> None:
        await asyncio.to_thread(self._remove_sync, ids)
        for item_id in ids:
            self.items.pop(item_id, None)

    def _audit_sync(self, line: str) -> None:
        with self._db_lock:
            with open(self._audit_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    async def audit(self, line: str) -> None:
        await asyncio.to_thread(self._audit_sync, line)

    def audit_log(self) -> list[dict]:
        if not self._audit_path.exists():
            return []
        with self._db_lock:
            lines = self._audit_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def counters(self) -> dict:
        return self._counters

    async def add_conversations(self, count: int) -> dict:
        self._counters = {**self._counters, "conversations": self._counters.get("conversations", 0) + count}
        snapshot = dict(self._counters)
        await asyncio.to_thread(write_atomic, self._counters_path, json.dumps(snapshot).encode("utf-8"))
        return snapshot


class HandoffQueue:
    """Keeps the handoff items durably and changes them one at a time."""

    def __init__(self, data_dir: Path | None, clock: Callable[[], datetime],
                 storage: ItemStorage | None = None) -> None:
        self.clock = clock
        self.storage: ItemStorage = storage if storage is not None else FileItems(Path(data_dir))
        self._uncounted = 0
        self._adding = KeyedLocks()  # one add_message per conversation at a time
        self._writing: set[str] = set()  # ids of new items being written (not in `items` yet)

    @property
    def items(self) -> ItemsBySession:
        return self.storage.items

    @property
    def lock(self) -> AbstractAsyncContextManager[Any]:
        """The lock every change holds (across processes when the storage is shared)."""
        return self.storage.lock()

    @property
    def counters(self) -> dict:
        counters = dict(self.storage.counters())
        counters["conversations"] = counters.get("conversations", 0) + self._uncounted
        return counters

    async def _save(self, item: dict) -> dict:
        """Write `item`, then make it the in-memory truth; return it."""
        await self.storage.save(item)
        return item

    async def audit(self, actor: str, action: str, item_id: str | None = None, **extra: str) -> None:
        """Append one agent action to the audit log (never message text or personal data)."""
        record = {"at": self.clock().isoformat(timespec="seconds"), "actor": actor, "action": action}
        if item_id:
            record["item"] = item_id
        record.update({k: v for k, v in extra.items() if v is not None})
        await self.storage.audit(json.dumps(record, ensure_ascii=False))

    def audit_log(self) -> list[dict]:
        """Return the audit records (for staff views and tests)."""
        return self.storage.audit_log()

    def count_conversation(self) -> None:
        """Count one new guardian conversation (the denominator of containment)."""
        self._uncounted += 1

    async def flush_counters(self) -> None:
        """Write the counters if they changed (called by the sweeper and at shutdown)."""
        if not self._uncounted:
            return
        count, self._uncounted = self._uncounted, 0
        try:
            await self.storage.add_conversations(count)
        except Exception:
            self._uncounted += count
            raise

    def shutdown(self) -> None:
        """Nothing to close: every change is already in its own file (kept for the service)."""

    # Reading ----------------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        while True:
            item_id = f"{prefix}-{secrets.token_hex(5)}"
            if item_id not in self.items and item_id not in self._writing:
                return item_id

    def get(self, item_id: str) -> dict | None:
        item = self.items.get(item_id)
        return copy.deepcopy(item) if item else None

    def waiting(self) -> list[dict]:
        """Return the waiting conversations, first in line first."""
        return sorted((i for i in self.items.values() if i["kind"] == "conversation" and i["status"] == "waiting"),
                      key=lambda i: (i.get("queued_at") or i["created_at"], i["id"]))

    def position(self, item_id: str) -> int | None:
        """Return the 1-based place of a waiting conversation, or None."""
        for n, item in enumerate(self.waiting(), 1):
            if item["id"] == item_id:
                return n
        return None

    def assigned(self, username: str | None = None) -> list[dict]:
        return sorted((i for i in self.items.values() if i["kind"] == "conversation" and i["status"] == "assigned"
                       and (username is None or i.get("agent") == username)), key=lambda i: i["created_at"])

    def open_messages(self) -> list[dict]:
        return sorted((i for i in self.items.values() if i["kind"] == "message" and i["status"] == "open"),
                      key=lambda i: i["created_at"])

    def open_for_session(self, session: str) -> dict | None:
        """Return the guardian's waiting or connected conversation (not one they have left)."""
        for item in self.items.of_session(session):
            if (item["kind"] == "conversation" and item["status"] in OPEN_CONVERSATION
                    and not item.get("guardian_left")):
                return item
        return None

    # Changing ---------------------------------------------------------------------------------

    async def join(self, session: str, *, lang: str, channel: str, reason: str | None,
                   context: dict) -> tuple[dict, bool]:
        """Put a conversation in the queue (or return the one already there); (item, is_new)."""
        async with self.lock:
            existing = self.open_for_session(session)
            if existing:
                return copy.deepcopy(existing), False
            now = self.clock().isoformat()
            item = {
                "id": self._new_id("c"), "kind": "conversation", "session": session, "status": "waiting",
                "created_at": now, "queued_at": now, "accepted_at": None, "closed_at": None,
                "agent": None, "agent_name": None, "lang": lang, "channel": channel,
                "reason": reason, "topic": context.get("topic"), "flow": context.get("flow"),
                "step": context.get("step"), "outcome": None, "guardian_left": False, "csat": None,
                "name": context.get("name"),
            }
            await self._save(item)
            return copy.deepcopy(item), True

    async def add_message(self, session: str, *, name: str, contact: str, contact_kind: str, text: str,
                          lang: str, channel: str, reason: str | None, context: dict) -> dict:
        """Store a left message (callback request) durably; return it (the stored one, if this
        conversation left the very same message moments ago). Not under the queue-wide lock (see
        the module's docstring); two calls for one conversation run one after the other, so the
        second finds what the first stored."""
        async with self._adding.lock(session):
            await self.storage.catch_up()  # a message stored by another process is in `items`
            found = self._repeat_of(session, name, contact, text)
            if found is not None:
                return copy.deepcopy(found)
            item = {
                "id": self._new_id("m"), "kind": "message", "session": session, "status": "open",
                "created_at": self.clock().isoformat(), "done_at": None, "done_by": None,
                "name": name, "contact": contact, "contact_kind": contact_kind, "text": text,
                "lang": lang, "channel": channel, "reason": reason, "topic": context.get("topic"),
                "flow": context.get("flow"), "step": context.get("step"),
            }
            await self._insert(item)
            return copy.deepcopy(item)

    def _repeat_of(self, session: str, name: str, contact: str, text: str) -> dict | None:
        """The message this conversation left with the same name, contact and text within
        REPEAT_WINDOW, if any."""
        now = self.clock()
        for old in self.items.of_session(session):
            if (old["kind"] == "message" and old["text"] == text and old["name"] == name
                    and old["contact"] == contact
                    and now - datetime.fromisoformat(old["created_at"]) < REPEAT_WINDOW):
                return old
        return None

    async def _insert(self, item: dict) -> None:
        """Write a new item without the queue's lock, under a fresh id (another one if the storage
        finds its id taken: a process sharing the storage chose the same one meanwhile). The id
        is reserved while it is written; once written, it is in `items`."""
        while True:
            self._writing.add(item["id"])
            try:
                if await self.storage.insert(item):
                    return
            finally:
                self._writing.discard(item["id"])
            item["id"] = self._new_id(item["id"].split("-", 1)[0])

    def _require(self, item_id: str, kind: str | None = None) -> dict:
        item = self.items.get(item_id)
        if item is None or (kind and item["kind"] != kind):
            raise QueueError("there is no such conversation or message", 404)
        return copy.deepcopy(item)

    async def _update(self, item_id: str, kind: str | None, change: Callable[[dict], None]) -> dict:
        """Change one item under the lock: `change` edits a copy (or raises QueueError, and
        nothing is written); the copy is written, then becomes the truth. Returns a copy."""
        async with self.lock:
            item = self._require(item_id, kind)
            change(item)
            return copy.deepcopy(await self._save(item))

    async def accept(self, item_id: str, username: str, display_name: str) -> dict:
        """Give a waiting conversation to an agent; QueueError(409) if someone else was first."""
        def change(item: dict) -> None:
            if item["status"] != "waiting":
                raise QueueError("this conversation is no longer waiting (another agent took it or the guardian left)")
            item.update(status="assigned", agent=username, agent_name=display_name,
                        accepted_at=self.clock().isoformat())
            item.setdefault("waits", [])
            item["waits"].append(_seconds_between(item.get("queued_at") or item["created_at"], item["accepted_at"]))
        return await self._update(item_id, "conversation", change)

    def require_assigned(self, item_id: str, username: str) -> dict:
        """Return the conversation if `username` holds it and the guardian is still there."""
        item = self._require(item_id, "conversation")
        _check_holder(item, username, "you are not talking with this guardian; accept the conversation first")
        if item.get("guardian_left"):
            raise QueueError("the guardian has left the conversation")
        return item

    async def close(self, item_id: str, username: str, outcome: str, facts: dict | None = None) -> dict:
        """End an agent's conversation with an outcome (HANDED_BACK: back to the assistant);
        `facts` are what the service read in its transcript (see `_add_facts`)."""
        def change(item: dict) -> None:
            _check_holder(item, username, "only the agent talking with the guardian can close the conversation")
            item.update(status="closed", outcome=outcome, closed_at=self.clock().isoformat())
            _add_facts(item, facts)
        return await self._update(item_id, "conversation", change)

    async def mark_done(self, item_id: str, username: str, answered: str | None = None) -> dict:
        """Mark a left message as handled."""
        def change(item: dict) -> None:
            if item["status"] == "done":
                raise QueueError("this message is already marked done")
            item.update(status="done", done_by=username, done_at=self.clock().isoformat(), answered=answered)
        return await self._update(item_id, "message", change)

    async def transfer(self, item_id: str, username: str, to: tuple[str, str], note: dict) -> dict:
        """Give an agent's conversation to another agent (`to`: username, display name) with a
        transfer note for the record."""
        def change(item: dict) -> None:
            _check_holder(item, username, "only the agent talking with the guardian can transfer the conversation")
            if item.get("guardian_left"):
                raise QueueError("the guardian has left the conversation; close it instead")
            if to[0] == username:
                raise QueueError("choose another agent than yourself", 400)
            item.update(agent=to[0], agent_name=to[1], transferred_at=self.clock().isoformat())
            item.setdefault("notes", []).append(note)
        return await self._update(item_id, "conversation", change)

    async def add_note(self, item_id: str, note: dict) -> dict:
        """Add an internal note (never shown to the guardian) to any item."""
        return await self._update(item_id, None, lambda item: item.setdefault("notes", []).append(note))

    # Callbacks ----------------------------------------------------------------------------------

    def callbacks(self) -> list[dict]:
        """Return the calls still to make, oldest first."""
        return sorted((i for i in self.items.values() if i["kind"] == "callback" and i["status"] == "open"),
                      key=lambda i: i["created_at"])

    def _callback_for(self, source_id: str) -> dict | None:
        return next((i for i in self.items.values() if i["kind"] == "callback" and i.get("source") == source_id),
                    None)

    async def _new_callback(self, source: dict, by: str, contact: dict) -> dict:
        """Write a callback task for `source` (once: a retried close finds the one it wrote)."""
        existing = self._callback_for(source["id"])
        if existing is not None:
            return copy.deepcopy(existing)
        item = {
            "id": self._new_id("r"), "kind": "callback", "session": source["session"], "status": "open",
            "source": source["id"], "created_at": self.clock().isoformat(), "created_by": by,
            "name": contact.get("name"), "contact": contact["contact"], "contact_kind": contact["contact_kind"],
            "note": contact.get("note") or "", "lang": source.get("lang"), "channel": source.get("channel"),
            "topic": source.get("topic"), "flow": source.get("flow"), "step": source.get("step"),
            "done_at": None, "done_by": None, "result": None,
        }
        return copy.deepcopy(await self._save(item))

    async def close_for_callback(self, item_id: str, username: str, contact: dict,
                                 facts: dict | None = None) -> tuple[dict, dict]:
        """Close an agent's conversation as "callback" and put the call in the list; the task is
        written first, so a failure leaves the conversation open to close again."""
        async with self.lock:
            item = self._require(item_id, "conversation")
            _check_holder(item, username, "only the agent talking with the guardian can close the conversation")
            task = await self._new_callback(item, username, contact)
            item.update(status="closed", outcome="callback", closed_at=self.clock().isoformat())
            _add_facts(item, facts)
            return copy.deepcopy(await self._save(item)), task

    async def message_to_callback(self, item_id: str, username: str, contact: dict) -> tuple[dict, dict]:
        """Answer a left message by phone: a callback task with its contact; the message is done."""
        async with self.lock:
            item = self._require(item_id, "message")
            if item["status"] == "done":
                raise QueueError("this message is already marked done")
            task = await self._new_callback(item, username, contact)
            item.update(status="done", done_by=username, done_at=self.clock().isoformat(), answered="callback")
            return copy.deepcopy(await self._save(item)), task

    async def callback_done(self, item_id: str, username: str, result: str, note: str = "") -> dict:
        """Record how the call went and take it off the list."""
        def change(item: dict) -> None:
            if item["status"] == "done":
                raise QueueError("this call is already marked done")
            item.update(status="done", done_by=username, done_at=self.clock().isoformat(), result=result,
                        result_note=note)
        return await self._update(item_id, "callback", change)

    async def guardian_leaves(self, session: str) -> dict | None:
        """Record that the guardian left the queue or the conversation; return the item."""
        async with self.lock:
            found = self.open_for_session(session)
            if found is None:
                return None
            item = copy.deepcopy(found)
            now = self.clock().isoformat()
            if item["status"] == "waiting":
                item.update(status="abandoned", closed_at=now)
            else:
                item.update(guardian_left=True, guardian_left_at=now)
            return copy.deepcopy(await self._save(item))

    async def requeue(self, username: str) -> list[dict]:
        """Put an agent's conversations back in the queue (the agent vanished); return them."""
        async with self.lock:
            out = []
            for found in self.assigned(username):
                item = copy.deepcopy(found)
                if item.get("guardian_left"):
                    item.update(status="closed", outcome="no_response", closed_at=self.clock().isoformat())
                else:
                    # Keep the original place in line: they were already waiting before.
                    item.update(status="waiting", agent=None, agent_name=None, accepted_at=None,
                                queued_at=item["created_at"], requeued=item.get("requeued", 0) + 1)
                out.append(copy.deepcopy(await self._save(item)))
            return out

    async def record_csat(self, item_id: str, rating: int) -> dict | None:
        """Store the guardian's satisfaction (1-5) with a closed conversation, once."""
        async with self.lock:
            item = self.items.get(item_id)
            if item is None or item["kind"] != "conversation" or item.get("csat") is not None:
                return None
            item = copy.deepcopy(item)
            item["csat"] = rating
            return copy.deepcopy(await self._save(item))

    async def purge(self, before: datetime) -> int:
        """Remove finished items older than `before` (the retention period); return how many."""
        async with self.lock:
            cutoff = before.isoformat()
            old = [i["id"] for i in self.items.values()
                   if i["status"] in FINISHED
                   and (i.get("closed_at") or i.get("done_at") or i["created_at"]) < cutoff]
            if old:
                await self.storage.remove(old)
            return len(old)

    # Numbers ----------------------------------------------------------------------------------

    def handle_minutes(self, default: float) -> float:
        """Return the median minutes an agent spends on a conversation (recent ones)."""
        done = sorted((i for i in self.items.values() if i["kind"] == "conversation" and i["status"] == "closed"
                       and i.get("accepted_at") and i.get("closed_at")), key=lambda i: i["closed_at"])[-50:]
        if len(done) < 3:
            return default
        return max(1.0, statistics.median(_seconds_between(i["accepted_at"], i["closed_at"]) for i in done) / 60)

    def stats(self) -> dict:
        """Return containment, handoff rate, median wait and CSAT over the stored items."""
        conversations = [i for i in self.items.values() if i["kind"] == "conversation"]
        messages = [i for i in self.items.values() if i["kind"] == "message"]
        asked = {i["session"] for i in conversations} | {i["session"] for i in messages}
        reached = {i["session"] for i in conversations if i.get("accepted_at") or i["status"] == "closed"}
        reached |= {i["session"] for i in messages}
        # A conversation still in the queue is not resolved by the assistant (issue 15, item 9):
        # it counts against containment until it ends.
        pending = {i["session"] for i in conversations if i["status"] in OPEN_CONVERSATION}
        total = max(self.counters.get("conversations", 0), len(asked))
        waits = [w for i in conversations for w in i.get("waits", [])]
        ratings = [i["csat"] for i in conversations if i.get("csat") is not None]
        outcomes: dict[str, int] = {}
        for i in conversations:
            if i["status"] == "closed" and i.get("outcome"):
                outcomes[i["outcome"]] = outcomes.get(i["outcome"], 0) + 1
        return {
            "conversations": total,
            "handoff_requests": len(asked),
            "handed_to_person": len(reached),
            "containment": (1 - len(reached | pending) / total) if total else None,
            "handoff_rate": (len(asked) / total) if total else None,
            "median_wait_seconds": statistics.median(waits) if waits else None,
            "csat_average": (sum(ratings) / len(ratings)) if ratings else None,
            "csat_responses": len(ratings),
            "csat_counts": {str(n): ratings.count(n) for n in range(1, 6)},
            "waiting": len(self.waiting()),
            "assigned": len(self.assigned()),
            "open_messages": len(self.open_messages()),
            "callbacks_open": len(self.callbacks()),
            "abandoned": sum(1 for i in conversations if i["status"] == "abandoned"),
            "outcomes": outcomes,
        }


def _check_holder(item: dict, username: str, refusal: str) -> None:
    """Refuse (409) unless `username` is the agent talking with the guardian in `item`."""
    if item["status"] != "assigned" or item.get("agent") != username:
        raise QueueError(refusal)


def _add_facts(item: dict, facts: dict | None) -> None:
    """Keep what a finished conversation's transcript said: the data-rights references it named
    (for the search) and, when the item has no topic, the FAQ entry the guardian asked about."""
    facts = facts or {}
    known = item.setdefault("references", [])
    known.extend(r for r in facts.get("references", ()) if r not in known)
    if facts.get("topic") and not item.get("topic") and not item.get("flow"):
        item["topic"] = facts["topic"]


def _seconds_between(start: str, end: str) -> float:
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def retention_cutoff(now: datetime, days: int) -> datetime:
    """Return the instant before which finished items are disposed of."""
    return now - timedelta(days=days)
