"""The knowledge page's own logins (roles `editor` and `publisher`) and their sessions.

Logins are kept apart from the agent logins and the data-rights staff logins, in
`DATA_DIR/staff_page_logins.json` (argon2id hashes, written atomically), and made on the command
line (`halmstad-bot staff-page add|disable|remove`). A session is a random token in an HttpOnly,
SameSite=Strict cookie; the server keeps only its SHA-256, in memory (the agent console's
`Sessions`). The CSRF token of a session is an HMAC of its token, so it needs no storage. A new
password, disabling or removing a login ends its sessions (its session epoch changes).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from argon2 import PasswordHasher

from bot.handoff.agents import Agent, Sessions
from bot.staff_page.store import read_dict, update_dict
from common.passwords import PasswordCheck, check_new_login

LOGINS_FILE = "staff_page_logins.json"
ROLES = ("editor", "publisher")
USERNAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-"
MIN_PASSWORD = 10
MAX_PASSWORD = 256


def _logins(data: dict) -> dict[str, dict]:
    logins = data.setdefault("logins", {})
    return logins if isinstance(logins, dict) else data.setdefault("logins", {})


def add_login(data_dir: str | Path, username: str, password: str, role: str = "editor") -> None:
    """Create a login or give an existing one a new password and role (enables it again).

    Raises ValueError with a sentence for the operator when something is unusable; stores
    nothing then."""
    if role not in ROLES:
        raise ValueError(f"the role must be one of: {', '.join(ROLES)}")
    check_new_login(username, password, allowed=USERNAME_CHARS,
                    allowed_words="lower-case letters a-z, digits, '.', '_' and '-'",
                    min_password=MIN_PASSWORD, max_password=MAX_PASSWORD)
    record = {"role": role, "password_hash": PasswordHasher().hash(password), "disabled": False,
              "session_epoch": secrets.token_urlsafe(12),
              "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    update_dict(Path(data_dir) / LOGINS_FILE, lambda data: _logins(data).__setitem__(username, record))


def change_login(data_dir: str | Path, username: str, *, remove: bool) -> None:
    """Disable (or remove) a login; LookupError when there is none."""
    def change(data: dict) -> None:
        logins = _logins(data)
        if username not in logins:
            raise LookupError(f"there is no knowledge page login {username!r}")
        if remove:
            del logins[username]
        else:
            logins[username].update(disabled=True, session_epoch=secrets.token_urlsafe(12))
    update_dict(Path(data_dir) / LOGINS_FILE, change)


@dataclass(frozen=True)
class StaffUser:
    """A signed-in member of staff on the knowledge page."""

    username: str
    role: str


class Logins:
    """Reads the logins (a small file, read on each request, so `staff-page add|disable|remove`
    on the command line takes effect at once) and checks passwords with the same effort for
    unknown usernames."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOGINS_FILE
        self._passwords = PasswordCheck()

    def _enabled(self, username: str) -> dict | None:
        logins = read_dict(self.path).get("logins")
        record = logins.get(username) if isinstance(logins, dict) and isinstance(username, str) else None
        return None if record is None or record.get("disabled") else record

    def epoch_of(self, username: str) -> str | None:
        record = self._enabled(username)
        return None if record is None else record.get("session_epoch", "")

    def role_of(self, username: str) -> str:
        record = self._enabled(username) or {}
        return record.get("role") if record.get("role") in ROLES else "editor"

    def verify(self, username: str, password: str) -> StaffUser | None:
        """The login when the password matches, else None. Blocking: run it in a thread."""
        record = self._enabled(username) if len(username) <= 64 else None
        stored = record.get("password_hash") if record else None
        if len(password) > MAX_PASSWORD:
            stored, password = None, ""
        if not self._passwords.verify(stored, password) or record is None:
            return None
        return StaffUser(username, self.role_of(username))


class StaffSessions:
    """The knowledge page's sessions: the agent console's session keeping, with a CSRF token per
    session and the login's epoch checked on every request."""

    def __init__(self, logins: Logins, lifetime: float) -> None:
        self.logins = logins
        self._sessions = Sessions(lifetime)
        self._secret = secrets.token_bytes(32)

    def start(self, user: StaffUser) -> str:
        return self._sessions.start(Agent(user.username, user.username), self.logins.epoch_of(user.username) or "")

    def user_of(self, token: str | None) -> StaffUser | None:
        """The user of a live session (ended when its login changed since), with its role now."""
        session = self._sessions.get(token)
        if session is None:
            return None
        username = session.agent.username
        if self.logins.epoch_of(username) != session.epoch:
            self._sessions.end(token)
            return None
        return StaffUser(username, self.logins.role_of(username))

    def end(self, token: str | None) -> None:
        self._sessions.end(token)

    def csrf(self, token: str) -> str:
        return hmac.new(self._secret, token.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def csrf_ok(self, token: str | None, given: str | None) -> bool:
        return bool(token and given) and hmac.compare_digest(
            self.csrf(token).encode(), given.encode("utf-8", "surrogateescape"))
