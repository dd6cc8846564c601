"""Staff and guardian passwords: the rules a new login must meet, and a timing-safe check.

Logins are made by operators on the command line (`halmstad-bot backend add-staff`, `agents add`)
and checked by the servers with argon2id. `check_new_login` raises ValueError with a sentence the
operator can act on; `PasswordCheck` spends the same argon2 effort whether or not the account
exists, so the time an answer takes does not tell who has one.
"""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

USERNAME_MIN = 2
USERNAME_MAX = 64


def check_new_login(username: object, password: object, *, allowed: str, allowed_words: str,
                    min_password: int, max_password: int) -> None:
    """Raise ValueError naming the first rule `username` or `password` breaks.

    `allowed` holds the characters a username may use and `allowed_words` says them in words
    ("letters a-z, digits, '.', '_' and '-'").
    """
    if not isinstance(username, str) or not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise ValueError(f"the username must be {USERNAME_MIN}-{USERNAME_MAX} characters long")
    if not set(username) <= set(allowed):
        raise ValueError(f"the username may contain only {allowed_words}")
    if not isinstance(password, str) or len(password) < min_password:
        raise ValueError(f"the password must be at least {min_password} characters long")
    if len(password) > max_password:
        raise ValueError(f"the password must be at most {max_password} characters long")
    if password.strip() != password or "\n" in password or "\r" in password:
        raise ValueError("the password must not start or end with spaces or contain line breaks")


class PasswordCheck:
    """Verify argon2id password hashes, spending the same effort for an unknown account."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Return True when `password` matches `stored_hash` (None: no such account). Blocking:
        run it in a thread from async code."""
        known = stored_hash is not None
        if not known:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_hex(16))
            stored_hash = self._dummy
        try:
            matches = self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return known and matches
