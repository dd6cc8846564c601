"""The one rule for conversation (session) ids, used by every channel and by the session store.

A session id becomes a file name and is the only secret that protects a transcript, so it is
checked with a full match (`re.fullmatch`, never `match` with `$`, which lets "abc\\n" through):
1-64 characters of A-Z, a-z, 0-9, '_' and '-'.
"""
from __future__ import annotations

import re
from typing import Any

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RULE = "1-64 characters of A-Z, a-z, 0-9, _ and -"


def is_session_id(value: Any) -> bool:
    """Say whether `value` is a well-formed session id."""
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def validate_session(value: Any) -> str:
    """Return `value` if it is a well-formed session id; raise ValueError otherwise."""
    if not is_session_id(value):
        raise ValueError(f"session id must be {RULE}")
    return value
