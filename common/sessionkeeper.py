"""Where a staff page keeps its login sessions: this process's memory, or Redis shared by every
`serve` process (common/redis_sessions.py, with `--redis-url`). Records are JSON objects under
the SHA-256 of the session's token; the caller checks their idle and absolute ends itself, and
`ttl` (seconds) lets a shared keeper forget a record once it can no longer be valid.
"""
from __future__ import annotations

from typing import Protocol


class SessionKeeper(Protocol):
    async def get(self, digest: str) -> dict | None: ...
    async def put(self, digest: str, record: dict, ttl: float) -> None: ...
    async def drop(self, digest: str) -> None: ...


class MemorySessions:
    """Sessions in this process's memory (the default; a restart ends them)."""

    def __init__(self) -> None:
        self._records: dict[str, dict] = {}

    async def get(self, digest: str) -> dict | None:
        found = self._records.get(digest)
        return dict(found) if found is not None else None

    async def put(self, digest: str, record: dict, ttl: float) -> None:
        self._records[digest] = dict(record)

    async def drop(self, digest: str) -> None:
        self._records.pop(digest, None)
