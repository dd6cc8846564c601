"""The activation backend's TinyDB file: accounts, activation codes and app credentials.

Each operation reads the whole document, changes it and writes it back in one atomic replace
(`AtomicJSONStorage`), under a lock. That gives multi-table transactions TinyDB lacks: consuming a
code and storing the credentials it pays for happen in one write, so two submits of one code can
never both win and a crash never leaves half of it. The file keeps TinyDB's layout
(`{table: {doc_id: doc}}`), so `TinyDB(path)` reads it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

from tinydb import TinyDB

from common.atomic import AtomicJSONStorage

from .security import email_key

FILE_NAME = "activation.json"
ACCOUNTS = "accounts"
CODES = "codes"
CREDENTIALS = "credentials"

T = TypeVar("T")


def _insert(table: dict, doc: dict) -> None:
    next_id = max((int(k) for k in table), default=0) + 1
    table[str(next_id)] = doc


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


@dataclass
class ConsumeResult:
    """What happened when a code was spent: "ok", "invalid" or "username_taken"."""

    outcome: str


class ActivationStore:
    """Keep accounts, hashed codes and hashed credentials in `data_dir/activation.json`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the TinyDB handle."""
        self._db.close()

    def _transact(self, change: Callable[[dict], tuple[T, bool]]) -> T:
        with self._lock:
            data = self._db.storage.read() or {}
            for name in (ACCOUNTS, CODES, CREDENTIALS):
                data.setdefault(name, {})
            result, changed = change(data)
            if changed:
                self._db.storage.write(data)
            return result

    # Accounts -------------------------------------------------------------------------------

    def add_account(self, email: str, now: datetime) -> bool:
        """Register a normalised address; return False when it was already there (idempotent)."""
        key = email_key(email)

        def change(data: dict) -> tuple[bool, bool]:
            if any(doc.get("key") == key for doc in data[ACCOUNTS].values()):
                return False, False
            _insert(data[ACCOUNTS], {"email": email, "key": key, "created_at": now.isoformat()})
            return True, True

        return self._transact(change)

    def find_account(self, email: str) -> str | None:
        """Return the stored address for a normalised address, or None when unregistered."""
        key = email_key(email)

        def change(data: dict) -> tuple[str | None, bool]:
            for doc in data[ACCOUNTS].values():
                if doc.get("key") == key:
                    return doc["email"], False
            return None, False

        return self._transact(change)

    # Codes ----------------------------------------------------------------------------------

    def issue_code(self, email: str, code_hash: str, now: datetime, expires_at: datetime) -> None:
        """Store a new code for the account, dropping expired codes (anyone's).

        The account's earlier codes stay valid until they expire or one of them is used: anyone
        may ask for a mail to an address, so a request must never cancel a link already sent.
        (Using a code spends them all, see `consume_code`; the per-address limit bounds how many.)
        """
        key = email_key(email)

        def change(data: dict) -> tuple[None, bool]:
            codes = data[CODES]
            for doc_id, doc in list(codes.items()):
                if _parse(doc["expires_at"]) <= now:
                    del codes[doc_id]
            _insert(codes, {"hash": code_hash, "account": key, "created_at": now.isoformat(),
                            "expires_at": expires_at.isoformat()})
            return None, True

        self._transact(change)

    def code_is_valid(self, code_hash: str, now: datetime) -> bool:
        """Tell whether a code exists, is unused and has not expired."""

        def change(data: dict) -> tuple[bool, bool]:
            for doc in data[CODES].values():
                if doc.get("hash") == code_hash:
                    return _parse(doc["expires_at"]) > now, False
            return False, False

        return self._transact(change)

    def consume_code(self, code_hash: str, username: str, password_hash: str,
                     now: datetime) -> ConsumeResult:
        """Spend a valid code and set the account's app credentials, in one atomic write.

        Replaces credentials the account already had: activating again is how a forgotten
        username or password is reset.
        """
        username_key = username.casefold()

        def change(data: dict) -> tuple[ConsumeResult, bool]:
            codes = data[CODES]
            found = next(((doc_id, doc) for doc_id, doc in codes.items()
                          if doc.get("hash") == code_hash), None)
            if found is None or _parse(found[1]["expires_at"]) <= now:
                return ConsumeResult("invalid"), False
            account = found[1]["account"]
            creds = data[CREDENTIALS]
            for doc in creds.values():
                if doc.get("username_key") == username_key and doc.get("account") != account:
                    return ConsumeResult("username_taken"), False
            for doc_id, doc in list(codes.items()):
                if doc.get("account") == account:
                    del codes[doc_id]
            for doc_id, doc in list(creds.items()):
                if doc.get("account") == account:
                    del creds[doc_id]
            _insert(creds, {"account": account, "username": username, "username_key": username_key,
                            "password_hash": password_hash, "created_at": now.isoformat()})
            return ConsumeResult("ok"), True

        return self._transact(change)

    # Credentials ----------------------------------------------------------------------------

    def password_hash_for(self, username: str) -> str | None:
        """Return the stored password hash for a username (case-insensitive), or None."""
        username_key = username.casefold()

        def change(data: dict) -> tuple[str | None, bool]:
            for doc in data[CREDENTIALS].values():
                if doc.get("username_key") == username_key:
                    return doc["password_hash"], False
            return None, False

        return self._transact(change)

    def username_taken(self, username: str, code_hash: str) -> bool:
        """Tell whether another account than the code's already uses this username."""
        username_key = username.casefold()

        def change(data: dict) -> tuple[bool, bool]:
            account = next((doc.get("account") for doc in data[CODES].values()
                            if doc.get("hash") == code_hash), None)
            return any(doc.get("username_key") == username_key and doc.get("account") != account
                       for doc in data[CREDENTIALS].values()), False

        return self._transact(change)
