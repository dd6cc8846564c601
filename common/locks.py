"""Per-key asyncio locks that disappear when nobody holds or waits for them."""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable


class KeyedLocks:
    """One `asyncio.Lock` per key (a conversation, a chat, a queued request), so two inputs for
    one key never race while different keys run side by side. A lock lives only while someone
    holds a reference to it, so idle keys cost no memory."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, key: Hashable) -> asyncio.Lock:
        found = self._locks.get(key)
        if found is None:
            found = asyncio.Lock()
            self._locks[key] = found
        return found

    def __len__(self) -> int:
        return len(self._locks)
