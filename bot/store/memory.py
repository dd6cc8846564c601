"""An in-memory `SessionStore`: for tests, the console channel and throwaway demos.

Nothing survives a restart. Everything going in and out is deep-copied, so a caller that mutates
a dict it passed in or got back cannot change what the store holds — the same guarantee the
file-backed adapter gives by serialising to JSON.
"""
from __future__ import annotations

import copy
import json

from bot.store.base import Conversation
from bot.store.tinydb_store import validate_session


class MemoryStore:
    """Keeps conversations in a dict; passes the same contract tests as `TinyDBStore`."""

    def __init__(self) -> None:
        self._states: dict[str, dict] = {}
        self._transcripts: dict[str, list[dict]] = {}

    async def load(self, session: str) -> Conversation | None:
        """Return a copy of the stored conversation, so callers can mutate it freely."""
        validate_session(session)
        if session not in self._states:
            return None
        return Conversation(
            session=session,
            state=copy.deepcopy(self._states[session]),
            transcript=copy.deepcopy(self._transcripts[session]),
        )

    async def load_state(self, session: str) -> dict | None:
        """Return a copy of the conversation's state only, or None."""
        validate_session(session)
        state = self._states.get(session)
        return copy.deepcopy(state) if state is not None else None

    async def commit(self, session: str, state: dict, new_entries: list[dict]) -> list[dict]:
        """Store a copy of `state` and append numbered copies of `new_entries` in one step.

        Copies go through JSON so that a value the file store could not keep (a set, a datetime)
        fails here too instead of only in production.
        """
        validate_session(session)
        if not isinstance(state, dict):
            raise TypeError("state must be a dict")
        if not all(isinstance(e, dict) for e in new_entries):
            raise TypeError("every transcript entry must be a dict")
        state_copy = json.loads(json.dumps(state))
        entries_copy = json.loads(json.dumps(list(new_entries)))
        transcript = self._transcripts.get(session, [])
        last = transcript[-1]["seq"] if transcript else 0
        for offset, entry in enumerate(entries_copy, start=1):
            entry["seq"] = last + offset
        # No await between reading `last` and writing: the event loop cannot interleave commits.
        self._states[session] = state_copy
        self._transcripts[session] = transcript + entries_copy
        return copy.deepcopy(entries_copy)

    async def transcript(self, session: str, after: int = 0) -> list[dict]:
        """Return copies of the entries with seq > after, in order."""
        validate_session(session)
        return copy.deepcopy([e for e in self._transcripts.get(session, []) if e["seq"] > after])

    async def delete(self, session: str) -> None:
        """Forget a conversation; forgetting an unknown one is not an error."""
        validate_session(session)
        self._states.pop(session, None)
        self._transcripts.pop(session, None)

    async def sessions(self) -> list[str]:
        """Return every stored session id."""
        return list(self._states)

    async def close(self) -> None:
        """Do nothing: there are no pending writes in memory."""
