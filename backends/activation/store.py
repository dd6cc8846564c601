"""The activation backend's TinyDB file: accounts, activation codes and app credentials.

Each change is applied to the document and written back in one atomic replace
(`AtomicJSONStorage`), under a lock. That gives multi-table transactions TinyDB lacks: consuming a
code and storing the credentials it pays for happen in one write, so two submits of one code can
never both win and a crash never leaves half of it. The file keeps TinyDB's layout
(`{table: {doc_id: doc}}`), so `TinyDB(path)` reads it. The parsed document is kept in memory
while the file is unchanged (`backends/cached_doc.py`), so a lookup no longer parses every
registered address.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

from backends.cached_doc import CachedDocument, Changed
from backends.docfile import first, insert

from .security import email_key

FILE_NAME = "activation.json"
ACCOUNTS = "accounts"
CODES = "codes"
CREDENTIALS = "credentials"

T = TypeVar("T")


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
        self._doc = CachedDocument(self.path, (ACCOUNTS, CODES, CREDENTIALS))

    def close(self) -> None:
        """Release the TinyDB handle."""
        self._doc.close()

    def _transact(self, change: Callable[[dict], tuple[T, Changed]]) -> T:
        """Apply `change` -> (result, False or what it changed: only adds and removes here, so
        `{table: ()}`) and write when it changed."""
        return self._doc.transact(change)

    def _read(self, look: Callable[[dict], T]) -> T:
        """Answer `look(data)` from the document, changing nothing (answers are strings or flags)."""
        return self._doc.look(look)

    # Accounts -------------------------------------------------------------------------------

    def add_account(self, email: str, now: datetime) -> bool:
        """Register a normalised address; return False when it was already there (idempotent)."""
        key = email_key(email)

        def change(data: dict) -> tuple[bool, Changed]:
            if first(data[ACCOUNTS], key=key) is not None:
                return False, False
            insert(data[ACCOUNTS], {"email": email, "key": key, "created_at": now.isoformat()})
            return True, {ACCOUNTS: ()}

        return self._transact(change)

    def find_account(self, email: str) -> str | None:
        """Return the stored address for a normalised address, or None when unregistered."""
        return self._doc.find(ACCOUNTS, "key", email_key(email), lambda account: account["email"])

    # Codes ----------------------------------------------------------------------------------

    def issue_code(self, email: str, code_hash: str, now: datetime, expires_at: datetime) -> None:
        """Store a new code for the account, dropping expired codes (anyone's).

        The account's earlier codes stay valid until they expire or one of them is used: anyone
        may ask for a mail to an address, so a request must never cancel a link already sent.
        (Using a code spends them all, see `consume_code`; the per-address limit bounds how many.)
        """
        key = email_key(email)

        def change(data: dict) -> tuple[None, Changed]:
            codes = data[CODES]
            for doc_id, doc in list(codes.items()):
                if _parse(doc["expires_at"]) <= now:
                    del codes[doc_id]
            insert(codes, {"hash": code_hash, "account": key, "created_at": now.isoformat(),
                            "expires_at": expires_at.isoformat()})
            return None, {CODES: ()}

        self._transact(change)

    def code_is_valid(self, code_hash: str, now: datetime) -> bool:
        """Tell whether a code exists, is unused and has not expired."""
        expires = self._doc.find(CODES, "hash", code_hash, lambda code: code["expires_at"])
        return expires is not None and _parse(expires) > now

    def consume_code(self, code_hash: str, username: str, password_hash: str,
                     now: datetime) -> ConsumeResult:
        """Spend a valid code and set the account's app credentials, in one atomic write.

        Replaces credentials the account already had: activating again is how a forgotten
        username or password is reset.
        """
        username_key = username.casefold()

        def change(data: dict) -> tuple[ConsumeResult, Changed]:
            codes = data[CODES]
            found = first(codes, hash=code_hash)
            if found is None or _parse(found["expires_at"]) <= now:
                return ConsumeResult("invalid"), False
            account = found["account"]
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
            insert(creds, {"account": account, "username": username, "username_key": username_key,
                            "password_hash": password_hash, "created_at": now.isoformat()})
            return ConsumeResult("ok"), {CODES: (), CREDENTIALS: ()}

        return self._transact(change)

    # Credentials ----------------------------------------------------------------------------

    def password_hash_for(self, username: str) -> str | None:
        """Return the stored password hash for a username (case-insensitive), or None."""
        return self._doc.find(CREDENTIALS, "username_key", username.casefold(), lambda creds: creds["password_hash"])

    def username_taken(self, username: str, code_hash: str) -> bool:
        """Tell whether another account than the code's already uses this username."""
        username_key = username.casefold()

        def taken(data: dict) -> bool:
            code = first(data[CODES], hash=code_hash)
            account = None if code is None else code.get("account")
            return any(doc.get("username_key") == username_key and doc.get("account") != account
                       for doc in data[CREDENTIALS].values())

        return self._read(taken)
