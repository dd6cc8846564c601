"""What both reference backends do the same way at the HTTP edge.

The clock, the shared bearer token check, reading a body no larger than a cap (whatever the
parent application's limit), JSON that is really text, `{"error": ...}` answers and the choice
between Swedish and English pages. Each helper refuses bad input with a `BadBody` that says what
is wrong and never echoes the input, so a client always gets a 4xx it can act on.
"""
from __future__ import annotations

import hmac
import json
from datetime import datetime, timezone

from aiohttp import web

LANGS = ("sv", "en")


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC (the backends' default clock)."""
    return datetime.now(timezone.utc)


def same_secret(given: str, expected: str) -> bool:
    """Compare secrets in constant time; as bytes, since compare_digest refuses non-ASCII text
    (header and cookie bytes that are not UTF-8 arrive surrogate-escaped: encode them back)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


def bearer_ok(request: web.Request, token: str) -> bool:
    """Tell whether the request carries the shared backend token as `Authorization: Bearer`."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (scheme.lower() == "bearer" and bool(given.strip()) and bool(token)
            and same_secret(given.strip(), token))


def json_error(status: int, message: str, headers: dict | None = None) -> web.Response:
    """Answer a machine client with {"error": message}."""
    return web.json_response({"error": message}, status=status, headers=headers)


class BadBody(Exception):
    """A request body that cannot be used; `message` is safe to show (it never echoes input)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body but stop past `limit` bytes; refuse a body that cannot be read."""
    too_large = BadBody(413, f"the body is too large (at most {limit // 1024} KB)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except (web.RequestPayloadError, ConnectionResetError):  # bad compression, a cut-off body
        raise BadBody(400, "the body could not be read") from None
    return b"".join(chunks)


def _reject_constant(name: str) -> None:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> object:
    """Return the JSON value of a UTF-8 body, refusing what is not JSON or holds no text."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadBody(400, "the body is not valid JSON (UTF-8)") from None
    try:  # a "\\ud800" escape is valid JSON but no text: refuse it before it reaches a file
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        raise BadBody(400, "the body holds a \\u escape that is no character") from None
    return value


def pick_language(request: web.Request, explicit: str | None = None) -> str:
    """Choose sv or en: `explicit` (a form's choice) or the query's `lang`, else the best of
    Accept-Language (q=0 means "not this one"), else Swedish."""
    for candidate in (explicit, request.query.get("lang")):
        if candidate in LANGS:
            return candidate
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if primary in LANGS and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else "sv"
