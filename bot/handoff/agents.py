"""Agent logins, their console sessions and their presence (available, last heartbeat).

Passwords are hashed with argon2id and kept in `DATA_DIR/agents.json` (TinyDB, atomic writes).
A console session is a random token in an HttpOnly, SameSite=Strict cookie; the server keeps only
its SHA-256, in memory (after a restart agents log in again). Presence is in memory too: an agent
who has not been heard from within the heartbeat timeout no longer counts as available.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

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


class Sessions:
    """Keeps console sessions by the SHA-256 of their token, for SESSION_SECONDS."""

    def __init__(self, lifetime: float = SESSION_SECONDS) -> None:
        self.lifetime = lifetime
        self._by_hash: dict[str, AgentSession] = {}

    @staticmethod
    def _hash(token: str) -> str:
        # A forged cookie may hold bytes that are not UTF-8 (surrogate-escaped by aiohttp).
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def start(self, agent: Agent, epoch: str = "") -> str:
        """Start a session and return its token (for the cookie)."""
        token = secrets.token_urlsafe(32)
        self._by_hash[self._hash(token)] = AgentSession(agent, time.monotonic(), epoch)
        return token

    def get(self, token: str | None) -> AgentSession | None:
        """Return the live session of `token`, or None (unknown or expired)."""
        if not token or len(token) > 200:
            return None
        key = self._hash(token)
        session = self._by_hash.get(key)
        if session is None:
            return None
        if time.monotonic() - session.started > self.lifetime:
            del self._by_hash[key]
            return None
        return session

    def end(self, token: str | None) -> AgentSession | None:
        """End a session; return it so the caller knows who logged out."""
        if not token:
            return None
        return self._by_hash.pop(self._hash(token), None)

    def logged_in(self, username: str) -> bool:
        """Say whether `username` has any live console session."""
        now = time.monotonic()
        return any(s.agent.username == username and now - s.started <= self.lifetime
                   for s in self._by_hash.values())


@dataclass
class PresenceEntry:
    agent: Agent
    available: bool = False
    last_seen: float = field(default_factory=time.monotonic)


class Presence:
    """Who is at the console and available; fed by every console request and WebSocket ping."""

    def __init__(self) -> None:
        self._entries: dict[str, PresenceEntry] = {}

    def touch(self, agent: Agent) -> None:
        """Record a heartbeat from `agent`'s console."""
        entry = self._entries.get(agent.username)
        if entry is None:
            self._entries[agent.username] = PresenceEntry(agent)
        else:
            entry.last_seen = time.monotonic()

    def expect(self, username: str) -> None:
        """Start the heartbeat clock for an agent who holds conversations but has no console yet
        (after a restart), so their conversations go back to the queue if they do not return."""
        if username not in self._entries:
            self._entries[username] = PresenceEntry(Agent(username, username))

    def set_available(self, agent: Agent, available: bool) -> None:
        self.touch(agent)
        self._entries[agent.username].available = available

    def is_available(self, username: str) -> bool:
        entry = self._entries.get(username)
        return bool(entry and entry.available)

    def forget(self, username: str) -> None:
        self._entries.pop(username, None)

    def available(self, timeout: float) -> list[Agent]:
        """Return the agents available and heard from within `timeout` seconds."""
        now = time.monotonic()
        return [e.agent for e in self._entries.values() if e.available and now - e.last_seen <= timeout]

    def expired(self, timeout: float) -> list[str]:
        """Return the agents not heard from within `timeout` seconds."""
        now = time.monotonic()
        return [name for name, e in self._entries.items() if now - e.last_seen > timeout]
