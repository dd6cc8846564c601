"""Validation, rate limiting and CSRF protection for the activation backend.

Kept apart from the HTTP handlers so each rule can be read (and tested) on its own, and so the
handlers stay a thin translation between requests and these decisions.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64
USERNAME_MIN = 4
USERNAME_MAX = 32
PASSWORD_MIN = 10
PASSWORD_MAX = 256
CODE_MAX_LENGTH = 128

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]+$")

# A small list of passwords that are long enough but guessed first; compared case-insensitively.
COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "12345678910", "123456789a", "1234567890a", "qwertyuiop",
    "qwertyuiopå", "asdfghjkl1", "asdfghjklö", "password12", "password123", "password1234",
    "passw0rd123", "lösenord12", "lösenord123", "losenord123", "losenord1234", "lösenord1234",
    "iloveyou12", "sommar2024", "sommar2025", "sommar2026", "vinter2024", "vinter2025",
    "vinter2026", "halmstad123", "halmstad2024", "halmstad2025", "halmstad2026",
    "skola24skola24", "skola24app", "skola24123", "skola241234", "1q2w3e4r5t",
    "qwerty1234", "qwerty12345", "abcdefghij", "abc1234567", "1111111111", "0000000000",
    "aaaaaaaaaa", "football12", "welcome123", "välkommen123", "valkommen123", "changeme123",
    "letmein123", "dragon1234", "monkey1234", "sunshine12", "princess12", "superman12",
    "zaq12wsxcde", "1qaz2wsx3edc", "987654321a", "9876543210",
})


class EmailError(ValueError):
    """An e-mail address that cannot be used; the message says why, without echoing it."""


def normalise_email(value: object) -> str:
    """Return the address in the one form used to store, compare and rate-limit it.

    The domain is lower-cased (and IDNA-encoded) because it is case-insensitive; the local part is
    kept for delivery but matched case-insensitively through `email_key`. Header-injection
    characters, several addresses and over-long input are refused so nothing odd reaches a mail
    header or the database.
    """
    if not isinstance(value, str):
        raise EmailError("email must be a string")
    if any(ch in value for ch in "\r\n\x00"):
        raise EmailError("email must not contain line breaks")
    candidate = value.strip()
    if not candidate:
        raise EmailError("email is empty")
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise EmailError(f"email is longer than {MAX_EMAIL_LENGTH} characters")
    if any(ch in candidate for ch in ",;") or any(ch.isspace() for ch in candidate):
        raise EmailError("email must be exactly one address")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in candidate):
        raise EmailError("email contains control characters")
    if candidate.count("@") != 1:
        raise EmailError("email must be exactly one address of the form name@example.com")
    local, domain = candidate.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL_RE.match(local):
        raise EmailError("the part before @ is not a valid e-mail name")
    domain = domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise EmailError("the part after @ is not a valid domain") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        raise EmailError("the part after @ is not a valid domain")
    if labels[-1].isdigit():
        raise EmailError("the part after @ is not a valid domain")
    result = f"{local}@{ascii_domain}"
    if len(result) > MAX_EMAIL_LENGTH:
        raise EmailError(f"email is longer than {MAX_EMAIL_LENGTH} characters")
    return result


def email_key(normalised: str) -> str:
    """Return the case-insensitive key an address is looked up and rate-limited by."""
    return normalised.lower()


def hash_code(code: str) -> str:
    """Return the SHA-256 hex digest under which an activation code is stored (never the code)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def plausible_code(code: object) -> bool:
    """Tell whether `code` could be a code we issued, so junk never reaches the database."""
    return isinstance(code, str) and 0 < len(code) <= CODE_MAX_LENGTH and bool(_CODE_RE.match(code))


def username_errors(username: str) -> list[str]:
    """Return the text keys of every rule the username breaks (empty when it is fine)."""
    errors = []
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        errors.append("activation_page.error_username_length")
    if username and not _USERNAME_RE.match(username):
        errors.append("activation_page.error_username_chars")
    return errors


def password_errors(password: str, confirmation: str, username: str) -> list[str]:
    """Return the text keys of every rule the new password breaks (empty when it is fine)."""
    errors = []
    if len(password) < PASSWORD_MIN:
        errors.append("activation_page.error_password_short")
    elif len(password) > PASSWORD_MAX:
        errors.append("activation_page.error_password_long")
    if username and len(username) >= 1 and username.casefold() in password.casefold():
        errors.append("activation_page.error_password_contains_username")
    if password.casefold() in COMMON_PASSWORDS:
        errors.append("activation_page.error_password_common")
    if password != confirmation:
        errors.append("activation_page.error_password_mismatch")
    return errors


@dataclass
class Limit:
    """A budget of `count` events per `window`."""

    count: int
    window: timedelta


class RateLimiter:
    """Count events per key in a sliding window, in memory (activation requests; logins use
    common/loginguard.py, which counts an attempt before its password is checked).

    The clock is injected so tests can move time; keys with no recent events are pruned once the
    table grows, so a flood of distinct keys cannot grow memory without bound.
    """

    def __init__(self, limit: Limit, clock: Callable[[], datetime], *, prune_at: int = 10_000) -> None:
        self.limit = limit
        self._clock = clock
        self._events: dict[str, deque[datetime]] = {}
        self._prune_at = prune_at
        self._next_prune = prune_at

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        events = self._events.get(key)
        if events is None:
            return deque()
        cutoff = now - self.limit.window
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def retry_after(self, key: str) -> int | None:
        """Return whole seconds until `key` may act again, or None when it may act now."""
        if self.limit.count <= 0:
            return None
        now = self._clock()
        events = self._recent(key, now)
        if len(events) < self.limit.count:
            return None
        wait = (events[0] + self.limit.window - now).total_seconds()
        return max(1, math.ceil(wait))

    def hit(self, key: str) -> None:
        """Record one event for `key`."""
        if self.limit.count <= 0:
            return
        now = self._clock()
        if len(self._events) >= self._next_prune:
            for stale in list(self._events):
                self._recent(stale, now)
            # Prune again only after the table has grown as much again, so a table full of
            # active keys does not cost a full sweep on every hit.
            self._next_prune = max(self._prune_at, 2 * len(self._events))
        self._events.setdefault(key, deque()).append(now)


CSRF_COOKIE = "activation_csrf"
_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class CsrfGuard:
    """Signed double-submit CSRF tokens.

    The browser holds a random cookie (HttpOnly, SameSite=Strict); each form carries an HMAC of
    that cookie, the form's purpose and the time it was made. Another site can neither read the
    cookie nor make the browser send it along, so it cannot produce a matching pair.
    """

    def __init__(self, secret: bytes, clock: Callable[[], datetime], max_age: timedelta) -> None:
        self._secret = secret
        self._clock = clock
        self._max_age = max_age

    @staticmethod
    def new_cookie() -> str:
        """Return a fresh random cookie value."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def valid_cookie(value: str | None) -> bool:
        """Tell whether a cookie value has the shape of one we issued."""
        return bool(value) and bool(_COOKIE_RE.match(value))

    def _mac(self, cookie: str, purpose: str, stamp: int) -> str:
        digest = hmac.new(self._secret, f"{purpose}|{cookie}|{stamp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, cookie: str, purpose: str) -> str:
        """Return the token a form of `purpose` carries for the browser holding `cookie`."""
        stamp = int(self._clock().timestamp())
        return f"{stamp}.{self._mac(cookie, purpose, stamp)}"

    def check(self, cookie: str | None, purpose: str, token: object) -> bool:
        """Tell whether `token` was made by us, for this cookie and purpose, and is not too old."""
        if not self.valid_cookie(cookie) or not isinstance(token, str) or len(token) > 100:
            return False
        stamp_text, _, mac = token.partition(".")
        if not stamp_text.isdigit() or not mac:
            return False
        stamp = int(stamp_text)
        age = self._clock().timestamp() - stamp
        if age < -60 or age > self._max_age.total_seconds():
            return False
        # Bytes, not str: compare_digest raises TypeError on non-ASCII text a client may send.
        return hmac.compare_digest(mac.encode("utf-8", "surrogateescape"),
                                   self._mac(cookie, purpose, stamp).encode("ascii"))
