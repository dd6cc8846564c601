"""A dict every process shares through Redis: a hash holds it, the change stream carries each change.

Reads are local and synchronous (the callers, such as the console's session check, are); a change
is made in the local copy at once and written (hash field and stream entry in one call) by the
bus's ordered write queue, which the `flushed` middleware empties before a response leaves. Every
process applies every change in stream order, its own too, so all copies end with the value last
written. Values are JSON objects.
"""
from __future__ import annotations

import json
from typing import Iterator

from bot.shared_redis.bus import EventBus, read_json_hash


def apply_change(data: dict[str, dict], payload: dict) -> None:
    """Apply one change entry, `{"key": k, "value": v}` (None: deleted), to a process's copy."""
    key = payload.get("key")
    if not isinstance(key, str):
        return
    if payload.get("value") is None:
        data.pop(key, None)
    else:
        data[key] = payload["value"]


class SharedMap:
    """One named map: `get`, `set`, `delete`, iteration over items; `load` at startup."""

    def __init__(self, bus: EventBus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.hash_key = bus.key("map", name)
        self.kind = f"map:{name}"
        self.data: dict[str, dict] = {}
        bus.on(self.kind, self._on_change)

    async def load(self) -> None:
        """Read the whole map (at startup, after the bus has noted where the stream stands)."""
        self.data = await read_json_hash(self.bus.redis, self.hash_key)

    def _on_change(self, payload: dict, _own: bool) -> None:
        apply_change(self.data, payload)

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def items(self) -> Iterator[tuple[str, dict]]:
        return iter(list(self.data.items()))

    def set(self, key: str, value: dict) -> None:
        self.data[key] = value
        self.bus.write_soon(self.kind, {"key": key, "value": value}, op="set", hash_key=self.hash_key,
                            field=key, value=json.dumps(value, ensure_ascii=False))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)
        self.bus.write_soon(self.kind, {"key": key, "value": None}, op="del", hash_key=self.hash_key, field=key)
