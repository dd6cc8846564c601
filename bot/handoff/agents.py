"""Agent logins, their console sessions and their presence (available, last heartbeat).

Passwords are hashed with argon2id and kept in `DATA_DIR/agents.json` (TinyDB, atomic writes).
A console session is a random token in an HttpOnly, SameSite=Strict cookie; the server keeps only
its SHA-256, in memory (after a restart agents log in again). Presence is in memory too: an agent
who has not been heard from within the heartbeat timeout no longer counts as available. With
`serve --redis-url` both keep their records in maps every process shares (`Entries`).
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol

from argon2 import PasswordHasher
from tinydb import Query, TinyDB

from common.passwords import PasswordCheck, check_new_login
from common.atomic import AtomicJSONStorage

AGENTS_FILE = "agents.json"
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
MAX_DISPLAY_NAME = 60
SESSION_SECONDS = 12 * 3600
_FILE_LOCK = threading.Lock()


def _validate(username: str, password: str, display_name: str | None) -> None:
    check_new_login(username, password, allowed="".join(USERNAME_CHARS),
                    allowed_words="lower-case letters a-z, digits, '.', '_' and '-'",
                    min_password=MIN_PASSWORD, max_password=MAX_PASSWORD)
    if display_name is not None:
        if not isinstance(display_name, str) or not display_name.strip():
            raise ValueError("the display name must not be empty")
        if len(display_name) > MAX_DISPLAY_NAME or any(ch < " " for ch in display_name):
            raise ValueError(f"the display name must be one line of at most {MAX_DISPLAY_NAME} characters")


def add_agent(data_dir: str | Path, username: str, password: str, display_name: str | None = None) -> None:
    """Create an agent login, or replace an existing one's password (and display name).

    Used by `halmstad-bot agents add` and `serve --demo`; raises ValueError with a sentence for
    the operator when the username, password or display name is unusable, and stores nothing then.
    """
    _validate(username, password, display_name)
    record = {
        "username": username,
        "display_name": (display_name or username).strip(),
        "password_hash": PasswordHasher().hash(password),
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # A new password ends every console session started with the old one (and enables a
        # disabled login again).
        "session_epoch": secrets.token_urlsafe(12),
        "disabled": False,
    }
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    with _FILE_LOCK:
        db = TinyDB(path / AGENTS_FILE, storage=AtomicJSONStorage)
        try:
            db.upsert(record, Query().username == username)
        finally:
            db.close()


def _change_agent(data_dir: str | Path, username: str, remove: bool) -> None:
    """Disable (or remove) an agent login; raise LookupError when there is no such agent."""
    path = Path(data_dir) / AGENTS_FILE
    if not path.exists():
        raise LookupError(f"there is no agent {username!r}")
    with _FILE_LOCK:
        db = TinyDB(path, storage=AtomicJSONStorage)
        try:
            if not db.contains(Query().username == username):
                raise LookupError(f"there is no agent {username!r}")
            if remove:
                db.remove(Query().username == username)
            else:
                db.update({"disabled": True, "session_epoch": secrets.token_urlsafe(12),
                           "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                          Query().username == username)
        finally:
            db.close()


def disable_agent(data_dir: str | Path, username: str) -> None:
    """Refuse the agent's logins and end their console sessions (`agents add` enables again)."""
    _change_agent(data_dir, username, remove=False)


def remove_agent(data_dir: str | Path, username: str) -> None:
    """Delete the agent's login; their console sessions end at their next request."""
    _change_agent(data_dir, username, remove=True)


@dataclass(frozen=True)
class Agent:
    """A verified agent: who they are and the name guardians see."""

    username: str
    display_name: str

    @property
    def first_name(self) -> str:
        """Return the name a guardian is told ("Du pratar nu med Alex")."""
        return self.display_name.split()[0] if self.display_name.split() else self.username


class AgentDirectory:
    """Reads the agent logins and checks passwords, spending the same effort for unknown
    usernames so the answer's timing does not reveal who has a login."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / AGENTS_FILE
        self._passwords = PasswordCheck()
        self._cache: tuple[tuple[int, int], dict[str, dict]] | None = None

    def _records(self) -> dict[str, dict]:
        """Return every login by username, read again only when the file has changed, so a
        session check per request costs one stat (`agents add|disable|remove` run elsewhere)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != stamp:
            with _FILE_LOCK:
                db = TinyDB(self.path, storage=AtomicJSONStorage)
                try:
                    records = {doc["username"]: dict(doc) for doc in db.all() if "username" in doc}
                finally:
                    db.close()
            self._cache = (stamp, records)
        return self._cache[1]

    def _record(self, username: str) -> dict | None:
        record = self._records().get(username)
        if record is None or record.get("disabled"):
            return None
        return record

    def epoch_of(self, username: str) -> str | None:
        """Return the login's session epoch ("" for old records), None when removed or disabled."""
        record = self._record(username)
        return None if record is None else record.get("session_epoch", "")

    def verify(self, username: str, password: str) -> Agent | None:
        """Return the agent when the password matches, else None (blocking: run in a thread)."""
        record = self._record(username) if isinstance(username, str) and len(username) <= 64 else None
        stored = record.get("password_hash") if record else None
        if not self._passwords.verify(stored, password) or record is None:
            return None
        return Agent(record["username"], record.get("display_name") or record["username"])


@dataclass
class AgentSession:
    """One logged-in console (server side; the cookie holds only the random token)."""

    agent: Agent
    started: float
    epoch: str = ""  # the login's session epoch at login; a new password or disabling changes it


class Entries(Protocol):
    """Where sessions and presence keep their records (JSON objects by key): a dict in this
    process, or a map every process shares (bot/shared_redis/maps.py, with `serve --redis-url`)."""

    def get(self, key: str) -> dict | None: ...
    def set(self, key: str, value: dict) -> None: ...
    def delete(self, key: str) -> None: ...
    def items(self) -> Iterator[tuple[str, dict]]: ...


class LocalEntries:
    """Records in this process's memory (the default)."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def set(self, key: str, value: dict) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def items(self) -> Iterator[tuple[str, dict]]:
        return iter(list(self.data.items()))


def _agent_of(record: dict) -> Agent:
    return Agent(record["username"], record.get("display_name") or record["username"])


class Sessions:
    """Keeps console sessions by the SHA-256 of their token, for SESSION_SECONDS.

    `now` is the clock sessions are timed on: monotonic in one process, wall-clock time when the
    records are shared between processes."""

    def __init__(self, lifetime: float = SESSION_SECONDS, *, entries: Entries | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.entries = entries if entries is not None else LocalEntries()
        self.now = now

    @staticmethod
    def _hash(token: str) -> str:
        # A forged cookie may hold bytes that are not UTF-8 (surrogate-escaped by aiohttp).
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def start(self, agent: Agent, epoch: str = "") -> str:
        """Start a session and return its token (for the cookie)."""
        token = secrets.token_urlsafe(32)
        self.entries.set(self._hash(token), {"username": agent.username, "display_name": agent.display_name,
                                             "started": self.now(), "epoch": epoch})
        return token

    def get(self, token: str | None) -> AgentSession | None:
        """Return the live session of `token`, or None (unknown or expired)."""
        if not token or len(token) > 200:
            return None
        key = self._hash(token)
        record = self.entries.get(key)
        if record is None:
            return None
        if self.now() - record["started"] > self.lifetime:
            self.entries.delete(key)
            return None
        return AgentSession(_agent_of(record), record["started"], record.get("epoch", ""))

    def end(self, token: str | None) -> AgentSession | None:
        """End a session; return it so the caller knows who logged out."""
        if not token:
            return None
        key = self._hash(token)
        record = self.entries.get(key)
        if record is None:
            return None
        self.entries.delete(key)
        return AgentSession(_agent_of(record), record["started"], record.get("epoch", ""))

    def logged_in(self, username: str) -> bool:
        """Say whether `username` has any live console session."""
        now = self.now()
        return any(r["username"] == username and now - r["started"] <= self.lifetime
                   for _, r in self.entries.items())

    def sweep(self) -> None:
        """Forget the sessions that have ended (the sweeper calls this now and then)."""
        now = self.now()
        for key, record in self.entries.items():
            if now - record.get("started", 0) > self.lifetime:
                self.entries.delete(key)


class Presence:
    """Who is at the console and available; fed by every console request and WebSocket ping.

    Two sets of records: `entries` (who, and whether available) and `beats` (when last heard
    from), so a heartbeat never overwrites an availability set elsewhere at the same moment."""

    def __init__(self, *, entries: Entries | None = None, beats: Entries | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.entries = entries if entries is not None else LocalEntries()
        self.beats = beats if beats is not None else LocalEntries()
        self.now = now

    def _last_seen(self, username: str) -> float:
        beat = self.beats.get(username)
        return beat["at"] if beat else float("-inf")

    def touch(self, agent: Agent) -> None:
        """Record a heartbeat from `agent`'s console."""
        if self.entries.get(agent.username) is None:
            self.entries.set(agent.username, {"username": agent.username, "display_name": agent.display_name,
                                              "available": False})
        self.beats.set(agent.username, {"at": self.now()})

    def expect(self, username: str) -> None:
        """Start the heartbeat clock for an agent who holds conversations but has no console yet
        (after a restart), so their conversations go back to the queue if they do not return."""
        if self.entries.get(username) is None:
            self.entries.set(username, {"username": username, "display_name": username, "available": False})
            self.beats.set(username, {"at": self.now()})

    def set_available(self, agent: Agent, available: bool) -> None:
        self.touch(agent)
        self.entries.set(agent.username, {"username": agent.username, "display_name": agent.display_name,
                                          "available": available})

    def is_available(self, username: str) -> bool:
        entry = self.entries.get(username)
        return bool(entry and entry.get("available"))

    def forget(self, username: str) -> None:
        self.entries.delete(username)
        self.beats.delete(username)

    def available(self, timeout: float) -> list[Agent]:
        """Return the agents available and heard from within `timeout` seconds."""
        now = self.now()
        return [_agent_of(e) for name, e in self.entries.items()
                if e.get("available") and now - self._last_seen(name) <= timeout]

    def expired(self, timeout: float) -> list[str]:
        """Return the agents not heard from within `timeout` seconds."""
        now = self.now()
        return [name for name, _ in self.entries.items() if now - self._last_seen(name) > timeout]
