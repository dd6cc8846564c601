"""The durable outbox of data-rights requests: stored before the guardian hears "received".

No request the assistant acknowledged may be lost or filed twice (issue 4). So the flow first
writes the request to disk (one small JSON file per request, temp file + fsync + os.replace +
directory fsync) with a fresh idempotency key, and only then tries to deliver it. Whatever is
not delivered is delivered by `DeliveryWorker` with bounded exponential backoff, always with the
same key: a crash between storing and delivering, or between delivering and marking it
delivered, just means the backend sees the key again and answers the same case.

Layout under the queue's root (`DATA_DIR/pending_dsr/`):
    <id>.json        open: not yet delivered, or delivered but the guardian not yet told
    done/<id>.json   closed: delivered and told (the request body is dropped: the backend has it)

An item: {id, idempotency_key, session, channel, lang, right, body, created_at, attempts,
next_attempt_at, delivered: {reference, due_date, received_at} | None, rejected: {...} | None,
announced: bool}. Backoff times are wall-clock epoch seconds; they are operational, not legal.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from contextlib import AbstractAsyncContextManager
from typing import Any, Awaitable, Callable

from common.calendar import format_date
from common.locks import KeyedLocks
from common.messages import Reply
from flows.ports import DsrRejected, DsrUnavailable
from common.atomic import clean_stale_temp_files, write_atomic

log = logging.getLogger("halmstad.pending")

BACKOFF_START = 1.0
BACKOFF_CAP = 60.0
ANNOUNCE_CLAIM = 300.0  # seconds one teller has to tell an outcome before another may
INLINE_GRACE = 3.0  # the worker leaves a fresh item alone this long: the turn delivers it itself
# The same request again from the same conversation within this time is the same request: the
# turn that stored it was cut off (a crash, a lost answer) and the guardian pressed "confirm" again.
REPEAT_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt."""

    item: dict
    outcome: str  # "delivered" | "unavailable" | "rejected"


def backoff(attempts: int, start: float = BACKOFF_START, cap: float = BACKOFF_CAP) -> float:
    """Return the wait after `attempts` failed attempts: start, 2*start, ... capped."""
    return min(cap, start * (2 ** max(0, attempts - 1)))


class PendingRules:
    """What every outbox does, whatever keeps its items: one request filed once, delivered with
    its own idempotency key, closed once the guardian is told. Storage hooks: `get`,
    `open_items`, `for_session`, `_store_new`, `_store`, `lock`, `claim`, `prune`."""

    clock: Callable[[], datetime]
    backoff_start: float
    backoff_cap: float
    changed: asyncio.Event

    async def get(self, item_id: str) -> dict | None:
        raise NotImplementedError

    async def open_items(self) -> list[dict]:
        raise NotImplementedError

    async def _store_new(self, item: dict) -> None:
        raise NotImplementedError

    async def _store(self, item: dict) -> None:
        """Store a changed item where it belongs (closed once delivered or refused and told)."""
        raise NotImplementedError

    def lock(self, item_id: str) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def claim(self, name: str, seconds: float) -> bool:
        """Say yes to the first caller of `name` within `seconds` (e.g. who announces an outcome)."""
        raise NotImplementedError

    async def unclaim(self, name: str) -> None:
        """Give a claim up before its time (the claimed work failed)."""
        raise NotImplementedError

    # Public API -----------------------------------------------------------------------------

    async def enqueue(self, *, session: str, channel: str, body: dict) -> dict:
        """Store a request durably (fsync'd) with a fresh idempotency key and return it.

        Only after this returns may the guardian be told the request is received. The item's id
        is a hash of the conversation and the request, so when the turn that stored it never
        finished (the server was killed before answering) and the guardian confirms again, the
        stored item is returned instead of a second one being filed.
        """
        canonical = json.dumps({"session": session, "body": body}, sort_keys=True, ensure_ascii=False)
        item_id = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        existing = await self.get(item_id)
        if existing is not None:
            try:
                age = self.clock() - datetime.fromisoformat(existing["created_at"])
            except (KeyError, TypeError, ValueError):
                age = REPEAT_WINDOW
            if age < REPEAT_WINDOW:
                log.info("dsr request already stored id=%s", item_id)
                return existing
            item_id = uuid.uuid4().hex  # the same request made again later is a new request
        item = {
            "id": item_id,
            "idempotency_key": f"dsr-{uuid.uuid4().hex}",
            "session": session,
            "channel": channel,
            "lang": body.get("language", "sv"),
            "right": body.get("right"),
            "body": body,
            "created_at": self.clock().isoformat(),
            "attempts": 0,
            "next_attempt_at": time.time() + INLINE_GRACE,
            "delivered": None,
            "rejected": None,
            "announced": False,
        }
        await self._store_new(item)
        log.info("dsr request stored id=%s", item_id)
        self.changed.set()
        return item

    async def deliver(self, item_id: str, client, *, announced: bool = False,
                      timeout: float | None = None) -> Delivery | None:
        """Make one delivery attempt with the item's own idempotency key and record the outcome.

        `announced=True` when the caller tells the guardian the outcome itself (the turn that
        filed the request). `timeout` overrides the client's (short, chat-facing) one: the
        background worker passes a longer one, so a slow backend still gets the request.
        Returns None when the item does not exist.
        """
        async with self.lock(item_id):
            item = await self.get(item_id)
            if item is None:
                return None
            if item.get("delivered"):
                return Delivery(item, "delivered")
            if item.get("rejected"):
                return Delivery(item, "rejected")
            try:
                if timeout is None:
                    answer = await client.file_request(item["body"], item["idempotency_key"])
                else:
                    answer = await client.file_request(item["body"], item["idempotency_key"], timeout=timeout)
            except DsrUnavailable as exc:
                item["attempts"] = item.get("attempts", 0) + 1
                item["next_attempt_at"] = time.time() + backoff(item["attempts"], self.backoff_start,
                                                                self.backoff_cap)
                await self._store(item)
                log.warning("dsr delivery postponed id=%s attempts=%d status=%s", item_id,
                            item["attempts"], exc.status)
                self.changed.set()
                return Delivery(item, "unavailable")
            except DsrRejected as exc:
                item["rejected"] = {"status": exc.status, "at": self.clock().isoformat()}
                item["announced"] = announced
                await self._store(item)
                log.error("dsr request refused by the backend id=%s status=%d", item_id, exc.status)
                return Delivery(item, "rejected")
            item["delivered"] = {"reference": str(answer["reference"]), "due_date": str(answer["due_date"]),
                                 "received_at": str(answer.get("received_at", ""))}
            item["announced"] = announced
            item["attempts"] = item.get("attempts", 0) + 1
            await self._store(item)
            log.info("dsr request delivered id=%s attempts=%d", item_id, item["attempts"])
            return Delivery(item, "delivered")

    async def mark_announced(self, item_id: str) -> None:
        """Record that the guardian has been told the outcome; closes a delivered item."""
        async with self.lock(item_id):
            item = await self.get(item_id)
            if item is None or item.get("announced"):
                return
            item["announced"] = True
            await self._store(item)

    async def announce_once(self, item_id: str, announce: "Announcer") -> None:
        """Have the guardian told the outcome once, by one caller of every process (a claim, not
        the item's lock: telling takes the conversation's lock, which a turn holds while it
        takes the item's), then close the item. A teller that dies before marking it lets the
        claim lapse, so the outcome is told again rather than never."""
        item = await self.get(item_id)
        if item is None or item.get("announced") or not (item.get("delivered") or item.get("rejected")):
            return
        name = f"announce:{item_id}"
        if not await self.claim(name, ANNOUNCE_CLAIM):
            return
        try:
            await announce(item)
        except BaseException:
            await self.unclaim(name)  # not told: the next round tries again at once
            raise
        await self.mark_announced(item_id)

class PendingQueue(PendingRules):
    """Keeps data-rights requests on disk until the backend has them and the guardian is told."""

    def __init__(self, root: Path | str, *, clock: Callable[[], datetime] | None = None,
                 backoff_start: float = BACKOFF_START, backoff_cap: float = BACKOFF_CAP) -> None:
        self.root = Path(root)
        self.done_dir = self.root / "done"
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.backoff_start = backoff_start
        self.backoff_cap = backoff_cap
        self.changed = asyncio.Event()
        self._locks = KeyedLocks()
        self._claims: dict[str, float] = {}
        self.done_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_files(self.root)
        self._drop_stale_open_copies()

    # Files ----------------------------------------------------------------------------------

    def _open_path(self, item_id: str) -> Path:
        return self.root / f"{item_id}.json"

    def _done_path(self, item_id: str) -> Path:
        return self.done_dir / f"{item_id}.json"

    @staticmethod
    def _write(path: Path, item: dict) -> None:
        data = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        write_atomic(path, data, fsync_dir=True)

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            log.error("pending item unreadable file=%s", path.name)
            return None

    def _drop_stale_open_copies(self) -> None:
        """Remove open copies of items already closed (a crash between the two writes)."""
        for path in self.root.glob("*.json"):
            if self._done_path(path.stem).exists():
                path.unlink(missing_ok=True)

    def _list_sync(self, which: str) -> list[dict]:
        dirs = {"open": [self.root], "done": [self.done_dir], "all": [self.root, self.done_dir]}[which]
        items = []
        for folder in dirs:
            for path in folder.glob("*.json"):
                item = self._read(path)
                if item is not None:
                    items.append(item)
        items.sort(key=lambda i: (i.get("created_at", ""), i["id"]))
        return items

    def _save_sync(self, item: dict) -> None:
        """Store an item where it belongs: closed once delivered (or refused) and told."""
        closed = bool(item.get("announced")) and (item.get("delivered") or item.get("rejected"))
        if closed:
            if item.get("delivered"):
                item["body"] = None  # the backend holds the request now; keep no second copy
            self._write(self._done_path(item["id"]), item)
            self._open_path(item["id"]).unlink(missing_ok=True)
        else:
            self._write(self._open_path(item["id"]), item)

    def _get_sync(self, item_id: str) -> dict | None:
        return self._read(self._done_path(item_id)) or self._read(self._open_path(item_id))

    def lock(self, item_id: str) -> asyncio.Lock:
        """Return the item's lock, so the turn and the worker never deliver it at once."""
        return self._locks.lock(item_id)

    async def claim(self, name: str, seconds: float) -> bool:
        now = time.monotonic()
        if self._claims.get(name, 0.0) > now:
            return False
        self._claims = {k: v for k, v in self._claims.items() if v > now}
        self._claims[name] = now + seconds
        return True

    async def unclaim(self, name: str) -> None:
        self._claims.pop(name, None)

    async def _store_new(self, item: dict) -> None:
        await asyncio.to_thread(self._write, self._open_path(item["id"]), item)

    async def _store(self, item: dict) -> None:
        await asyncio.to_thread(self._save_sync, item)

    async def get(self, item_id: str) -> dict | None:
        """Return one item, open or closed."""
        return await asyncio.to_thread(self._get_sync, item_id)

    async def open_items(self) -> list[dict]:
        """Return the items not yet delivered or not yet announced, oldest first."""
        return await asyncio.to_thread(self._list_sync, "open")

    async def for_session(self, session: str) -> list[dict]:
        """Return every item of one conversation, oldest first (for "what happened to it?")."""
        items = await asyncio.to_thread(self._list_sync, "all")
        return [i for i in items if i.get("session") == session]


    async def prune(self, before: datetime) -> int:
        """Delete closed items created before `before` (they follow the transcripts' retention)."""
        def work() -> int:
            removed = 0
            for path in self.done_dir.glob("*.json"):
                item = self._read(path)
                try:
                    created = datetime.fromisoformat(item["created_at"]) if item else None
                except (KeyError, TypeError, ValueError):
                    created = None
                if created is not None and created.tzinfo is not None and created < before:
                    path.unlink(missing_ok=True)
                    removed += 1
            return removed

        return await asyncio.to_thread(work)


Announcer = Callable[[dict], Awaitable[None]]


class DeliveryWorker:
    """Delivers the open items in the background and has the guardian told the outcome."""

    def __init__(self, queue: PendingRules, client, *, announce: Announcer | None = None,
                 idle: float = 5.0, start_delay: float = 0.5, timeout: float | None = None) -> None:
        self.queue = queue
        # Per delivery (None: the client's own). Serve gives it a longer one than the chat's own
        # call: nobody waits for the worker, and a slow backend must still get the request.
        self.timeout = timeout
        self.client = client
        self.announce = announce
        self.idle = idle
        self.start_delay = start_delay  # let the server start listening (the mounted backend)

    async def run_once(self) -> float:
        """Attempt every item that is due; return how long to wait before the next round."""
        now = time.time()
        wait = self.idle
        for item in await self.queue.open_items():
            if not (item.get("delivered") or item.get("rejected")):
                due_at = item.get("next_attempt_at", 0)
                if due_at > now:
                    wait = min(wait, due_at - now)
                    continue
                result = await self.queue.deliver(item["id"], self.client, timeout=self.timeout)
                if result is None:
                    continue
                item = result.item
                if result.outcome == "unavailable":
                    wait = min(wait, max(0.0, item["next_attempt_at"] - time.time()))
                    continue
            if not item.get("announced") and self.announce is not None:
                try:
                    await self.queue.announce_once(item["id"], self.announce)
                except Exception:
                    log.exception("announcing a dsr outcome failed id=%s", item["id"])
                    continue
        return max(0.05, wait)

    async def run(self) -> None:
        """Deliver until cancelled; wakes early when the queue changes."""
        await asyncio.sleep(self.start_delay)
        while True:
            try:
                wait = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dsr delivery round failed")
                wait = self.idle
            self.queue.changed.clear()
            try:
                await asyncio.wait_for(self.queue.changed.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass


def outcome_text(item: dict, t: Callable[..., str], lang: str) -> str:
    """Render what the guardian is told when a stored request has been registered or refused."""
    def tr(key: str, **fmt) -> str:
        return t(key, lang, **fmt)

    if item.get("delivered"):
        due = format_date(date.fromisoformat(item["delivered"]["due_date"]), lang, tr, with_year=True)
        return tr("data_rights.late_reference", reference=item["delivered"]["reference"], due_date=due)
    return tr("data_rights.late_rejected")


def engine_announcer(engine) -> Announcer:
    """Return an announcer that posts the outcome into the guardian's conversation (and so to
    its channel's listeners: the web chat, Telegram)."""
    async def announce(item: dict) -> None:
        lang = item.get("lang") if item.get("lang") in ("sv", "en") else "sv"
        text = outcome_text(item, engine.t, lang)
        try:
            await engine.post(item["session"], [Reply(text)], sender="bot")
        except KeyError:
            log.info("dsr outcome not announced: conversation gone id=%s", item["id"])

    return announce
