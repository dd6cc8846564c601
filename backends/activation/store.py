"""The activation backend's state: accounts, activation codes and app credentials.

`DATA_DIR/activation.json` (TinyDB's layout, `{table: {doc_id: doc}}`, so an older data directory
is read as it is) and its journal `DATA_DIR/activation.journal`. Each change is one line appended
to the journal, fdatasync'd, under a lock (`backends/cached_doc.py`). That gives multi-table
transactions TinyDB lacks: consuming a code and storing the credentials it pays for happen in one
line, so two submits of one code can never both win and a crash never leaves half of it; and a
change costs what it changes, not a rewrite of every registered address. The document is kept in
memory, and lookups go through indexes. `read_tables` reads the whole document as a restart does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from backends.cached_doc import CachedDocument, Change
from backends.docfile import read_document

from .security import email_key

FILE_NAME = "activation.json"
ACCOUNTS = "accounts"
CODES = "codes"
CREDENTIALS = "credentials"
TABLES = (ACCOUNTS, CODES, CREDENTIALS)


def read_tables(data_dir: Path) -> dict:
    """Return the whole stored document `{table: {id: doc}}`, as a restart reads it."""
    return read_document(Path(data_dir) / FILE_NAME, TABLES)


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
        self._doc = CachedDocument(self.path, TABLES)

    def close(self) -> None:
        """Fold the journal into `activation.json` and close it."""
        self._doc.close()

    # Accounts -------------------------------------------------------------------------------

    def add_account(self, email: str, now: datetime) -> bool:
        """Register a normalised address; return False when it was already there (idempotent)."""
        key = email_key(email)

        def change(txn: Change) -> bool:
            if txn.find(ACCOUNTS, "key", key) is not None:
                return False
            txn.insert(ACCOUNTS, {"email": email, "key": key, "created_at": now.isoformat()})
            return True

        return self._doc.transact(change)

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

        def change(txn: Change) -> None:
            for doc_id, doc in list(txn.data[CODES].items()):  # codes live a day: few at any time
                if _parse(doc["expires_at"]) <= now:
                    txn.delete(CODES, doc_id)
            txn.insert(CODES, {"hash": code_hash, "account": key, "created_at": now.isoformat(),
                               "expires_at": expires_at.isoformat()})

        self._doc.transact(change)

    def code_is_valid(self, code_hash: str, now: datetime) -> bool:
        """Tell whether a code exists, is unused and has not expired."""
        expires = self._doc.find(CODES, "hash", code_hash, lambda code: code["expires_at"])
        return expires is not None and _parse(expires) > now

    def consume_code(self, code_hash: str, username: str, password_hash: str,
                     now: datetime) -> ConsumeResult:
        """Spend a valid code and set the account's app credentials, in one durable change.

        Replaces credentials the account already had: activating again is how a forgotten
        username or password is reset.
        """
        username_key = username.casefold()

        def change(txn: Change) -> ConsumeResult:
            found = txn.find(CODES, "hash", code_hash)
            if found is None or _parse(found[1]["expires_at"]) <= now:
                return ConsumeResult("invalid")
            account = found[1]["account"]
            creds = txn.data[CREDENTIALS]
            if any(creds[i].get("account") != account for i in txn.ids(CREDENTIALS, "username_key", username_key)):
                return ConsumeResult("username_taken")
            for doc_id in txn.ids(CODES, "account", account):
                txn.delete(CODES, doc_id)
            for doc_id in txn.ids(CREDENTIALS, "account", account):
                txn.delete(CREDENTIALS, doc_id)
            txn.insert(CREDENTIALS, {"account": account, "username": username, "username_key": username_key,
                                     "password_hash": password_hash, "created_at": now.isoformat()})
            return ConsumeResult("ok")

        return self._doc.transact(change)

    # Credentials ----------------------------------------------------------------------------

    def password_hash_for(self, username: str) -> str | None:
        """Return the stored password hash for a username (case-insensitive), or None."""
        return self._doc.find(CREDENTIALS, "username_key", username.casefold(), lambda creds: creds["password_hash"])

    def username_taken(self, username: str, code_hash: str) -> bool:
        """Tell whether another account than the code's already uses this username."""
        account = self._doc.find(CODES, "hash", code_hash, lambda code: code.get("account"))
        return self._doc.select(CREDENTIALS, "username_key", username.casefold(),
                                lambda found: any(doc.get("account") != account for _, doc in found))
