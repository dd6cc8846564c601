"""Validate a data-subject request sent to `POST api/requests` before anything is stored.

Every problem becomes a `RequestError` with a sentence for the calling developer (the bot or an
integrator), so a client always learns what to fix and the backend never answers 500 for input.
"""
from __future__ import annotations

import re
from typing import Any

from common.privacy import mask

RIGHTS = ("access", "rectification", "erasure", "restriction", "portability", "objection")
ON_BEHALF_OF = ("self", "child")
LANGUAGES = ("sv", "en")

MAX_NAME = 200
MAX_SCHOOL = 200
MAX_DESCRIPTION = 5000
MAX_EMAIL = 254
MAX_CHANNEL = 32

TOP_FIELDS = {"right", "on_behalf_of", "requester", "child", "description", "language", "channel",
              "conversation"}
REQUESTER_FIELDS = {"name", "email", "phone"}
CHILD_FIELDS = {"name", "school"}

EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,22}[0-9]$")
CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
REFERENCE_RE = re.compile(r"^DSR-\d{4}-\d{5,}$")
# The conversation a request came from, as the client names it (the bot: its session id). Kept
# for staff only: never answered back over the API, never put in a letter.
CONVERSATION_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class RequestError(ValueError):
    """Signal a client mistake; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def valid_idempotency_key(value: str | None) -> bool:
    """Tell whether an Idempotency-Key header is 1-128 visible ASCII characters."""
    return value is not None and bool(IDEMPOTENCY_KEY_RE.match(value))


def _text(value: Any, field: str, *, min_len: int, max_len: int) -> str:
    """Return a stripped string field or raise: the types and lengths clients must respect."""
    if not isinstance(value, str):
        raise RequestError(f"'{field}' must be a string")
    if "\x00" in value:
        raise RequestError(f"'{field}' must not contain NUL characters")
    stripped = value.strip()
    if len(stripped) < min_len:
        raise RequestError(f"'{field}' must not be empty")
    if len(stripped) > max_len:
        raise RequestError(f"'{field}' is too long (at most {max_len} characters)")
    return stripped


def _optional_text(value: Any, field: str, *, max_len: int) -> str | None:
    """Return an optional string field, None when it is absent, null or blank."""
    if value is None:
        return None
    text = _text(value, field, min_len=0, max_len=max_len)
    return text or None


def _object(value: Any, field: str, allowed: set[str]) -> dict:
    """Return a JSON object field whose keys are all known."""
    if not isinstance(value, dict):
        raise RequestError(f"'{field}' must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RequestError(f"unknown field(s) in '{field}': {', '.join(unknown)}")
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    """Return a field that must be one of `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise RequestError(f"'{field}' must be one of: {', '.join(choices)}")
    return value


def _conversation(value: Any) -> str:
    """Return the conversation reference a client sent, or raise."""
    if not isinstance(value, str) or not CONVERSATION_RE.match(value):
        raise RequestError("'conversation' must be 1-128 characters of A-Z a-z 0-9 _ -")
    return value


def validate_request(body: Any) -> dict:
    """Return the normalised request, or raise RequestError naming the first problem found."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object", status=400)
    unknown = sorted(set(body) - TOP_FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)}")
    for required in ("right", "on_behalf_of", "requester", "description", "language", "channel"):
        if required not in body:
            raise RequestError(f"'{required}' is required")

    right = _choice(body["right"], "right", RIGHTS)
    on_behalf_of = _choice(body["on_behalf_of"], "on_behalf_of", ON_BEHALF_OF)
    language = _choice(body["language"], "language", LANGUAGES)

    requester_in = _object(body["requester"], "requester", REQUESTER_FIELDS)
    if "name" not in requester_in:
        raise RequestError("'requester.name' is required")
    name = _text(requester_in["name"], "requester.name", min_len=1, max_len=MAX_NAME)
    email = _optional_text(requester_in.get("email"), "requester.email", max_len=MAX_EMAIL)
    phone = _optional_text(requester_in.get("phone"), "requester.phone", max_len=30)
    if email is None and phone is None:
        raise RequestError("'requester' needs an 'email' or a 'phone' (or both)")
    if email is not None and not EMAIL_RE.match(email):
        raise RequestError("'requester.email' is not a valid e-mail address")
    if phone is not None:
        digits = sum(ch.isdigit() for ch in phone)
        if not PHONE_RE.match(phone) or not 6 <= digits <= 15:
            raise RequestError("'requester.phone' is not a valid phone number")

    child = None
    if body.get("child") is not None:
        child_in = _object(body["child"], "child", CHILD_FIELDS)
        if "name" not in child_in:
            raise RequestError("'child.name' is required when 'child' is given")
        child = {
            "name": _text(child_in["name"], "child.name", min_len=1, max_len=MAX_NAME),
            "school": _optional_text(child_in.get("school"), "child.school", max_len=MAX_SCHOOL),
        }

    # Masked like the chat: the backend may be called by other clients than the assistant.
    description = mask(_text(body["description"], "description", min_len=0, max_len=MAX_DESCRIPTION)).text
    channel = _text(body["channel"], "channel", min_len=1, max_len=MAX_CHANNEL)
    if not CHANNEL_RE.match(channel):
        raise RequestError("'channel' must be a short lowercase word such as 'web' or 'telegram'")

    fields = {
        "right": right,
        "on_behalf_of": on_behalf_of,
        "requester": {"name": name, "email": email, "phone": phone},
        "child": child,
        "description": description,
        "language": language,
        "channel": channel,
    }
    if body.get("conversation") is not None:  # only when given: older bodies hash as before
        fields["conversation"] = _conversation(body["conversation"])
    return fields
