"""The `SessionStore` port: how the engine keeps conversations, whatever holds them.

A conversation is its state (a plain JSON object with a schema version, see `bot.engine`) and its
transcript (numbered entries). `commit` writes both in one step, so a crash leaves a conversation
either before or after a turn, never between.

`Locks` is the other half of a turn's safety: the engine holds `locks.lock(session)` around a
turn's load and commit, so two turns of one conversation never interleave. In one process that
is `common.locks.KeyedLocks`; with several processes on one Redis, `bot.store.redis_lock.RedisLocks`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


@dataclass
class Conversation:
    """One stored conversation: its state and its whole transcript."""

    session: str
    state: dict
    transcript: list[dict] = field(default_factory=list)


class SessionStore(Protocol):
    """Keeps conversations by session id; every adapter passes `tests/store/test_contract.py`."""

    async def load(self, session: str) -> Conversation | None:
        """Return the stored conversation, or None when there is none."""

    async def load_state(self, session: str) -> dict | None:
        """Return only the conversation's state (what a turn needs), or None when there is none."""

    async def commit(self, session: str, state: dict, new_entries: list[dict]) -> list[dict]:
        """Store `state` and append `new_entries` to the transcript in one atomic step.

        Each entry is a dict such as {"from": "user"|"bot"|"agent"|"system", "text": str,
        "buttons": [...], "at": iso-time}; the store gives it `seq` (1, 2, 3, ... per
        conversation) and returns the stored entries with their seq.
        """

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        """Return the entries with seq > after, in order (empty when the session is unknown)."""

    async def delete(self, session: str) -> None:
        """Remove a conversation (used only by the retention sweep)."""

    async def sessions(self) -> list[str]:
        """Return every stored session id (for sweeps, the handoff queue and gap reports)."""

    async def close(self) -> None:
        """Release resources; pending writes are finished first."""


class Locks(Protocol):
    """One lock per key (a session id): `async with locks.lock(session): ...`."""

    def lock(self, key: str) -> AbstractAsyncContextManager[Any]:
        """Return the context manager that holds `key` for the body of an `async with`."""
